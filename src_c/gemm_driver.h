/* gemm_driver.h -- the cache-blocked GEMM driver, written once as a template.
 *
 * gemm.c includes this file once per element type after defining
 *   GD_T       element type              GD(name)  name mangling (name ## _s / _d)
 *   GD_KERNEL  the micro-kernel descriptor type for GD_T (fields mr, nr, run, half)
 *
 * Algorithm (Goto & van de Geijn, "Anatomy of high-performance matrix multiplication"):
 *   pack alpha * op(A) whole into mr-tall slivers (once per call; callers may pre-pack)
 *   for each column panel jc of width NC:
 *     for each depth slice pc of KC:
 *       pack op(B)[pc:pc+KC, jc:jc+NC] into nr-wide slivers     (lives in L2)
 *       for each A sliver (its KC slice stays in L1), for each B sliver: micro-kernel
 * Packing makes the micro-kernel's reads contiguous whatever the transposes and leading
 * dimensions are, and zero-pads the ragged edges so the kernel always runs full tiles;
 * edge tiles are computed into a small buffer and only their valid part is written.
 */

/* pack alpha * op(A)[i0:i0+mc, p0:p0+kc] as ceil(mc/mr) slivers of kc x mr values */
static void GD(pack_a)(int trans, const GD_T *a, ptrdiff_t lda, ptrdiff_t i0, ptrdiff_t p0,
                       ptrdiff_t mc, ptrdiff_t kc, GD_T alpha, int mr, GD_T *restrict dst)
{
    for (ptrdiff_t is = 0; is < mc; is += mr, dst += mr * kc) {
        ptrdiff_t rows = mc - is < mr ? mc - is : mr;
        if (!trans) {
            /* element (i, p) at a[i * lda + p]: read each row contiguously */
            for (ptrdiff_t i = 0; i < rows; i++) {
                const GD_T *src = a + (i0 + is + i) * lda + p0;
                for (ptrdiff_t p = 0; p < kc; p++) dst[p * mr + i] = alpha * src[p];
            }
        } else {
            /* element (i, p) at a[p * lda + i]: each step p is a contiguous run */
            for (ptrdiff_t p = 0; p < kc; p++) {
                const GD_T *src = a + (p0 + p) * lda + i0 + is;
                for (ptrdiff_t i = 0; i < rows; i++) dst[p * mr + i] = alpha * src[i];
            }
        }
        for (ptrdiff_t i = rows; i < mr; i++)
            for (ptrdiff_t p = 0; p < kc; p++) dst[p * mr + i] = 0;
    }
}

/* pack op(B)[p0:p0+kc, j0:j0+nc] as ceil(nc/nr) slivers of kc x nr values */
static void GD(pack_b)(int trans, const GD_T *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t j0,
                       ptrdiff_t kc, ptrdiff_t nc, int nr, GD_T *restrict dst)
{
    for (ptrdiff_t js = 0; js < nc; js += nr, dst += nr * kc) {
        ptrdiff_t cols = nc - js < nr ? nc - js : nr;
        if (!trans) {
            /* element (p, j) at b[p * ldb + j]: rows are contiguous runs */
            for (ptrdiff_t p = 0; p < kc; p++) {
                const GD_T *src = b + (p0 + p) * ldb + j0 + js;
                GD_T *d = dst + p * nr;
                for (ptrdiff_t j = 0; j < cols; j++) d[j] = src[j];
                for (ptrdiff_t j = cols; j < nr; j++) d[j] = 0;
            }
        } else {
            /* element (p, j) at b[j * ldb + p]: read each stored row contiguously */
            for (ptrdiff_t j = 0; j < cols; j++) {
                const GD_T *src = b + (j0 + js + j) * ldb + p0;
                for (ptrdiff_t p = 0; p < kc; p++) dst[p * nr + j] = src[p];
            }
            for (ptrdiff_t p = 0; p < kc; p++)
                for (ptrdiff_t j = cols; j < nr; j++) dst[p * nr + j] = 0;
        }
    }
}

static void GD(scale_c)(ptrdiff_t m, ptrdiff_t n, GD_T beta, GD_T *c, ptrdiff_t ldc)
{
    for (ptrdiff_t i = 0; i < m; i++) {
        GD_T *row = c + i * ldc;
        if (beta == 0)
            for (ptrdiff_t j = 0; j < n; j++) row[j] = 0;
        else
            for (ptrdiff_t j = 0; j < n; j++) row[j] *= beta;
    }
}

/* op(B) as a plain matrix, for the default B packer */
typedef struct {
    int trans;
    const GD_T *b;
    ptrdiff_t ldb;
} GD(bmatrix);

static void GD(pack_b_matrix)(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                              ptrdiff_t nc, int nr, GD_T *dst)
{
    const GD(bmatrix) *bm = (const GD(bmatrix) *)ctx;
    GD(pack_b)(bm->trans, bm->b, bm->ldb, p0, j0, kc, nc, nr, dst);
}

typedef void (*GD(pack_b_fn))(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                               ptrdiff_t nc, int nr, GD_T *dst);

/* One thread's GEMM on its own block of C, with A already packed whole (pack_a over all
 * m x k: sliver s, depth p at apk[s*mr*k + p*mr]) and B packed panel by panel by `pack`.
 * alpha is folded into the packed A; this block's column 0 is column j0 of op(B). */
