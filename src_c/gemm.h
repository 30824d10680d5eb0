/* gemm.h -- minigrad's own matrix multiply (the engine under every convolution).
 *
 *     C = alpha * op(A) * op(B) + beta * C
 *
 * All matrices are ROW-MAJOR with explicit leading dimensions (the distance in
 * elements between the starts of two consecutive rows):
 *
 *     op(A) is m x k:  trans_a == 0: A is stored m x k, element (i, p) at A[i * lda + p]
 *                      trans_a != 0: A is stored k x m, element (i, p) at A[p * lda + i]
 *     op(B) is k x n:  trans_b == 0: B is stored k x n, element (p, j) at B[p * ldb + j]
 *                      trans_b != 0: B is stored n x k, element (p, j) at B[j * ldb + p]
 *     C is m x n, element (i, j) at C[i * ldc + j].
 *
 * beta == 0 overwrites C without reading it (NaNs in C do not propagate), as in BLAS.
 * m, n or k == 0 are allowed (k == 0 just scales C by beta).
 *
 * Threads: num_threads <= 1 runs entirely on the calling thread and opens NO OpenMP
 * region, so it is safe (and the intended use) inside an enclosing `omp parallel`.
 * num_threads > 1 splits C into disjoint column (or row) panels, one per thread, so
 * every element of C is computed by one thread in a fixed order: the result does not
 * depend on num_threads and is identical run to run.
 *
 * Errors: every function returns MG_OK, or MG_ENOMEM (mg_common.h) when a packing
 * buffer could not be allocated; C is then unspecified. Nothing aborts.
 *
 * Speed: a cache-blocked (Goto/BLIS-style) algorithm with a register-blocked
 * micro-kernel for the instruction set mg_cpu_isa() names: AVX-512 (16 floats / 8
 * doubles per register), AVX2+FMA, or portable C. Packing buffers are per thread and
 * reused across calls.
 *
 * One definition: gemm_f32.c / gemm_f64.c are compiled into the core extension
 * (minigrad._C.core) only. Another family's extension reaches the same functions
 * through the core's table (mg_runtime.h), so there is one dispatch and one set of
 * buffers per process whatever the number of families.
 */
#ifndef MG_GEMM_H
#define MG_GEMM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

int mg_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
             const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c,
             ptrdiff_t ldc, int num_threads);
int mg_dgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, double alpha,
             const double *a, ptrdiff_t lda, const double *b, ptrdiff_t ldb, double beta,
             double *c, ptrdiff_t ldc, int num_threads);

/* ---- Pre-packed A and caller-packed B (for implicit GEMM) ----------------------------
 * A convolution multiplies one weight matrix by image after image, and its B operand (the
 * unfolded image) never needs to exist in memory: the caller packs it straight from the
 * image. The packed layouts depend on the micro-kernel of mg_cpu_isa(), so the ISA must
 * not change between packing and use (mg_cpu_set_isa is a testing hook).
 *
 * A packer fills dst with op(B)[p0 : p0+kc, j0 : j0+nc] as ceil(nc/nr) slivers stored one
 * after another, sliver s holding kc steps of nr values:
 *     dst[(s*kc + p)*nr + j] = op(B)[p0 + p, j0 + s*nr + j]   (0 where s*nr + j >= nc)
 * It is called from the GEMM's threads concurrently (with different dst), so it must only
 * read shared state.
 *
 * mg_?gemm_pack_a packs alpha * op(A) (m x k) into a buffer of mg_?gemm_packed_a_size(m, k)
 * elements (64-byte alignment not required); mg_?gemm_packed then computes
 *     C = (packed alpha * op(A)) * op(B) + beta * C
 * with the same threading and determinism guarantees as mg_?gemm. */
/* The widest panel (nr) any micro-kernel uses, for packers' scratch arrays. */
#define MG_GEMM_MAX_NR 32

