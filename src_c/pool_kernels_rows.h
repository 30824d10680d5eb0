/* Row kernels of the pooling family, written once for the element type `real` and
 * instantiated for each instruction set (ATTR, names suffixed by ISA) by pool_template.h.  Plain C
 * loops that GCC/Clang auto-vectorize; the `target` attribute on each copy is
 * what lets the same source become AVX-512, AVX2 or baseline SSE2 code.
 *
 * A pooling window is a row window times a column window, so the forward
 * kernels work in two passes over a block of output rows of one plane:
 *   vertical pass   - for each output row, combine the valid input rows of its
 *                     window column by column into one buffer row (contiguous,
 *                     vectorizes), at offset `pad`, with the neutral value
 *                     (-inf or 0) in the padding columns around it;
 *   horizontal pass - combine, for each output, the taps of its column window.
 *                     The buffer rows are Wb = OWp * stride long, so output
 *                     (j, o) of the block reads buffer position
 *                     (j * OWp + o) * stride + t * dilation: the whole block is
 *                     ONE flat, regular loop, long enough to vectorize well
 *                     even when rows are short (28 columns, say).
 * Requires: real, ISA (name suffix), ATTR, POW (pow for real). */

#define FN(name) MG_POOL_ISA_NAME(name, ISA)

/* Max with indices.  `take` decides whether candidate (v, vi) replaces the
 * running (m, mi): larger value; equal value but earlier in row-major order
 * (smaller flat index); or NaN -- the first NaN in row-major order wins over
 * any number and over later NaNs.  The vertical pass visits rows in order, so
 * there it reduces to "strictly larger, or first NaN". */
#define MG_TAKE(v, vi, m, mi)                                                   \
    (((v) > (m)) | (((v) == (m)) & ((vi) < (mi))) |                           \
     (((v) != (v)) & (((m) == (m)) | ((vi) < (mi)))))

/* Row t of a window whose rows are r0, r0 + rd, r0 + 2 rd, ... of a plane x of rows of W. */
static inline __attribute__((always_inline)) ATTR const real *
FN(window_row)(const real *x, int W, int r0, int rd, int t)
{
    return x + (ptrdiff_t)(r0 + t * rd) * W;
}

/* The running value m of a window without indices, after one more tap v: the maximum
 * (is_max; any NaN propagates) or the sum. */
static inline __attribute__((always_inline)) ATTR real FN(fold)(real m, real v, const int is_max)
{
    return is_max ? (((v > m) | (v != v)) ? v : m) : m + v;
}

/* Vertical pass of max pooling for one output row: bv[w] = max over the
 * window's rows of x[r, w] (and bi[w] = flat index of the winner).  Up to three
 * rows are folded per sweep, so the row buffer is stored once for a 2- or
 * 3-row window instead of once per row. */
#define MG_VFOLD_IDX(row, base)                                                 \
    do {                                                                        \
        const real v_ = (row)[w];                                                  \
        const int take_ = (v_ > m) | ((v_ != v_) & (m == m));                   \
        m = take_ ? v_ : m;                                                     \
        mi = take_ ? (base) + w : mi;                                           \
    } while (0)

