/* Row kernels of the pooling family, written once and instantiated for each
 * element type T and each instruction set (ATTR) by pool_kernels.c.  Plain C
 * loops that GCC/Clang auto-vectorize; the `target` attribute on each copy is
 * what lets the same source become AVX-512, AVX2 or baseline SSE2 code.
 *
 * A pooling window is a row window times a column window, so every kernel here
 * works in two passes over one output row:
 *   vertical pass   - combine the valid input rows of the window, column by
 *                     column, into a buffer of W values (contiguous: vectorizes);
 *   horizontal pass - combine, for each output column, the taps of its column
 *                     window in that buffer.
 * Requires: T, SFX (f32/f64), ISA (name suffix), ATTR, POW (pow for T). */

#define FN(name) MG_CAT3(name, SFX, ISA)

/* Max with indices.  `take` decides whether candidate (v, vi) replaces the
 * running (m, mi): larger value; equal value but earlier in row-major order
 * (smaller flat index); or NaN -- the first NaN in row-major order wins over
 * any number and over later NaNs.  The vertical pass visits rows in order, so
 * there it reduces to "strictly larger, or first NaN". */
#define MG_TAKE(v, vi, m, mi)                                                   \
    (((v) > (m)) | (((v) == (m)) & ((vi) < (mi))) |                           \
     (((v) != (v)) & (((m) == (m)) | ((vi) < (mi)))))

ATTR static void FN(max_vpass_idx)(const T *restrict x, int W, int r0, int rn, int rd,
                                   T *restrict bv, int32_t *restrict bi)
{
    const T *row = x + (ptrdiff_t)r0 * W;
    const int32_t base0 = r0 * W;
    for (int w = 0; w < W; w++) {
        bv[w] = row[w];
        bi[w] = base0 + w;
    }
    for (int t = 1; t < rn; t++) {
        const int r = r0 + t * rd;
        const int32_t base = r * W;
        row = x + (ptrdiff_t)r * W;
        for (int w = 0; w < W; w++) {
            const T v = row[w], m = bv[w];
            const int take = (v > m) | ((v != v) & (m == m));
            bv[w] = take ? v : m;
            bi[w] = take ? base + w : bi[w];
        }
    }
}

/* Without indices only the value matters: any NaN propagates. */
ATTR static void FN(max_vpass)(const T *restrict x, int W, int r0, int rn, int rd,
                               T *restrict bv)
{
    const T *row = x + (ptrdiff_t)r0 * W;
    for (int w = 0; w < W; w++) bv[w] = row[w];
    for (int t = 1; t < rn; t++) {
        row = x + (ptrdiff_t)(r0 + t * rd) * W;
        for (int w = 0; w < W; w++) {
            const T v = row[w], m = bv[w];
            bv[w] = ((v > m) | (v != v)) ? v : m;
        }
    }
}

/* Horizontal pass over outputs o0..o1-1 on a regular grid: output o reads
 * buffer columns c0 + (o-o0)*s + t*d, t < k.  Inlined with constant s, k, d
 * at the call sites below so the compiler unrolls the taps and vectorizes
 * across outputs (strided loads become permutes). */
static inline __attribute__((always_inline)) ATTR void
FN(max_hrun_idx)(const T *restrict bv, const int32_t *restrict bi, T *restrict y,
                 int64_t *restrict yi, int o0, int o1, int c0, const int s, const int k,
                 const int d)
{
    for (int o = o0; o < o1; o++) {
        const int c = c0 + (o - o0) * s;
        T m = bv[c];
        int32_t mi = bi[c];
        for (int t = 1; t < k; t++) {
            const T v = bv[c + t * d];
            const int32_t vi = bi[c + t * d];
            const int take = MG_TAKE(v, vi, m, mi);
            m = take ? v : m;
            mi = take ? vi : mi;
        }
        y[o] = m;
        yi[o] = mi;
    }
}

static inline __attribute__((always_inline)) ATTR void
FN(max_hrun)(const T *restrict bv, T *restrict y, int o0, int o1, int c0, const int s,
             const int k, const int d)
{
    for (int o = o0; o < o1; o++) {
        const int c = c0 + (o - o0) * s;
        T m = bv[c];
        for (int t = 1; t < k; t++) {
            const T v = bv[c + t * d];
            m = ((v > m) | (v != v)) ? v : m;
        }
        y[o] = m;
    }
}

static inline __attribute__((always_inline)) ATTR void
FN(sum_hrun)(const T *restrict bs, T *restrict y, const T *restrict cf, T rf, int o0, int o1,
             int c0, const int s, const int k, const int d)
{
    for (int o = o0; o < o1; o++) {
        const int c = c0 + (o - o0) * s;
        T acc = bs[c];
        for (int t = 1; t < k; t++) acc += bs[c + t * d];
        y[o] = acc * rf * cf[o];
    }
}

/* Dispatch a regular run to a specialization with compile-time s, k, d for
 * the common window shapes, else to the generic (runtime) loop.  Each CALL
 * expands the kernel body once more, so the list is kept short. */
