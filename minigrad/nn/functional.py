"""``mg.nn.functional`` is ``minigrad.functional`` (PyTorch users reach for
``torch.nn.functional``)."""

from minigrad.functional import *  # noqa: F401,F403
