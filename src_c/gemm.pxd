# minigrad's GEMM (gemm.h): C = alpha op(A) op(B) + beta C, row-major.
# Declarations only, cimported by the wrappers; the header is the reference.

cdef extern from "gemm.h" nogil:
    int mg_sgemm(int ta, int tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                 const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float beta,
                 float *c, Py_ssize_t ldc, int num_threads)
    int mg_dgemm(int ta, int tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha,
                 const double *a, Py_ssize_t lda, const double *b, Py_ssize_t ldb,
                 double beta, double *c, Py_ssize_t ldc, int num_threads)
