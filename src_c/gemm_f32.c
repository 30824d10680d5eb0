/* gemm_f32.c -- the float GEMM of gemm.h: gemm_template.h for `real` = float. */
#include "gemm.h"

#include <stdint.h>

typedef float real;
typedef int32_t lane_int; /* the integer of real's width: shuffle masks */
#define GEMM_KC 256 /* a KC x NC panel of B in L2 (256 x 512 floats = 512 KiB), one */
#define GEMM_NC 512 /* mr x KC sliver of A in L1 (8 x 256 floats = 8 KiB)           */
#include "gemm_template.h"

int mg_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
             const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c,
             ptrdiff_t ldc, int num_threads)
{
    return gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, num_threads);
}

size_t mg_sgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k)
{
    return packed_a_size(active_kernel(), m, k);
}

void mg_sgemm_pack_a(int trans_a, ptrdiff_t m, ptrdiff_t k, float alpha, const float *a,
                     ptrdiff_t lda, float *a_packed)
{
    pack_a(trans_a, a, lda, 0, 0, m, k, alpha, active_kernel()->mr, a_packed);
}

int mg_sgemm_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a_packed,
                    mg_spack_b_fn pack_b, const void *b_ctx, float beta, float *c,
                    ptrdiff_t ldc, int num_threads)
{
    if (m <= 0 || n <= 0) return MG_OK;
    return gemm_packed(active_kernel(), m, n, k, a_packed, pack_b, b_ctx, beta, c, ldc,
                       num_threads);
}

size_t mg_sgemm_direct_packed_b_size(ptrdiff_t k, ptrdiff_t n)
{
    return direct_packed_b_size(k, n);
}

void mg_sgemm_direct_pack_b(ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb_r,
                            ptrdiff_t ldb_j, float *dst)
{
    direct_pack_b(k, n, b, ldb_r, ldb_j, dst);
}

int mg_sgemm_direct(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const float *a,
                    ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                    const float *b_packed,
                    const float *bias, float *c, ptrdiff_t ldc, int num_threads)
{
    return gemm_direct(h, w, n, k, a, a_row, a_col, koff, b_packed, bias, c, ldc, num_threads);
}

/* The tile sizes are the same in both element types' files; this one answers. */
void mg_gemm_direct_tile(ptrdiff_t w, int *positions, int *channels_f32,
                         int *channels_f64)
{
    *positions = direct_rows(active_direct(), w);
    *channels_f32 = active_direct()->nr;
    *channels_f64 = active_direct()->nr / 2;
}

int mg_sgemm_direct_t(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const float *a,
                      ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                    const float *b_packed,
                      int accumulate, float *c, ptrdiff_t ldc, int num_threads)
{
    return gemm_direct_t(h, w, n, k, a, a_row, a_col, koff, b_packed, accumulate, c, ldc, num_threads);
}
