/* gemm_driver.h -- the cache-blocked GEMM driver, written once for the element type
 * `real` (gemm_template.h has defined it, the micro-kernels and GEMM_KC / GEMM_NC).
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
static void pack_a(int trans, const real *a, ptrdiff_t lda, ptrdiff_t i0, ptrdiff_t p0,
                       ptrdiff_t mc, ptrdiff_t kc, real alpha, int mr, real *restrict dst)
{
    for (ptrdiff_t is = 0; is < mc; is += mr, dst += mr * kc) {
        ptrdiff_t rows = mc - is < mr ? mc - is : mr;
        if (!trans) {
            /* element (i, p) at a[i * lda + p]: read each row contiguously */
            for (ptrdiff_t i = 0; i < rows; i++) {
                const real *src = a + (i0 + is + i) * lda + p0;
                for (ptrdiff_t p = 0; p < kc; p++) dst[p * mr + i] = alpha * src[p];
            }
        } else {
            /* element (i, p) at a[p * lda + i]: each step p is a contiguous run */
            for (ptrdiff_t p = 0; p < kc; p++) {
                const real *src = a + (p0 + p) * lda + i0 + is;
                for (ptrdiff_t i = 0; i < rows; i++) dst[p * mr + i] = alpha * src[i];
            }
        }
        for (ptrdiff_t i = rows; i < mr; i++)
            for (ptrdiff_t p = 0; p < kc; p++) dst[p * mr + i] = 0;
    }
}

/* pack op(B)[p0:p0+kc, j0:j0+nc] as ceil(nc/nr) slivers of kc x nr values */
static void pack_b(int trans, const real *b, ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t j0,
                       ptrdiff_t kc, ptrdiff_t nc, int nr, real *restrict dst)
{
    for (ptrdiff_t js = 0; js < nc; js += nr, dst += nr * kc) {
        ptrdiff_t cols = nc - js < nr ? nc - js : nr;
        if (!trans) {
            /* element (p, j) at b[p * ldb + j]: rows are contiguous runs */
            for (ptrdiff_t p = 0; p < kc; p++) {
                const real *src = b + (p0 + p) * ldb + j0 + js;
                real *d = dst + p * nr;
                for (ptrdiff_t j = 0; j < cols; j++) d[j] = src[j];
                for (ptrdiff_t j = cols; j < nr; j++) d[j] = 0;
            }
        } else {
            /* element (p, j) at b[j * ldb + p]: read each stored row contiguously */
            for (ptrdiff_t j = 0; j < cols; j++) {
                const real *src = b + (j0 + js + j) * ldb + p0;
                for (ptrdiff_t p = 0; p < kc; p++) dst[p * nr + j] = src[p];
            }
            for (ptrdiff_t p = 0; p < kc; p++)
                for (ptrdiff_t j = cols; j < nr; j++) dst[p * nr + j] = 0;
        }
    }
}

static void scale_c(ptrdiff_t m, ptrdiff_t n, real beta, real *c, ptrdiff_t ldc)
{
    for (ptrdiff_t i = 0; i < m; i++) {
        real *row = c + i * ldc;
        if (beta == 0)
            for (ptrdiff_t j = 0; j < n; j++) row[j] = 0;
        else
            for (ptrdiff_t j = 0; j < n; j++) row[j] *= beta;
    }
}

/* op(B) as a plain matrix, for the default B packer */
typedef struct {
    int trans;
    const real *b;
    ptrdiff_t ldb;
} bmatrix;

static void pack_b_matrix(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                              ptrdiff_t nc, int nr, real *dst)
{
    const bmatrix *bm = (const bmatrix *)ctx;
    pack_b(bm->trans, bm->b, bm->ldb, p0, j0, kc, nc, nr, dst);
}

typedef void (*pack_b_fn)(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                               ptrdiff_t nc, int nr, real *dst);

/* One thread's GEMM on its own block of C, with A already packed whole (pack_a over all
 * m x k: sliver s, depth p at apk[s*mr*k + p*mr]) and B packed panel by panel by `pack`.
 * alpha is folded into the packed A; this block's column 0 is column j0 of op(B).
 * Returns MG_ENOMEM (C untouched) when the thread's B panel cannot be allocated. */
