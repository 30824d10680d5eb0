# Binding a family's extension to the core's CPU dispatch and GEMM (mg_runtime.h).
# A wrapper that links mg_runtime_client.c calls bind_runtime() once, at import.

from cpython.pycapsule cimport PyCapsule_GetPointer

cdef extern from "mg_runtime.h":
    int mg_runtime_bind(const void *table)


cdef inline int bind_runtime() except -1:
    from minigrad._C.core import _C_API
    if mg_runtime_bind(PyCapsule_GetPointer(_C_API, "minigrad._C.core._C_API")) != 0:
        raise ImportError("minigrad._C.core was built from another version of the "
                          "kernels (runtime ABI mismatch); rebuild minigrad")
    return 0
