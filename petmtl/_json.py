"""JSON with type tags: the metadata of model files.

Tuples, NumPy arrays and scalars and ``torch.device`` are stored with small tags, so
every parameter and fitted attribute comes back with its type (``classes_`` keeps its
dtype).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

_TYPES: dict[str, tuple[type, Callable[[Any], Any], Callable[[Any], Any]]] = {}


def register_type(cls: type, tag: str, to_plain: Callable[[Any], Any],
                  from_plain: Callable[[Any], Any]) -> None:
    """Let :func:`encode` and :func:`decode` store instances of ``cls``.

    ``to_plain(value)`` returns data that :func:`encode` can store (it is encoded in
    turn), or raises TypeError saying why this instance cannot be stored (the message is
    prefixed with the value's name); ``from_plain(data)`` rebuilds the instance; the tag
    names the type in files.
    """
    _TYPES[tag] = (cls, to_plain, from_plain)


def encode(value: Any, where: str) -> Any:
    """Turn a parameter or fitted attribute into JSON-safe data with type tags.

    ``where`` names the value in errors (e.g. "parameter 'lam'").
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return {"__numpy_scalar__": value.item(), "dtype": value.dtype.str}
    if isinstance(value, np.ndarray) and value.dtype.names is not None:
        return {"__structured__": {name: encode(value[name], where)
                                   for name in value.dtype.names},
                "dtype": [[name, value.dtype[name].str] for name in value.dtype.names]}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUOS":
            raise TypeError(f"cannot store {where}: arrays of dtype {value.dtype} are not "
                            "supported in a model file")
        items = [encode(v, where) for v in value.ravel().tolist()]
        dtype = "object" if value.dtype == object else value.dtype.str
        return {"__ndarray__": items, "dtype": dtype, "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, where) for v in value]}
    if isinstance(value, list):
        return [encode(v, where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"cannot store {where}: dict keys must be strings")
        if {"__tuple__", "__ndarray__", "__structured__", "__type__"} & set(value):
            raise TypeError(f"cannot store {where}: reserved key in dict")
        return {k: encode(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    for tag, (cls, to_plain, _) in _TYPES.items():
        if isinstance(value, cls):
            try:
                plain = to_plain(value)
            except TypeError as exc:
                raise TypeError(f"cannot store {where}: {exc}") from None
            return {"__type__": tag, "value": encode(plain, where)}
    raise TypeError(f"cannot store {where} of type {type(value).__name__} in a model file "
                    "(supported: numbers, strings, None, tuples, lists, dicts with string "
                    "keys, NumPy arrays and scalars, torch.device)")


def decode(value: Any) -> Any:
    """Undo :func:`encode`: tuples, NumPy arrays and scalars and devices come back."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__ndarray__" in value:
        items = [decode(v) for v in value["__ndarray__"]]
        shape = tuple(value["shape"])
        if value["dtype"] == "object":
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape(shape)
        return np.asarray(items, dtype=np.dtype(value["dtype"])).reshape(shape)
    if "__structured__" in value:
        fields = {name: decode(v) for name, v in value["__structured__"].items()}
        dtype = np.dtype([(name, code) for name, code in value["dtype"]])
        out = np.empty(len(next(iter(fields.values()))), dtype=dtype)
        for name, column in fields.items():
            out[name] = column
        return out
    if "__numpy_scalar__" in value:
        return np.dtype(value["dtype"]).type(value["__numpy_scalar__"])
    if "__device__" in value:
        return torch.device(value["__device__"])
    if "__type__" in value:
        if value["__type__"] not in _TYPES:
            raise ValueError(f"unknown stored type {value['__type__']!r}")
        return _TYPES[value["__type__"]][2](decode(value["value"]))
    return {k: decode(v) for k, v in value.items()}
