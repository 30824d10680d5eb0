# The content fingerprint (fingerprint.h) behind the tape's saved-array guard.
# Declarations only; the header is the reference.

from libc.stdint cimport uint64_t

cdef extern from "fingerprint.h":
    uint64_t mg_fingerprint(const void *data, size_t n_bytes, int nt) nogil
