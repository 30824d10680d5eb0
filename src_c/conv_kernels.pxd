# Convolution kernels (conv_kernels.h): forward, grad-input and grad-weight of eq. 9.8-9.13.
# Declarations only, cimported by the wrappers; the header is the reference.

cdef extern from "conv_kernels.h" nogil:
    ctypedef struct mg_conv_shape:
        Py_ssize_t batch, c_in, h_in, w_in, c_out, h_out, w_out, kh, kw
        Py_ssize_t sh, sw, pt, pl, dh, dw, groups
    int mg_conv2d_forward_f32(const mg_conv_shape *s, const float *x, const float *w,
                              const float *bias, float *y, int nt)
    int mg_conv2d_forward_f64(const mg_conv_shape *s, const double *x, const double *w,
                              const double *bias, double *y, int nt)
    int mg_conv2d_backward_input_f32(const mg_conv_shape *s, const float *dy, const float *w,
                                     float *dx, int nt)
    int mg_conv2d_backward_input_f64(const mg_conv_shape *s, const double *dy,
                                     const double *w, double *dx, int nt)
    int mg_conv2d_backward_weight_f32(const mg_conv_shape *s, const float *x, const float *dy,
                                      float *dw, int nt)
    int mg_conv2d_backward_weight_f64(const mg_conv_shape *s, const double *x,
                                      const double *dy, double *dw, int nt)