typedef void (*mg_spack_b_fn)(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                              ptrdiff_t nc, int nr, float *dst);
typedef void (*mg_dpack_b_fn)(const void *ctx, ptrdiff_t p0, ptrdiff_t j0, ptrdiff_t kc,
                              ptrdiff_t nc, int nr, double *dst);

size_t mg_sgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k);
size_t mg_dgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k);
void mg_sgemm_pack_a(int trans_a, ptrdiff_t m, ptrdiff_t k, float alpha, const float *a,
                     ptrdiff_t lda, float *a_packed);
void mg_dgemm_pack_a(int trans_a, ptrdiff_t m, ptrdiff_t k, double alpha, const double *a,
                     ptrdiff_t lda, double *a_packed);
int mg_sgemm_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a_packed,
                    mg_spack_b_fn pack_b, const void *b_ctx, float beta, float *c,
                    ptrdiff_t ldc, int num_threads);
int mg_dgemm_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *a_packed,
                    mg_dpack_b_fn pack_b, const void *b_ctx, double beta, double *c,
                    ptrdiff_t ldc, int num_threads);

/* ---- Direct GEMM: A read from an image through tap offsets (no im2col) ---------------
 * For a grid of h x w output positions (y, x) and n output columns (channels) j:
 *     C[j * ldc + y * w + x] = bias[j] + sum_{r < k} a[y * a_row + x * a_col + koff[r]] B[r][j]
 * (bias may be NULL), i.e. a convolution of a padded image a with the weights B, tap r
 * at offset koff[r], positions a_row apart down and a_col (1 or 2) apart across. B is
 * packed once by mg_?gemm_direct_pack_b from
 * B[r][j] = b[r * ldb_r + j * ldb_j] into mg_?gemm_direct_packed_b_size(k, n) elements
 * (64-byte aligned). Positions are computed in tiles along x of up to
 * MG_GEMM_DIRECT_SLACK / 2 positions, so `a` must stay readable MG_GEMM_DIRECT_SLACK
 * elements past the last
 * position's last tap (the values read there are discarded). mg_gemm_direct_tile gives
 * the tile (positions x channels) the active micro-kernel uses for rows of w positions,
 * for deciding whether the rounding wastes too much. Threads split the tiles; each output element is computed
 * by one thread in a fixed order. */
#define MG_GEMM_DIRECT_SLACK 32

void mg_gemm_direct_tile(ptrdiff_t w, int *positions, int *channels_f32,
                         int *channels_f64);
size_t mg_sgemm_direct_packed_b_size(ptrdiff_t k, ptrdiff_t n);
size_t mg_dgemm_direct_packed_b_size(ptrdiff_t k, ptrdiff_t n);
void mg_sgemm_direct_pack_b(ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb_r,
                            ptrdiff_t ldb_j, float *dst);
void mg_dgemm_direct_pack_b(ptrdiff_t k, ptrdiff_t n, const double *b, ptrdiff_t ldb_r,
                            ptrdiff_t ldb_j, double *dst);
int mg_sgemm_direct(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const float *a,
                    ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                    const float *b_packed, const float *bias, float *c, ptrdiff_t ldc, int num_threads);
int mg_dgemm_direct(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const double *a,
                    ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                    const double *b_packed, const double *bias, double *c, ptrdiff_t ldc, int num_threads);

/* The transposed product of the same A, for a weight gradient:
 *     C[j * ldc + r] = (accumulate ? C[j * ldc + r] : 0)
 *                    + sum_{y < h, x < w} a[y * a_row + x * a_col + koff[r]] * B[y * w + x][j]
 * with B (h*w x n) packed by mg_?gemm_direct_pack_b(h * w, n, ...). Reads no slack. */
int mg_sgemm_direct_t(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const float *a,
                      ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                      const float *b_packed, int accumulate, float *c, ptrdiff_t ldc, int num_threads);
int mg_dgemm_direct_t(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const double *a,
                      ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                      const double *b_packed, int accumulate, double *c, ptrdiff_t ldc, int num_threads);

#ifdef __cplusplus
}
#endif

#endif /* MG_GEMM_H */
