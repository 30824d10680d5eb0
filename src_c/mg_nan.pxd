# The parallel NaN scan (mg_nan.h) behind the kernels' NaN check.
# Declarations only, cimported by the wrappers; the header is the reference.

cdef extern from "mg_nan.h":
    int mg_has_nan_f32(const float *a, Py_ssize_t n, int nt) nogil
    int mg_has_nan_f64(const double *a, Py_ssize_t n, int nt) nogil
