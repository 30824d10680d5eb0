"""Devices, as PyTorch spells them.  minigrad computes on the CPU only.

``mg.device("cpu")``, ``t.to("cpu")``, ``t.cpu()``, ``device=`` on the factories
and ``Module.to(device)`` are accepted, so that device-generic PyTorch code runs
unchanged; they do nothing, since every array already lives in main memory.
Anything else (``"cuda"``, ``"mps"``, ...) is refused with an error saying there
is no GPU backend, rather than silently computing on the CPU.  ``mg.cuda``,
``mg.accelerator`` and ``mg.backends.mps`` answer the availability questions
scripts ask before choosing a device: no.
"""

from __future__ import annotations

import types
from typing import Any, Union

__all__ = ["device", "as_device", "cuda", "accelerator", "backends", "DeviceLike"]

_NO_GPU = (
    "minigrad has no GPU backend: tensors and modules live on the CPU only "
    "(mg.cuda.is_available() is False; use device 'cpu')"
)


class device:
    """A device: ``device("cpu")``, ``device("cpu:0")`` or ``device("cpu", 0)``.

    Compares equal to another cpu device and to the string ``"cpu"``.  Asking for
    a GPU (``"cuda"``, ``"cuda:1"``, ``"mps"``, ...) raises ``RuntimeError``."""

    __slots__ = ("type", "index")

    def __init__(self, type: Union[str, device], index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        kind, _, number = type.partition(":")
        if number:
            if index is not None:
                raise ValueError(f"device: the index is given twice, in {type!r} and as {index}")
            if not number.isdigit():
                raise ValueError(f"device: invalid device string {type!r}")
            index = int(number)
        if kind != "cpu":
            if kind in ("cuda", "mps", "xpu", "xla", "hip", "vulkan", "meta", "mtia", "ipu"):
                raise RuntimeError(f"device {type!r}: {_NO_GPU}")
            raise ValueError(f"device: unknown device type {kind!r} (minigrad knows 'cpu')")
        if index is not None and (not isinstance(index, int) or index != 0):
            raise ValueError(f"device: there is one cpu device, index 0; got index {index!r}")
        self.type = "cpu"
        self.index = index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, RuntimeError):
                return False
        return isinstance(other, device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return (
            f"device(type={self.type!r}"
            + ("" if self.index is None else f", index={self.index}")
            + ")"
        )

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


DeviceLike = Union[device, str, int, None]

CPU = device("cpu")


def as_device(d: Any, op: str = "device") -> device:
    """``d`` (a device, a string such as 'cpu', or None for the default) as a device;
    a GPU is refused naming ``op``."""
    if d is None or d is CPU:
        return CPU
    if isinstance(d, device):
        return d
    if isinstance(d, int) and not isinstance(d, bool):  # PyTorch reads an int as a cuda index
        raise RuntimeError(f"{op}: device {d} (a CUDA device index): {_NO_GPU}")
    if isinstance(d, str):
        try:
            return device(d)
        except RuntimeError as e:
            raise RuntimeError(f"{op}: {e}") from None
    raise TypeError(f"{op}: expected a device or a string such as 'cpu', got {d!r}")


def _false(*args: Any, **kwargs: Any) -> bool:
    return False


def _zero(*args: Any, **kwargs: Any) -> int:
    return 0


def _no_gpu(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(_NO_GPU)


# ``mg.cuda``: the questions scripts ask before choosing a device.
cuda = types.SimpleNamespace(
    is_available=_false,
    device_count=_zero,
    is_initialized=_false,
    current_device=_no_gpu,
    get_device_name=_no_gpu,
    manual_seed=lambda seed: None,  # nothing to seed: no GPU generators
    manual_seed_all=lambda seed: None,
    synchronize=lambda device=None: None,
    empty_cache=lambda: None,
)

# ``mg.accelerator`` (PyTorch 2.6+): no accelerator.
accelerator = types.SimpleNamespace(
    is_available=_false,
    current_accelerator=lambda check_available=False: None,
    device_count=_zero,
)

# ``mg.backends.mps.is_available()`` and friends.
backends = types.SimpleNamespace(
    mps=types.SimpleNamespace(is_available=_false, is_built=_false),
    cuda=types.SimpleNamespace(is_built=_false),
    cudnn=types.SimpleNamespace(is_available=_false, enabled=False),
)
