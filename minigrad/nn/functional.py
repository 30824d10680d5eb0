"""``mg.nn.functional`` is ``minigrad.functional`` (PyTorch users reach for
``torch.nn.functional``), plus ``linear``."""

from minigrad.functional import *  # noqa: F401,F403
from minigrad.nn.linear import linear  # noqa: F401
from minigrad.ops.loss import *  # noqa: F401,F403