static inline __attribute__((always_inline)) ATTR void
FN(max_vrow_idx)(const real *restrict x, int W, int Wv, int r0, int rn, int rd, real *restrict bv,
                 int32_t *restrict bi)
{
    const real *restrict a = FN(window_row)(x, W, r0, rd, 0);
    /* rows 2 and 3 of the window (only formed when the window has them) */
    const real *restrict b = rn > 1 ? FN(window_row)(x, W, r0, rd, 1) : a;
    const real *restrict c = rn > 2 ? FN(window_row)(x, W, r0, rd, 2) : a;
    const int32_t ba = r0 * W, bb = (r0 + rd) * W, bc = (r0 + 2 * rd) * W;
    if (rn == 1)
        for (ptrdiff_t w = 0; w < Wv; w++) {
            bv[w] = a[w];
            bi[w] = ba + w;
        }
    else if (rn == 2)
        for (ptrdiff_t w = 0; w < Wv; w++) {
            real m = a[w];
            int32_t mi = ba + w;
            MG_VFOLD_IDX(b, bb);
            bv[w] = m;
            bi[w] = mi;
        }
    else
        /* Three rows in one sweep, remembering which row won (0, 1, 2) and
         * forming the index at the end: in this form GCC if-converts and
         * vectorizes the loop (two index folds in a row it does not). */
        for (ptrdiff_t w = 0; w < Wv; w++) {
            real m = a[w];
            int r = 0;
            const real vb = b[w], vc = c[w];
            const int tb = (vb > m) | ((vb != vb) & (m == m));
            m = tb ? vb : m;
            r = tb ? 1 : r;
            const int tc = (vc > m) | ((vc != vc) & (m == m));
            m = tc ? vc : m;
            r = tc ? 2 : r;
            bv[w] = m;
            bi[w] = (r == 0 ? ba : r == 1 ? bb : bc) + w;
        }
    for (int t = 3; t < rn; t++) {
        const int32_t base = (r0 + t * rd) * W;
        const real *restrict row = FN(window_row)(x, W, r0, rd, t);
        for (ptrdiff_t w = 0; w < Wv; w++) {
            real m = bv[w];
            int32_t mi = bi[w];
            MG_VFOLD_IDX(row, base);
            bv[w] = m;
            bi[w] = mi;
        }
    }
}

/* Without indices only the value matters: any NaN propagates.  One statement per
 * row: written as nested calls, fold(fold(a, b), c), GCC 12 emits different scalar
 * control code around the vector loop and the 3x3 stride-2 forward ran ~15% slower. */
static inline __attribute__((always_inline)) ATTR void
FN(max_vrow)(const real *restrict x, int W, int Wv, int r0, int rn, int rd, real *restrict bv)
{
    const real *restrict a = FN(window_row)(x, W, r0, rd, 0);
    /* rows 2 and 3 of the window (only formed when the window has them) */
    const real *restrict b = rn > 1 ? FN(window_row)(x, W, r0, rd, 1) : a;
    const real *restrict c = rn > 2 ? FN(window_row)(x, W, r0, rd, 2) : a;
    if (rn == 1)
        for (ptrdiff_t w = 0; w < Wv; w++) bv[w] = a[w];
    else if (rn == 2)
        for (ptrdiff_t w = 0; w < Wv; w++) {
            real m = a[w];
            m = FN(fold)(m, b[w], 1);
            bv[w] = m;
        }
    else
        for (ptrdiff_t w = 0; w < Wv; w++) {
            real m = a[w];
            m = FN(fold)(m, b[w], 1);
            m = FN(fold)(m, c[w], 1);
            bv[w] = m;
        }
    for (int t = 3; t < rn; t++) {
        const real *restrict row = FN(window_row)(x, W, r0, rd, t);
        for (ptrdiff_t w = 0; w < Wv; w++) {
            real m = bv[w];
            m = FN(fold)(m, row[w], 1);
            bv[w] = m;
        }
    }
}

/* Horizontal pass of a sliding window of stride 1 or 2, one tap at a time: for tap t,
 * output o reads src_t[o], where src_t is the buffer itself for stride 1, or one of the
 * two deinterleaved halves (even / odd columns) for stride 2 -- so every inner loop
 * is a flat, branch-free sweep over contiguous memory that vectorizes across
 * outputs, with ym itself as the running maximum.  The running index is kept
 * in int32 so its compare lanes match the float lanes. */
#define MG_TAP_SRC(base, t)                                                     \
    (s == 1 ? (base) + (t) * d                                                  \
            : ((t) * d & 1 ? (base) + half : (base)) + ((t) * d >> 1))

/* Split buf[0 .. 2*cnt) into even columns at out[0 .. cnt) and odd columns at
 * out[half .. half+cnt): the strided loads become a permute, once per block. */
static inline __attribute__((always_inline)) ATTR void
FN(deinterleave)(const real *restrict buf, real *restrict out, ptrdiff_t half, ptrdiff_t cnt)
{
    real *restrict odd = out + half;
    for (ptrdiff_t i = 0; i < cnt; i++) {
        out[i] = buf[2 * i];
        odd[i] = buf[2 * i + 1];
    }
}

