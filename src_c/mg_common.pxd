# Shared by every extension (mg_common.h): the status codes, OpenMP or not, the flags.
# Declarations only, cimported by the wrappers; the header is the reference.

cdef extern from "mg_common.h":
    enum:
        MG_OK
        MG_ENOMEM
        MG_EINDEX
    int MG_HAVE_OPENMP
    int mg_omp_max_threads() nogil
    const char *mg_build_cflags() nogil
