/* gemm_f64.c -- the double GEMM of gemm.h: gemm_template.h for `real` = double. */
#include "gemm.h"

#include <stdint.h>

typedef double real;
typedef int64_t lane_int; /* the integer of real's width: shuffle masks */
#define GEMM_KC 128 /* half the float depth: the same bytes per panel */
#define GEMM_NC 512
#include "gemm_template.h"

int mg_dgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, double alpha,
             const double *a, ptrdiff_t lda, const double *b, ptrdiff_t ldb, double beta, double *c,
             ptrdiff_t ldc, int num_threads)
{
    return gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, num_threads);
}

size_t mg_dgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k)
{
    return packed_a_size(active_kernel(), m, k);
}

void mg_dgemm_pack_a(int trans_a, ptrdiff_t m, ptrdiff_t k, double alpha, const double *a,
                     ptrdiff_t lda, double *a_packed)
{
    pack_a(trans_a, a, lda, 0, 0, m, k, alpha, active_kernel()->mr, a_packed);
}

int mg_dgemm_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *a_packed,
                    mg_dpack_b_fn pack_b, const void *b_ctx, double beta, double *c,
                    ptrdiff_t ldc, int num_threads)
{
    if (m <= 0 || n <= 0) return MG_OK;
    return gemm_packed(active_kernel(), m, n, k, a_packed, pack_b, b_ctx, beta, c, ldc,
                       num_threads);
}

size_t mg_dgemm_direct_packed_b_size(ptrdiff_t k, ptrdiff_t n)
{
    return direct_packed_b_size(k, n);
}

void mg_dgemm_direct_pack_b(ptrdiff_t k, ptrdiff_t n, const double *b, ptrdiff_t ldb_r,
                            ptrdiff_t ldb_j, double *dst)
{
    direct_pack_b(k, n, b, ldb_r, ldb_j, dst);
}

int mg_dgemm_direct(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const double *a,
                    ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                    const double *b_packed,
                    const double *bias, double *c, ptrdiff_t ldc, int num_threads)
{
    return gemm_direct(h, w, n, k, a, a_row, a_col, koff, b_packed, bias, c, ldc, num_threads);
}


int mg_dgemm_direct_t(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const double *a,
                      ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                    const double *b_packed,
                      int accumulate, double *c, ptrdiff_t ldc, int num_threads)
{
    return gemm_direct_t(h, w, n, k, a, a_row, a_col, koff, b_packed, accumulate, c, ldc, num_threads);
}