static inline __attribute__((always_inline)) ATTR void
FN(deinterleave_i)(const int32_t *restrict buf, int32_t *restrict out, ptrdiff_t half,
                    ptrdiff_t cnt)
{
    int32_t *restrict odd = out + half;
    for (ptrdiff_t i = 0; i < cnt; i++) {
        out[i] = buf[2 * i];
        odd[i] = buf[2 * i + 1];
    }
}

/* ym[o], im[o] = max over taps t < k of the window of output o (o < n). */
static inline __attribute__((always_inline)) ATTR void
FN(max_hrun_idx)(const real *restrict bv, const int32_t *restrict bi, real *restrict ph,
                 int32_t *restrict phi, ptrdiff_t nb, real *restrict ym,
                 int32_t *restrict im, ptrdiff_t n, const int s, const int k, const int d)
{
    const ptrdiff_t half = nb / 2, cnt = MG_POOL_ROUND(n + (ptrdiff_t)(k - 1) * d / 2 + 1);
    if (s == 2) {
        FN(deinterleave)(bv, ph, half, cnt);
        FN(deinterleave_i)(bi, phi, half, cnt);
        bv = ph;
        bi = phi;
    }
    /* taps 0 and 1 in one sweep (tap 0 is the start value), then one per sweep */
    const real *restrict b0 = MG_TAP_SRC(bv, 0);
    const int32_t *restrict i0 = MG_TAP_SRC(bi, 0);
    for (int t = 1; t < k; t++) {
        const real *restrict bt = MG_TAP_SRC(bv, t);
        const int32_t *restrict it = MG_TAP_SRC(bi, t);
        const real *ma = t == 1 ? b0 : ym; /* ym itself after tap 1 (same index only) */
        const int32_t *mia = t == 1 ? i0 : im;
        for (ptrdiff_t o = 0; o < n; o++) {
            const real v = bt[o], m = ma[o];
            const int32_t vi = it[o], mx = mia[o];
            const int take = MG_TAKE(v, vi, m, mx);
            ym[o] = take ? v : m;
            im[o] = take ? vi : mx;
        }
    }
    if (k == 1)
        for (ptrdiff_t o = 0; o < n; o++) {
            ym[o] = b0[o];
            im[o] = i0[o];
        }
}

/* ym[o] = max (is_max) or sum over taps t < k of the window of output o (o < n). */
static inline __attribute__((always_inline)) ATTR void
FN(fold_hrun)(const real *restrict bv, real *restrict ph, ptrdiff_t nb, real *restrict ym,
              ptrdiff_t n, const int s, const int k, const int d, const int is_max)
{
    const ptrdiff_t half = nb / 2, cnt = MG_POOL_ROUND(n + (ptrdiff_t)(k - 1) * d / 2 + 1);
    if (s == 2) {
        FN(deinterleave)(bv, ph, half, cnt);
        bv = ph;
    }
    const real *restrict b0 = MG_TAP_SRC(bv, 0);
    for (int t = 1; t < k; t++) {
        const real *restrict bt = MG_TAP_SRC(bv, t);
        const real *ma = t == 1 ? b0 : ym; /* ym itself after tap 1 (same index only) */
        for (ptrdiff_t o = 0; o < n; o++) ym[o] = FN(fold)(ma[o], bt[o], is_max);
    }
    if (k == 1)
        for (ptrdiff_t o = 0; o < n; o++) ym[o] = b0[o];
}

/* Vertical pass of average / Lp pooling: bs[w] = sum over window rows of
 * f(x[r, w]); mode 0: f(x) = x, 1: x*x, 2: x^p. */
