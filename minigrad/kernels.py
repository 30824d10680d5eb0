"""Old name of ``minigrad.book_conv``: the book's three convolution operations c, g
and h as differentiable functions.  Kept so that ``from minigrad import kernels``
goes on working; new code should say ``book_conv``.

This module is NOT the C kernels: those are ``minigrad._C`` (built from ``src_c/``),
which these functions (like ``F.conv2d``) call.
"""

from minigrad.ops.book_conv import c, g, h

__all__ = ["c", "g", "h"]
