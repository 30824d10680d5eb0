# Pooling kernels (pool_kernels.h): max, sum-type (avg, Lp) and max unpooling.
# Declarations only, cimported by the wrappers; the header is the reference.
from libc.stdint cimport int32_t, int64_t


cdef extern from "pool_kernels.h" nogil:
    ctypedef struct mg_pool_axis:
        int n_out
        const int32_t *start
        const int32_t *count
        int step
        int regular
        int stride, k, pad

    int mg_max_pool2d_fwd_f32(const float *x, float *y, int64_t *yi, int64_t P, int H, int W,
                              const mg_pool_axis *rows, const mg_pool_axis *cols, int nt)
    int mg_max_pool2d_fwd_f64(const double *x, double *y, int64_t *yi, int64_t P, int H, int W,
                              const mg_pool_axis *rows, const mg_pool_axis *cols, int nt)
    int mg_max_pool2d_bwd_f32(const float *gy, const int64_t *yi, float *gx, int64_t P,
                              int64_t n_out, int64_t n_in, int nt)
    int mg_max_pool2d_bwd_f64(const double *gy, const int64_t *yi, double *gx, int64_t P,
                              int64_t n_out, int64_t n_in, int nt)
    int mg_sum_pool2d_fwd_f32(const float *x, float *y, int64_t P, int H, int W,
                              const mg_pool_axis *rows, const mg_pool_axis *cols,
                              const float *rfac, const float *cfac, double norm_p, int nt)
    int mg_sum_pool2d_fwd_f64(const double *x, double *y, int64_t P, int H, int W,
                              const mg_pool_axis *rows, const mg_pool_axis *cols,
                              const double *rfac, const double *cfac, double norm_p, int nt)
    int mg_sum_pool2d_bwd_f32(const float *gy, const float *x, const float *y, float *gx,
                              int64_t P, int H, int W, const mg_pool_axis *rows,
                              const mg_pool_axis *cols, const float *rfac, const float *cfac,
                              double norm_p, int nt)
    int mg_sum_pool2d_bwd_f64(const double *gy, const double *x, const double *y, double *gx,
                              int64_t P, int H, int W, const mg_pool_axis *rows,
                              const mg_pool_axis *cols, const double *rfac, const double *cfac,
                              double norm_p, int nt)
    int mg_max_unpool_fwd_f32(const float *x, const int64_t *idx, float *y, int64_t P,
                              int64_t n_in, int64_t n_out, int nt)
    int mg_max_unpool_fwd_f64(const double *x, const int64_t *idx, double *y, int64_t P,
                              int64_t n_in, int64_t n_out, int nt)
    int mg_max_unpool_bwd_f32(const float *gy, const int64_t *idx, float *gx, int64_t P,
                              int64_t n_in, int64_t n_out, int nt)
    int mg_max_unpool_bwd_f64(const double *gy, const int64_t *idx, double *gx, int64_t P,
                              int64_t n_in, int64_t n_out, int nt)
