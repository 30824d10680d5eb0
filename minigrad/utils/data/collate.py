"""``default_collate`` (a list of examples -> one batch) and ``default_convert`` (arrays
-> Tensors), with PyTorch's rules:

==========================  ================================================
element                     batch
==========================  ================================================
Tensor / np.ndarray         Tensor stacked on a new first axis (dtype kept)
NumPy scalar                Tensor of them (dtype kept)
float / int / bool          float64 / int64 / bool Tensor
str / bytes                 the elements as they are
dict (Mapping)              the same keys, each collated
namedtuple                  the same type, each field collated
tuple / list                a list, position by position (lengths must agree)
==========================  ================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from minigrad.tensor import Tensor, unwrap

__all__ = ["default_collate", "default_convert"]

_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "biufc"


def _stack(arrays: list) -> np.ndarray:
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise RuntimeError(
                f"default_collate: stack expects each tensor to be equal size, but got {shape} "
                f"at entry 0 and {a.shape} at entry {i}"
            )
    return np.stack(arrays)


def default_collate(batch: Sequence) -> Any:
    """Merge a list of examples into a batch (see the module docstring)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        if any(isinstance(t, Tensor) and t.requires_grad for t in batch):
            from minigrad.functional import stack

            return stack(list(batch))  # keeps the graph, as torch.stack would
        return Tensor._wrap(_stack([np.asarray(unwrap(t)) for t in batch]))
    if isinstance(elem, np.ndarray):
        if not _numeric(elem.dtype):
            raise TypeError(_ERROR.format(elem.dtype))
        return Tensor._wrap(_stack([np.asarray(a) for a in batch]))
    if isinstance(elem, np.generic) and not isinstance(elem, (np.str_, np.bytes_)):
        if not _numeric(elem.dtype):
            raise TypeError(_ERROR.format(elem.dtype))
        return Tensor._wrap(np.array(batch))
    if isinstance(elem, bool):
        return Tensor._wrap(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return Tensor._wrap(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return Tensor._wrap(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError(
                "default_collate: each element in list of batch should be of equal size"
            )
        return [default_collate(s) for s in zip(*batch)]
    raise TypeError(_ERROR.format(type(elem)))


def default_convert(data: Any) -> Any:
    """NumPy arrays and scalars (numeric) -> Tensors, through dicts, namedtuples, tuples
    and lists (tuples become lists, as in PyTorch); anything else as it is."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return Tensor._wrap(data) if _numeric(data.dtype) else data
    if isinstance(data, np.generic) and _numeric(data.dtype):
        return Tensor._wrap(np.asarray(data))
    if isinstance(data, Mapping):
        converted = {key: default_convert(v) for key, v in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (tuple, list)):
        return [default_convert(d) for d in data]
    return data