static inline __attribute__((always_inline)) ATTR void
FN(sum_vrow)(const real *restrict x, int W, int Wv, int r0, int rn, int rd, real *restrict bs, int mode,
             real p)
{
#define MG_F(v) (mode == 0 ? (v) : mode == 1 ? (v) * (v) : POW((v), p))
    const real *restrict a = FN(window_row)(x, W, r0, rd, 0);
    /* rows 2 and 3 of the window (only formed when the window has them) */
    const real *restrict b = rn > 1 ? FN(window_row)(x, W, r0, rd, 1) : a;
    const real *restrict c = rn > 2 ? FN(window_row)(x, W, r0, rd, 2) : a;
    /* mode is hoisted out of the loops by the compiler (unswitching) */
    if (rn == 1)
        for (ptrdiff_t w = 0; w < Wv; w++) bs[w] = MG_F(a[w]);
    else if (rn == 2)
        for (ptrdiff_t w = 0; w < Wv; w++) bs[w] = MG_F(a[w]) + MG_F(b[w]);
    else
        for (ptrdiff_t w = 0; w < Wv; w++) bs[w] = MG_F(a[w]) + MG_F(b[w]) + MG_F(c[w]);
    for (int t = 3; t < rn; t++) {
        const real *restrict row = FN(window_row)(x, W, r0, rd, t);
        for (ptrdiff_t w = 0; w < Wv; w++) bs[w] += MG_F(row[w]);
    }
#undef MG_F
}

/* ---- block passes (called by the drivers) ---------------------------------
 * Vertical: output rows oh0..oh1-1 of plane xp into buffer rows of Wb, data
 * at offset pad.  Each input row is read with the rounded length Wv (no
 * scalar remainder) unless that would run past the input array; the spill
 * beyond column W is then reset to the neutral value, which also restores the
 * right padding of this row and the left padding of the next. */
static inline int FN(read_width)(const real *xp, const real *x_end, int W, int r_last)
{
    const int Wr = MG_POOL_ROUND(W);
    return xp + (int64_t)r_last * W + Wr <= x_end ? Wr : W;
}

ATTR static void FN(max_vblock_idx)(const real *restrict xp, const real *x_end, int W,
                                    const mg_pool_axis *rows, int oh0, int oh1, real *restrict bv,
                                    int32_t *restrict bi, ptrdiff_t Wb, ptrdiff_t pad)
{
    for (int oh = oh0; oh < oh1; oh++) {
        real *restrict b = bv + (ptrdiff_t)(oh - oh0) * Wb + pad;
        int32_t *restrict bx = bi + (ptrdiff_t)(oh - oh0) * Wb + pad;
        const int r0 = rows->start[oh], rn = rows->count[oh];
        const int Wv = FN(read_width)(xp, x_end, W, r0 + (rn - 1) * rows->step);
        FN(max_vrow_idx)(xp, W, Wv, r0, rn, rows->step, b, bx);
        for (ptrdiff_t w = W; w < Wb; w++) {
            b[w] = (real)-INFINITY;
            bx[w] = INT32_MAX; /* loses every tie: padding is never the argmax */
        }
    }
}

/* Without indices: max_vrow (is_max) or sum_vrow, then the neutral value in the
 * columns past the input. */
static inline __attribute__((always_inline)) ATTR void
FN(fold_vblock)(const real *restrict xp, const real *x_end, int W, const mg_pool_axis *rows,
                int oh0, int oh1, real *restrict bv, ptrdiff_t Wb, ptrdiff_t pad,
                const int is_max, int mode, real p)
{
    for (int oh = oh0; oh < oh1; oh++) {
        real *restrict b = bv + (ptrdiff_t)(oh - oh0) * Wb + pad;
        const int r0 = rows->start[oh], rn = rows->count[oh];
        const int Wv = FN(read_width)(xp, x_end, W, r0 + (rn - 1) * rows->step);
        if (is_max)
            FN(max_vrow)(xp, W, Wv, r0, rn, rows->step, b);
        else
            FN(sum_vrow)(xp, W, Wv, r0, rn, rows->step, b, mode, p);
        for (ptrdiff_t w = W; w < Wb; w++) b[w] = is_max ? (real)-INFINITY : (real)0;
    }
}

ATTR static void FN(max_vblock)(const real *restrict xp, const real *x_end, int W,
                                const mg_pool_axis *rows, int oh0, int oh1, real *restrict bv,
                                ptrdiff_t Wb, ptrdiff_t pad)
{
    FN(fold_vblock)(xp, x_end, W, rows, oh0, oh1, bv, Wb, pad, 1, 0, 0);
}

