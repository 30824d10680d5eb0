/* gemm_driver.h -- the cache-blocked GEMM driver, written once as a template.
 *
 * gemm.c includes this file once per element type after defining
 *   GD_T       element type              GD(name)  name mangling (name ## _s / _d)
 *   GD_KERNEL  the micro-kernel descriptor type for GD_T (fields mr, nr, run)
 *
 * Algorithm (Goto & van de Geijn, "Anatomy of high-performance matrix multiplication"):
 *   for each column panel jc of width NC:
 *     for each depth slice pc of KC:
 *       pack op(B)[pc:pc+KC, jc:jc+NC] into nr-wide slivers     (lives in L2)
 *       for each row block ic of MC:
 *         pack alpha * op(A)[ic:ic+MC, pc:pc+KC] into mr-tall slivers
 *         for each A sliver (stays in L1), for each B sliver: micro-kernel on one tile
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

/* One thread's GEMM on its own block of C. */
static void GD(gemm_serial)(const GD_KERNEL *kr, int ta, int tb, ptrdiff_t m, ptrdiff_t n,
                            ptrdiff_t k, GD_T alpha, const GD_T *a, ptrdiff_t lda,
                            const GD_T *b, ptrdiff_t ldb, GD_T beta, GD_T *c, ptrdiff_t ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0) {
        if (beta != 1) GD(scale_c)(m, n, beta, c, ldc);
        return;
    }
    const int mr = kr->mr, nr = kr->nr;
    const ptrdiff_t KC = GD(KC), MC = GD(MC) / mr * mr, NC = GD(NC) / nr * nr;

    /* beta other than 0 or 1: scale once, then every depth slice accumulates */
    if (beta != 0 && beta != 1) GD(scale_c)(m, n, beta, c, ldc);
    const int first_overwrites = (beta == 0);

    ptrdiff_t kc_max = k < KC ? k : KC;
    ptrdiff_t mc_max = ((m < MC ? m : MC) + mr - 1) / mr * mr;
    ptrdiff_t nc_max = ((n < NC ? n : NC) + nr - 1) / nr * nr;
    /* B first: the buffer is 64-byte aligned and the kernel loads B slivers aligned */
    GD_T *bbuf = (GD_T *)gemm_thread_buffer((size_t)(mc_max + nc_max) * kc_max * sizeof(GD_T));
    GD_T *abuf = bbuf + nc_max * kc_max;
    GD_T edge[GEMM_MAX_TILE] __attribute__((aligned(64)));

    for (ptrdiff_t jc = 0; jc < n; jc += NC) {
        ptrdiff_t nc = n - jc < NC ? n - jc : NC;
        for (ptrdiff_t pc = 0; pc < k; pc += KC) {
            ptrdiff_t kc = k - pc < KC ? k - pc : KC;
            int accumulate = !(first_overwrites && pc == 0);
            GD(pack_b)(tb, b, ldb, pc, jc, kc, nc, nr, bbuf);
            for (ptrdiff_t ic = 0; ic < m; ic += MC) {
                ptrdiff_t mc = m - ic < MC ? m - ic : MC;
                GD(pack_a)(ta, a, lda, ic, pc, mc, kc, alpha, mr, abuf);
                for (ptrdiff_t ir = 0; ir < mc; ir += mr) {
                    const GD_T *ap = abuf + ir * kc;
                    ptrdiff_t rows = mc - ir < mr ? mc - ir : mr;
                    for (ptrdiff_t jr = 0; jr < nc; jr += nr) {
                        const GD_T *bp = bbuf + jr * kc;
                        ptrdiff_t cols = nc - jr < nr ? nc - jr : nr;
                        GD_T *ct = c + (ic + ir) * ldc + jc + jr;
                        if (rows == mr && cols == nr) {
                            kr->run(kc, ap, bp, ct, ldc, accumulate);
                            continue;
                        }
                        kr->run(kc, ap, bp, edge, nr, 0);
                        for (ptrdiff_t i = 0; i < rows; i++)
                            for (ptrdiff_t j = 0; j < cols; j++)
                                ct[i * ldc + j] = accumulate ? ct[i * ldc + j] + edge[i * nr + j]
                                                             : edge[i * nr + j];
                    }
                }
            }
        }
    }
}

static void GD(gemm)(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, GD_T alpha,
                     const GD_T *a, ptrdiff_t lda, const GD_T *b, ptrdiff_t ldb, GD_T beta,
                     GD_T *c, ptrdiff_t ldc, int num_threads)
{
    const GD_KERNEL *kr = GD(active_kernel)();
    int nt = num_threads < 1 ? 1 : num_threads;
    /* not worth waking threads for small products */
    if ((double)m * n * k < 64.0 * 64 * 64) nt = 1;
    if (nt == 1) {
        GD(gemm_serial)(kr, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* Split C into nt disjoint panels, tile-aligned: columns when wide, rows otherwise.
     * Each element is then computed by exactly one thread in the serial order. */
    int by_cols = n >= m;
    ptrdiff_t len = by_cols ? n : m, unit = by_cols ? kr->nr : kr->mr;
    ptrdiff_t units = (len + unit - 1) / unit;
    if (units < nt) nt = (int)units;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt)
#endif
    for (int t = 0; t < nt; t++) {
        ptrdiff_t u0 = units * t / nt, u1 = units * (t + 1) / nt;
        ptrdiff_t s0 = u0 * unit, s1 = u1 * unit < len ? u1 * unit : len;
        if (s1 <= s0) continue;
        if (by_cols) {
            const GD_T *bs = tb ? b + s0 * ldb : b + s0;
            GD(gemm_serial)(kr, ta, tb, m, s1 - s0, k, alpha, a, lda, bs, ldb, beta, c + s0,
                            ldc);
        } else {
            const GD_T *as = ta ? a + s0 : a + s0 * lda;
            GD(gemm_serial)(kr, ta, tb, s1 - s0, n, k, alpha, as, lda, b, ldb, beta,
                            c + s0 * ldc, ldc);
        }
    }
}

#undef GD_T
#undef GD
#undef GD_KERNEL
