/* mg_runtime_client.c -- compiled into every kernel extension except the core: the
 * shared functions of mg_cpu.h and gemm.h, forwarding to the core's one definition
 * through the table bound at import (mg_runtime.h explains why). */
#include "mg_runtime.h"

static const mg_runtime *rt = NULL;

int mg_runtime_bind(const void *table)
{
    const mg_runtime *t = (const mg_runtime *)table;
    if (!t || t->abi != MG_RUNTIME_ABI) return -1;
    rt = t;
    return 0;
}

mg_isa mg_cpu_isa(void) { return rt->cpu_isa(); }

int mg_sgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
             const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, float *c,
             ptrdiff_t ldc, int num_threads)
{
    return rt->sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                     num_threads);
}

int mg_dgemm(int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, double alpha,
             const double *a, ptrdiff_t lda, const double *b, ptrdiff_t ldb, double beta,
             double *c, ptrdiff_t ldc, int num_threads)
{
    return rt->dgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                     num_threads);
}

size_t mg_sgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k) { return rt->sgemm_packed_a_size(m, k); }

size_t mg_dgemm_packed_a_size(ptrdiff_t m, ptrdiff_t k) { return rt->dgemm_packed_a_size(m, k); }

void mg_sgemm_pack_a(int trans_a, ptrdiff_t m, ptrdiff_t k, float alpha, const float *a,
                     ptrdiff_t lda, float *a_packed)
{
    rt->sgemm_pack_a(trans_a, m, k, alpha, a, lda, a_packed);
}

void mg_dgemm_pack_a(int trans_a, ptrdiff_t m, ptrdiff_t k, double alpha, const double *a,
                     ptrdiff_t lda, double *a_packed)
{
    rt->dgemm_pack_a(trans_a, m, k, alpha, a, lda, a_packed);
}

int mg_sgemm_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a_packed,
                    mg_spack_b_fn pack_b, const void *b_ctx, float beta, float *c,
                    ptrdiff_t ldc, int num_threads)
{
    return rt->sgemm_packed(m, n, k, a_packed, pack_b, b_ctx, beta, c, ldc, num_threads);
}

int mg_dgemm_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *a_packed,
                    mg_dpack_b_fn pack_b, const void *b_ctx, double beta, double *c,
                    ptrdiff_t ldc, int num_threads)
{
    return rt->dgemm_packed(m, n, k, a_packed, pack_b, b_ctx, beta, c, ldc, num_threads);
}

void mg_gemm_direct_tile(ptrdiff_t w, int *positions, int *channels_f32,
                         int *channels_f64)
{
    rt->gemm_direct_tile(w, positions, channels_f32, channels_f64);
}

size_t mg_sgemm_direct_packed_b_size(ptrdiff_t k, ptrdiff_t n)
{
    return rt->sgemm_direct_packed_b_size(k, n);
}

size_t mg_dgemm_direct_packed_b_size(ptrdiff_t k, ptrdiff_t n)
{
    return rt->dgemm_direct_packed_b_size(k, n);
}

void mg_sgemm_direct_pack_b(ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t ldb_r,
                            ptrdiff_t ldb_j, float *dst)
{
    rt->sgemm_direct_pack_b(k, n, b, ldb_r, ldb_j, dst);
}

void mg_dgemm_direct_pack_b(ptrdiff_t k, ptrdiff_t n, const double *b, ptrdiff_t ldb_r,
                            ptrdiff_t ldb_j, double *dst)
{
    rt->dgemm_direct_pack_b(k, n, b, ldb_r, ldb_j, dst);
}

int mg_sgemm_direct(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const float *a,
                    ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                    const float *b_packed,
                    const float *bias, float *c, ptrdiff_t ldc, int num_threads)
{
    return rt->sgemm_direct(h, w, n, k, a, a_row, a_col, koff, b_packed, bias, c, ldc, num_threads);
}

int mg_dgemm_direct(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const double *a,
                    ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                    const double *b_packed,
                    const double *bias, double *c, ptrdiff_t ldc, int num_threads)
{
    return rt->dgemm_direct(h, w, n, k, a, a_row, a_col, koff, b_packed, bias, c, ldc, num_threads);
}

int mg_sgemm_direct_t(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const float *a,
                      ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                    const float *b_packed,
                      int accumulate, float *c, ptrdiff_t ldc, int num_threads)
{
    return rt->sgemm_direct_t(h, w, n, k, a, a_row, a_col, koff, b_packed, accumulate, c, ldc,
                              num_threads);
}

int mg_dgemm_direct_t(ptrdiff_t h, ptrdiff_t w, ptrdiff_t n, ptrdiff_t k, const double *a,
                      ptrdiff_t a_row, ptrdiff_t a_col, const ptrdiff_t *koff,
                    const double *b_packed,
                      int accumulate, double *c, ptrdiff_t ldc, int num_threads)
{
    return rt->dgemm_direct_t(h, w, n, k, a, a_row, a_col, koff, b_packed, accumulate, c, ldc,
                              num_threads);
}
