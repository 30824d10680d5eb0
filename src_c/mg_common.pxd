# Build facts shared by every extension (mg_common.h): OpenMP or not, the flags.
# Declarations only, cimported by the wrappers; the header is the reference.

cdef extern from "mg_common.h":
    int MG_HAVE_OPENMP
    int mg_omp_max_threads() nogil
    const char *mg_build_cflags() nogil