ATTR static void FN(sum_vblock)(const real *restrict xp, const real *x_end, int W,
                                const mg_pool_axis *rows, int oh0, int oh1, real *restrict bv,
                                ptrdiff_t Wb, ptrdiff_t pad, int mode, real p)
{
    FN(fold_vblock)(xp, x_end, W, rows, oh0, oh1, bv, Wb, pad, 0, mode, p);
}

/* Horizontal: ym[j * OWp + o] (and im) for the R rows of the block. In the flat layout
 * (plan() in the drivers: a sliding window of stride 1 or 2 over a row not much wider
 * than the input) it is one run over n (>= R * OWp, rounded up) outputs; otherwise it
 * goes output by output over the taps inside the input, start[o] + t * step for
 * t < count[o], of buffer rows that hold the input columns alone. */

ATTR static void FN(max_hblock_idx)(const real *restrict bv, const int32_t *restrict bi,
                                    real *restrict ph, int32_t *restrict phi, ptrdiff_t nb,
                                    real *restrict ym, int32_t *restrict im,
                                    const mg_pool_axis *ax, int flat, int R, ptrdiff_t Wb,
                                    ptrdiff_t OWp, ptrdiff_t n)
{
    if (flat) {
        FN(max_hrun_idx)(bv, bi, ph, phi, nb, ym, im, n, ax->stride, ax->k, ax->step);
        return;
    }
    const ptrdiff_t d = ax->step;
    for (ptrdiff_t j = 0; j < R; j++)
        for (ptrdiff_t o = 0; o < ax->n_out; o++) {
            const ptrdiff_t c = j * Wb + ax->start[o];
            real m = bv[c];
            int32_t mx = bi[c];
            for (ptrdiff_t t = 1; t < ax->count[o]; t++) {
                const real v = bv[c + t * d];
                const int32_t vi = bi[c + t * d];
                const int take = MG_TAKE(v, vi, m, mx);
                m = take ? v : m;
                mx = take ? vi : mx;
            }
            ym[j * OWp + o] = m;
            im[j * OWp + o] = mx;
        }
}

/* Without indices: the max (is_max) or the sum of each window. */
static inline __attribute__((always_inline)) ATTR void
FN(fold_hblock)(const real *restrict bv, real *restrict ph, ptrdiff_t nb, real *restrict ym,
                const mg_pool_axis *ax, int flat, int R, ptrdiff_t Wb, ptrdiff_t OWp, ptrdiff_t n,
                const int is_max)
{
    if (flat) {
        FN(fold_hrun)(bv, ph, nb, ym, n, ax->stride, ax->k, ax->step, is_max);
        return;
    }
    const ptrdiff_t d = ax->step;
    for (ptrdiff_t j = 0; j < R; j++)
        for (ptrdiff_t o = 0; o < ax->n_out; o++) {
            const ptrdiff_t c = j * Wb + ax->start[o];
            real m = bv[c];
            for (ptrdiff_t t = 1; t < ax->count[o]; t++) m = FN(fold)(m, bv[c + t * d], is_max);
            ym[j * OWp + o] = m;
        }
}

ATTR static void FN(max_hblock)(const real *restrict bv, real *restrict ph, ptrdiff_t nb,
                                real *restrict ym, const mg_pool_axis *ax, int flat, int R, ptrdiff_t Wb,
                                ptrdiff_t OWp, ptrdiff_t n)
{
    FN(fold_hblock)(bv, ph, nb, ym, ax, flat, R, Wb, OWp, n, 1);
}

ATTR static void FN(sum_hblock)(const real *restrict bs, real *restrict ph, ptrdiff_t nb,
                                real *restrict ym, const mg_pool_axis *ax, int flat, int R, ptrdiff_t Wb,
                                ptrdiff_t OWp, ptrdiff_t n)
{
    FN(fold_hblock)(bs, ph, nb, ym, ax, flat, R, Wb, OWp, n, 0);
}

/* Copy the block's outputs to their place: R rows of OW values (stride OWp
 * in the scratch), widening the indices to int64. */
