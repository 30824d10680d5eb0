# cython: language_level=3
"""Content fingerprints of arrays, for the tape's saved-array guard (see fingerprint.h).

``fingerprint(a)`` reads ``a`` once at memory speed (in parallel for large arrays)
and returns a 64-bit integer that changes whenever any byte of ``a`` changes.
"""

import numpy as np

from minigrad._C.core import get_num_threads

from fingerprint cimport mg_fingerprint


def fingerprint(a) -> int:
    """64-bit fingerprint of the bytes of the array ``a`` (any dtype; a non-contiguous
    array is fingerprinted through a contiguous copy)."""
    cdef const unsigned char[::1] buf
    cdef size_t n
    cdef int nt
    cdef unsigned long long h
    a = np.ascontiguousarray(a)
    n = a.nbytes
    if n == 0:
        return 0
    buf = a.reshape(-1).view(np.uint8)
    # Small arrays are not worth waking a second thread for.
    nt = get_num_threads() if n >= (1 << 20) else 1
    with nogil:
        h = mg_fingerprint(&buf[0], n, nt)
    return h
