"""The public functional API, under PyTorch's names: ``import minigrad.functional as F``.

Each op family lives in ``minigrad/ops/``; this module only gathers them
(core ops, the C-kernel families conv/pool/local, and the losses).
"""

from minigrad.ops.activation import *  # noqa: F401,F403
from minigrad.ops.conv import *  # noqa: F401,F403
from minigrad.ops.elementwise import *  # noqa: F401,F403
from minigrad.ops.embedding import *  # noqa: F401,F403
from minigrad.ops.linalg import *  # noqa: F401,F403
from minigrad.ops.local import *  # noqa: F401,F403
from minigrad.ops.loss import *  # noqa: F401,F403
from minigrad.ops.norm import *  # noqa: F401,F403
from minigrad.ops.pool import *  # noqa: F401,F403
from minigrad.ops.reduce import *  # noqa: F401,F403
from minigrad.ops.resample import *  # noqa: F401,F403
from minigrad.ops.shape import *  # noqa: F401,F403