ATTR static void FN(emit_idx)(const real *restrict ym, const int32_t *restrict im, int R,
                              ptrdiff_t OWp, ptrdiff_t OW, real *restrict y, int64_t *restrict yi)
{
    if (OWp == OW) { /* one flat loop: no per-row remainder */
        for (ptrdiff_t i = 0; i < R * OW; i++) {
            y[i] = ym[i];
            yi[i] = im[i];
        }
        return;
    }
    for (ptrdiff_t j = 0; j < R; j++)
        for (ptrdiff_t o = 0; o < OW; o++) {
            y[j * OW + o] = ym[j * OWp + o];
            yi[j * OW + o] = im[j * OWp + o];
        }
}

/* Horizontal half of the backward of a window sum, for a block of R output
 * rows: tw[c] = sum of g[o] over the outputs o whose column window holds
 * column c.  g holds the rows at stride OWp (entries o >= OW are zero), tw
 * the padded buffer rows at stride Wb, the layout of the forward pass -- so
 * for a sliding window, tap t of flat output q lands on tw[q*s + t*d], and the
 * block is one flat loop.  Tap by tap the outputs write distinct positions,
 * so the adds are independent vector adds: contiguous for stride 1, and for
 * stride 2 into the even/odd halves (ph) that are then interleaved back.
 * (Adding output by output instead would chain every add through the one
 * before it wherever windows overlap.) */
ATTR static void FN(hscatter)(const real *restrict g, int R, ptrdiff_t OWp, const mg_pool_axis *ax,
                              int flat, real *restrict tw, real *restrict ph, ptrdiff_t half,
                              ptrdiff_t Wb)
{
    if (!flat) { /* output by output, as the forward */
        const ptrdiff_t d = ax->step;
        memset(tw, 0, sizeof(real) * (size_t)R * (size_t)Wb);
        for (ptrdiff_t j = 0; j < R; j++)
            for (ptrdiff_t o = 0; o < ax->n_out; o++) {
                real *restrict dst = tw + j * Wb + ax->start[o];
                for (ptrdiff_t t = 0; t < ax->count[o]; t++) dst[t * d] += g[j * OWp + o];
            }
        return;
    }
    const int s = ax->stride, k = ax->k, d = ax->step;
    const ptrdiff_t n = R * OWp, Wt = R * Wb;
    if (s == 2) {
        const ptrdiff_t reach = n + (ptrdiff_t)(k - 1) * d / 2 + 1;
        const ptrdiff_t cnt = Wt / 2 > reach ? Wt / 2 : reach;
        real *restrict odd = ph + half;
        memset(ph, 0, sizeof(real) * (size_t)cnt);
        memset(odd, 0, sizeof(real) * (size_t)cnt);
        for (int t = 0; t < k; t++) {
            real *restrict dst = ((t * d) & 1 ? odd : ph) + ((t * d) >> 1);
            for (ptrdiff_t q = 0; q < n; q++) dst[q] += g[q];
        }
        for (ptrdiff_t i = 0; i < Wt / 2; i++) {
            tw[2 * i] = ph[i];
            tw[2 * i + 1] = odd[i];
        }
        return;
    }
    memset(tw, 0, sizeof(real) * (size_t)(Wt + (ptrdiff_t)k * d));
    for (int t = 0; t < k; t++) {
        real *restrict dst = tw + (ptrdiff_t)t * d;
        for (ptrdiff_t q = 0; q < n; q++) dst[q] += g[q];
    }
}

/* The same without indices. */
ATTR static void FN(emit)(const real *restrict ym, int R, ptrdiff_t OWp, ptrdiff_t OW,
                          real *restrict y)
{
    if (OWp == OW) {
        for (ptrdiff_t i = 0; i < R * OW; i++) y[i] = ym[i];
        return;
    }
    for (ptrdiff_t j = 0; j < R; j++)
        for (ptrdiff_t o = 0; o < OW; o++) y[j * OW + o] = ym[j * OWp + o];
}

/* dst[w] += src[w] -- the vertical half of the average-pooling backward. */
ATTR static void FN(add_row)(real *restrict dst, const real *restrict src, ptrdiff_t W)
{
    for (ptrdiff_t w = 0; w < W; w++) dst[w] += src[w];
}

#undef MG_TAP_SRC
#undef MG_VFOLD_IDX
#undef FN