static void GD(gemm_core)(const GD_KERNEL *kr, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                          const GD_T *apk, GD(pack_b_fn) pack, const void *bctx,
                          ptrdiff_t j0, GD_T beta, GD_T *c, ptrdiff_t ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (beta != 1) GD(scale_c)(m, n, beta, c, ldc);
        return;
    }
    const int mr = kr->mr, nr = kr->nr, half = nr / 2;
    const ptrdiff_t KC = GD(KC), NC = GD(NC) / nr * nr;

    /* beta other than 0 or 1: scale once, then every depth slice accumulates */
    if (beta != 0 && beta != 1) GD(scale_c)(m, n, beta, c, ldc);
    const int first_overwrites = (beta == 0);

    ptrdiff_t kc_max = k < KC ? k : KC;
    ptrdiff_t nc_max = ((n < NC ? n : NC) + nr - 1) / nr * nr;
    GD_T *bbuf = (GD_T *)gemm_thread_buffer(1, (size_t)nc_max * kc_max * sizeof(GD_T));
    GD_T edge[GEMM_MAX_TILE] __attribute__((aligned(64)));

    for (ptrdiff_t jc = 0; jc < n; jc += NC) {
        ptrdiff_t nc = n - jc < NC ? n - jc : NC;
        for (ptrdiff_t pc = 0; pc < k; pc += KC) {
            ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            int accumulate = !(first_overwrites && pc == 0);
            pack(bctx, pc, j0 + jc, kc, nc, nr, bbuf);
            for (ptrdiff_t ir = 0; ir < m; ir += mr) {
                /* this A sliver's depth slice stays in L1 across the whole row of tiles */
                const GD_T *ap = apk + ir * k + pc * mr;
                ptrdiff_t rows = m - ir < mr ? m - ir : mr;
                for (ptrdiff_t jr = 0; jr < nc; jr += nr) {
                    const GD_T *bp = bbuf + jr * kc;
                    ptrdiff_t cols = nc - jr < nr ? nc - jr : nr;
                    GD_T *ct = c + ir * ldc + jc + jr;
                    /* a narrow last panel runs the half-width kernel */
                    int width = cols <= half ? half : nr;
                    void (*run)(ptrdiff_t, const GD_T *, const GD_T *, GD_T *, ptrdiff_t, int) =
                        cols <= half ? kr->half : kr->run;
                    if (rows == mr && cols == width) {
                        run(kc, ap, bp, ct, ldc, accumulate);
                        continue;
                    }
                    run(kc, ap, bp, edge, width, 0);
                    for (ptrdiff_t i = 0; i < rows; i++)
                        for (ptrdiff_t j = 0; j < cols; j++)
                            ct[i * ldc + j] = accumulate ? ct[i * ldc + j] + edge[i * width + j]
                                                         : edge[i * width + j];
                }
            }
        }
    }
}

static size_t GD(packed_a_size)(const GD_KERNEL *kr, ptrdiff_t m, ptrdiff_t k)
{
    return (size_t)((m + kr->mr - 1) / kr->mr * kr->mr) * (size_t)(k > 0 ? k : 0);
}

/* C = op(A) . op(B) with A packed and B packed by `pack`, split over threads: C is cut
 * into disjoint tile-aligned panels (columns when wide, rows otherwise), so each element
 * is computed by exactly one thread in the serial order. */
static void GD(gemm_packed)(const GD_KERNEL *kr, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                            const GD_T *apk, GD(pack_b_fn) pack, const void *bctx, GD_T beta,
                            GD_T *c, ptrdiff_t ldc, int num_threads)
{
    int nt = num_threads < 1 ? 1 : num_threads;
    if ((double)m * n * k < 64.0 * 64 * 64) nt = 1; /* not worth waking threads */
    int by_cols = n >= m;
    ptrdiff_t len = by_cols ? n : m, unit = by_cols ? kr->nr : kr->mr;
    ptrdiff_t units = (len + unit - 1) / unit;
    if (units < nt) nt = (int)units;
    if (nt <= 1) {
        GD(gemm_core)(kr, m, n, k, apk, pack, bctx, 0, beta, c, ldc);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt)
#endif
    for (int t = 0; t < nt; t++) {
        ptrdiff_t u0 = units * t / nt, u1 = units * (t + 1) / nt;
        ptrdiff_t s0 = u0 * unit, s1 = u1 * unit < len ? u1 * unit : len;
        if (s1 <= s0) continue;
        if (by_cols) {
            GD(gemm_core)(kr, m, s1 - s0, k, apk, pack, bctx, s0, beta, c + s0, ldc);
        } else {
            GD(gemm_core)(kr, s1 - s0, n, k, apk + s0 * k, pack, bctx, 0, beta, c + s0 * ldc,
                          ldc);
        }
    }
}

static void GD(gemm)(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, GD_T alpha,
                     const GD_T *a, ptrdiff_t lda, const GD_T *b, ptrdiff_t ldb, GD_T beta,
                     GD_T *c, ptrdiff_t ldc, int num_threads)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        if (beta != 1) GD(scale_c)(m, n, beta, c, ldc);
        return;
    }
    const GD_KERNEL *kr = GD(active_kernel)();
    /* A is packed once by the calling thread and shared read-only */
    GD_T *apk = (GD_T *)gemm_thread_buffer(0, GD(packed_a_size)(kr, m, k) * sizeof(GD_T));
    GD(pack_a)(ta, a, lda, 0, 0, m, k, alpha, kr->mr, apk);
    GD(bmatrix) bm = {tb, b, ldb};
    GD(gemm_packed)(kr, m, n, k, apk, GD(pack_b_matrix), &bm, beta, c, ldc, num_threads);
}

#undef GD_T
#undef GD
#undef GD_KERNEL