#define MG_HRUN_DISPATCH(CALL, s, k, d)                                         \
    do {                                                                        \
        if ((d) == 1 && (s) == 2 && (k) == 2) CALL(2, 2, 1);                    \
        else if ((d) == 1 && (s) == 2 && (k) == 3) CALL(2, 3, 1);               \
        else if ((d) == 1 && (s) == 1 && (k) == 2) CALL(1, 2, 1);               \
        else if ((d) == 1 && (s) == 1 && (k) == 3) CALL(1, 3, 1);               \
        else if ((d) == 1 && (s) == 3 && (k) == 3) CALL(3, 3, 1);               \
        else CALL(s, k, d);                                                     \
    } while (0)

/* Horizontal pass for a whole output row: the irregular edge outputs (windows
 * clipped by padding, adaptive windows) one at a time, the regular middle
 * through the specialized loop. */
ATTR static void FN(max_hpass_idx)(const T *restrict bv, const int32_t *restrict bi,
                                   T *restrict y, int64_t *restrict yi,
                                   const mg_pool_axis *ax)
{
    const int lo = ax->lo < ax->hi ? ax->lo : ax->n_out, hi = ax->lo < ax->hi ? ax->hi : ax->n_out;
    for (int o = 0; o < ax->n_out; o++) {
        if (o == lo) {
            o = hi - 1;
            continue;
        }
        FN(max_hrun_idx)(bv, bi, y, yi, o, o + 1, ax->start[o], 1, ax->count[o], ax->step);
    }
    if (lo < hi) {
        const int c0 = ax->start[lo];
#define CALL(S, K, D) FN(max_hrun_idx)(bv, bi, y, yi, lo, hi, c0, S, K, D)
        MG_HRUN_DISPATCH(CALL, ax->stride, ax->k, ax->step);
#undef CALL
    }
}

ATTR static void FN(max_hpass)(const T *restrict bv, T *restrict y, const mg_pool_axis *ax)
{
    const int lo = ax->lo < ax->hi ? ax->lo : ax->n_out, hi = ax->lo < ax->hi ? ax->hi : ax->n_out;
    for (int o = 0; o < ax->n_out; o++) {
        if (o == lo) {
            o = hi - 1;
            continue;
        }
        FN(max_hrun)(bv, y, o, o + 1, ax->start[o], 1, ax->count[o], ax->step);
    }
    if (lo < hi) {
        const int c0 = ax->start[lo];
#define CALL(S, K, D) FN(max_hrun)(bv, y, lo, hi, c0, S, K, D)
        MG_HRUN_DISPATCH(CALL, ax->stride, ax->k, ax->step);
#undef CALL
    }
}

/* Vertical pass of average / Lp pooling: bs[w] = sum over window rows of
 * f(x[r, w]); mode 0: f(x) = x, 1: x*x, 2: x^p. */
ATTR static void FN(sum_vpass)(const T *restrict x, int W, int r0, int rn, int rd,
                               T *restrict bs, int mode, T p)
{
    for (int t = 0; t < rn; t++) {
        const T *restrict row = x + (ptrdiff_t)(r0 + t * rd) * W;
        if (mode == 0) {
            if (t == 0) for (int w = 0; w < W; w++) bs[w] = row[w];
            else for (int w = 0; w < W; w++) bs[w] += row[w];
        } else if (mode == 1) {
            if (t == 0) for (int w = 0; w < W; w++) bs[w] = row[w] * row[w];
            else for (int w = 0; w < W; w++) bs[w] += row[w] * row[w];
        } else {
            if (t == 0) for (int w = 0; w < W; w++) bs[w] = POW(row[w], p);
            else for (int w = 0; w < W; w++) bs[w] += POW(row[w], p);
        }
    }
}

ATTR static void FN(sum_hpass)(const T *restrict bs, T *restrict y, const T *restrict cf, T rf,
                               const mg_pool_axis *ax)
{
    const int lo = ax->lo < ax->hi ? ax->lo : ax->n_out, hi = ax->lo < ax->hi ? ax->hi : ax->n_out;
    for (int o = 0; o < ax->n_out; o++) {
        if (o == lo) {
            o = hi - 1;
            continue;
        }
        FN(sum_hrun)(bs, y, cf, rf, o, o + 1, ax->start[o], 1, ax->count[o], ax->step);
    }
    if (lo < hi) {
        const int c0 = ax->start[lo];
#define CALL(S, K, D) FN(sum_hrun)(bs, y, cf, rf, lo, hi, c0, S, K, D)
        MG_HRUN_DISPATCH(CALL, ax->stride, ax->k, ax->step);
#undef CALL
    }
}

/* dst[w] += src[w] -- the vertical half of the average-pooling backward. */
ATTR static void FN(add_row)(T *restrict dst, const T *restrict src, int W)
{
    for (int w = 0; w < W; w++) dst[w] += src[w];
}

#undef FN
