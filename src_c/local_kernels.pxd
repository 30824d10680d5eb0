# Locally connected / tiled convolution kernels (local_kernels.h), eq. 9.9 and 9.10.
# Declarations only, cimported by the wrappers; the header is the reference.

cdef extern from "local_kernels.h" nogil:
    ctypedef struct mg_local_shape:
        Py_ssize_t n, n_pad
        Py_ssize_t c_in, h, w
        Py_ssize_t ph, pw
        Py_ssize_t hp, wp
        Py_ssize_t kh, kw, sh, sw
        Py_ssize_t c_out, h_out, w_out
        Py_ssize_t th, tw

    int MG_LOCAL_BATCH_ALIGN_F32
    int MG_LOCAL_BATCH_ALIGN_F64

    void mg_local_pack_input_f32(const float *x, float *xp, Py_ssize_t n, Py_ssize_t n_pad,
                                 Py_ssize_t c, Py_ssize_t h, Py_ssize_t w, Py_ssize_t ph,
                                 Py_ssize_t pw, int nt)
    void mg_local_pack_input_f64(const double *x, double *xp, Py_ssize_t n, Py_ssize_t n_pad,
                                 Py_ssize_t c, Py_ssize_t h, Py_ssize_t w, Py_ssize_t ph,
                                 Py_ssize_t pw, int nt)
    void mg_local_unpack_input_f32(const float *xp, float *x, Py_ssize_t n, Py_ssize_t n_pad,
                                   Py_ssize_t c, Py_ssize_t h, Py_ssize_t w, Py_ssize_t ph,
                                   Py_ssize_t pw, int nt)
    void mg_local_unpack_input_f64(const double *xp, double *x, Py_ssize_t n, Py_ssize_t n_pad,
                                   Py_ssize_t c, Py_ssize_t h, Py_ssize_t w, Py_ssize_t ph,
                                   Py_ssize_t pw, int nt)
    void mg_local_pack_output_f32(const float *y, float *yp, Py_ssize_t n, Py_ssize_t n_pad,
                                  Py_ssize_t c, Py_ssize_t P, int nt)
    void mg_local_pack_output_f64(const double *y, double *yp, Py_ssize_t n, Py_ssize_t n_pad,
                                  Py_ssize_t c, Py_ssize_t P, int nt)
    void mg_local_unpack_output_f32(const float *yp, float *y, Py_ssize_t n, Py_ssize_t n_pad,
                                    Py_ssize_t c, Py_ssize_t P, int nt)
    void mg_local_unpack_output_f64(const double *yp, double *y, Py_ssize_t n, Py_ssize_t n_pad,
                                    Py_ssize_t c, Py_ssize_t P, int nt)
    int mg_local_forward_f32(const float *xp, const float *w, const float *b, float *yp,
                             const mg_local_shape *s, int nt)
    int mg_local_forward_f64(const double *xp, const double *w, const double *b, double *yp,
                             const mg_local_shape *s, int nt)
    int mg_local_grad_input_f32(const float *gyp, const float *w, float *gxp,
                                const mg_local_shape *s, int nt)
    int mg_local_grad_input_f64(const double *gyp, const double *w, double *gxp,
                                const mg_local_shape *s, int nt)
    int mg_local_grad_weight_f32(const float *gyp, const float *xp, float *gw, float *gb,
                                 const mg_local_shape *s, int nt)
    int mg_local_grad_weight_f64(const double *gyp, const double *xp, double *gw, double *gb,
                                 const mg_local_shape *s, int nt)