static int gemm_core(const ukernel *kr, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                     const real *apk, pack_b_fn pack, const void *bctx, ptrdiff_t j0,
                     real beta, real *c, ptrdiff_t ldc)
{
    if (m <= 0 || n <= 0) return MG_OK;
    if (k <= 0) {
        if (beta != 1) scale_c(m, n, beta, c, ldc);
        return MG_OK;
    }
    const int mr = kr->mr, nr = kr->nr, half = nr / 2;
    const ptrdiff_t KC = GEMM_KC, NC = GEMM_NC / nr * nr;

    const ptrdiff_t kc_max = k < KC ? k : KC;
    const ptrdiff_t nc_max = ((n < NC ? n : NC) + nr - 1) / nr * nr;
    real *bbuf = (real *)gemm_thread_buffer(1, (size_t)nc_max * kc_max * sizeof(real));
    if (!bbuf) return MG_ENOMEM;
    real edge[GEMM_MAX_TILE] __attribute__((aligned(64)));

    /* beta other than 0 or 1: scale once, then every depth slice accumulates */
    if (beta != 0 && beta != 1) scale_c(m, n, beta, c, ldc);
    const int first_overwrites = (beta == 0);

    for (ptrdiff_t jc = 0; jc < n; jc += NC) {
        const ptrdiff_t nc = n - jc < NC ? n - jc : NC;
        for (ptrdiff_t pc = 0; pc < k; pc += KC) {
            const ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            const int accumulate = !(first_overwrites && pc == 0);
            pack(bctx, pc, j0 + jc, kc, nc, nr, bbuf);
            for (ptrdiff_t ir = 0; ir < m; ir += mr) {
                /* this A sliver's depth slice stays in L1 across the whole row of tiles */
                const real *ap = apk + ir * k + pc * mr;
                const ptrdiff_t rows = m - ir < mr ? m - ir : mr;
                for (ptrdiff_t jr = 0; jr < nc; jr += nr) {
                    const real *bp = bbuf + jr * kc;
                    const ptrdiff_t cols = nc - jr < nr ? nc - jr : nr;
                    real *ct = c + ir * ldc + jc + jr;
                    /* a narrow last panel runs the half-width kernel */
                    const int width = cols <= half ? half : nr;
                    const ukernel_fn run = cols <= half ? kr->half : kr->run;
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
    return MG_OK;
}

static size_t packed_a_size(const ukernel *kr, ptrdiff_t m, ptrdiff_t k)
{
    return (size_t)((m + kr->mr - 1) / kr->mr * kr->mr) * (size_t)(k > 0 ? k : 0);
}

/* C = op(A) . op(B) with A packed and B packed by `pack`, split over threads: C is cut
 * into disjoint tile-aligned panels (columns when wide, rows otherwise), so each element
 * is computed by exactly one thread in the serial order. */
static int gemm_packed(const ukernel *kr, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                       const real *apk, pack_b_fn pack, const void *bctx, real beta, real *c,
                       ptrdiff_t ldc, int num_threads)
{
    int nt = num_threads < 1 ? 1 : num_threads;
    if ((double)m * n * k < 64.0 * 64 * 64) nt = 1; /* not worth waking threads */
    const int by_cols = n >= m;
    const ptrdiff_t len = by_cols ? n : m, unit = by_cols ? kr->nr : kr->mr;
    const ptrdiff_t units = (len + unit - 1) / unit;
    if (units < nt) nt = (int)units;
    if (nt <= 1) return gemm_core(kr, m, n, k, apk, pack, bctx, 0, beta, c, ldc);
    int err = MG_OK;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) reduction(| : err)
#endif
    for (int t = 0; t < nt; t++) {
        const ptrdiff_t u0 = units * t / nt, u1 = units * (t + 1) / nt;
        const ptrdiff_t s0 = u0 * unit, s1 = u1 * unit < len ? u1 * unit : len;
        if (s1 <= s0) continue;
        if (by_cols)
            err |= gemm_core(kr, m, s1 - s0, k, apk, pack, bctx, s0, beta, c + s0, ldc);
        else
            err |= gemm_core(kr, s1 - s0, n, k, apk + s0 * k, pack, bctx, 0, beta,
                             c + s0 * ldc, ldc);
    }
    return err;
}

static int gemm(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, real alpha,
                const real *a, ptrdiff_t lda, const real *b, ptrdiff_t ldb, real beta, real *c,
                ptrdiff_t ldc, int num_threads)
{
    if (m <= 0 || n <= 0) return MG_OK;
    if (k <= 0 || alpha == 0) {
        if (beta != 1) scale_c(m, n, beta, c, ldc);
        return MG_OK;
    }
    const ukernel *kr = active_kernel();
    /* A is packed once by the calling thread and shared read-only */
    real *apk = (real *)gemm_thread_buffer(0, packed_a_size(kr, m, k) * sizeof(real));
    if (!apk) return MG_ENOMEM;
    pack_a(ta, a, lda, 0, 0, m, k, alpha, kr->mr, apk);
    const bmatrix bm = {tb, b, ldb};
    return gemm_packed(kr, m, n, k, apk, pack_b_matrix, &bm, beta, c, ldc, num_threads);
}
