"""Safe model files: tensors plus JSON metadata, loadable with ``weights_only=True``.

A petmtl model file is a :func:`torch.save` archive of a plain dict::

    {"format": "petmtl", "format_version": 1,
     "metadata": "<JSON string>",          # params, fitted attributes, classes ...
     "state_dict": {name: tensor, ...},    # the network's weights and buffers
     "optimizer_state": ... or None,       # checkpoints only (tensors and plain data)
     "training_state": ... or None}        # checkpoints only (tensors and plain data)

Nothing in it is a pickled Python object, so :func:`load` reads it with
``torch.load(path, weights_only=True)``: a tampered file holding any other object is
refused by torch's restricted unpickler without running it. The JSON metadata stores
tuples, NumPy arrays and scalars and ``torch.device`` with small type tags, so every
parameter and fitted attribute comes back with its type (``classes_`` keeps its dtype).

Checkpoints (:func:`save_checkpoint` / :func:`read_checkpoint`) use the same format with
an optimizer state and a free-form training state (e.g. epoch, RNG state tensors) that
must itself contain only tensors, numbers, strings, None, lists, tuples and dicts.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._atomic import atomic_path
from ._runtime import resolve_memory_format

FORMAT_NAME = "petmtl"
FORMAT_VERSION = 1

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "estimator_from_state",
    "estimator_state",
    "load",
    "read_checkpoint",
    "save",
    "save_checkpoint",
]


# ------------------------------------------------------------------ JSON encoding
def _encode(value: Any, where: str) -> Any:
    """Turn a parameter or fitted attribute into JSON-safe data with type tags."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return {"__numpy_scalar__": value.item(), "dtype": value.dtype.str}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUOS":
            raise TypeError(f"cannot store {where}: arrays of dtype {value.dtype} are not "
                            "supported in a model file")
        items = [_encode(v, where) for v in value.ravel().tolist()]
        dtype = "object" if value.dtype == object else value.dtype.str
        return {"__ndarray__": items, "dtype": dtype, "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"cannot store {where}: dict keys must be strings")
        if "__tuple__" in value or "__ndarray__" in value:
            raise TypeError(f"cannot store {where}: reserved key in dict")
        return {k: _encode(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    raise TypeError(f"cannot store {where} of type {type(value).__name__} in a model file "
                    "(supported: numbers, strings, None, tuples, lists, dicts with string "
                    "keys, NumPy arrays and scalars, torch.device)")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__ndarray__" in value:
        items = [_decode(v) for v in value["__ndarray__"]]
        shape = tuple(value["shape"])
        if value["dtype"] == "object":
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape(shape)
        return np.asarray(items, dtype=np.dtype(value["dtype"])).reshape(shape)
    if "__numpy_scalar__" in value:
        return np.dtype(value["dtype"]).type(value["__numpy_scalar__"])
    if "__device__" in value:
        return torch.device(value["__device__"])
    return {k: _decode(v) for k, v in value.items()}


# --------------------------------------------------------- estimator <-> state dict
def estimator_state(estimator) -> dict[str, Any]:
    """The estimator as a dict of tensors and a JSON metadata string.

    Parameters
    ----------
    estimator : MultiTaskPETEstimator
        Fitted or not; an unfitted estimator stores its parameters only.

    Returns
    -------
    dict
        Keys ``"format"``, ``"format_version"``, ``"metadata"`` (a JSON string holding
        ``class``, ``params`` and ``attributes``: every fitted attribute, i.e. public
        name ending in ``_``, except ``module_``) and ``"state_dict"`` (the network's
        tensors on the CPU, or None when unfitted).
    """
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if isinstance(value, np.random.RandomState):
            warnings.warn(f"random_state is a RandomState instance, which a model file cannot "
                          f"hold; it is stored as None (parameter {name!r})", UserWarning,
                          stacklevel=3)
            value = None
        params[name] = _encode(value, f"parameter {name!r}")
    attributes = {}
    for name, value in vars(estimator).items():
        if name.endswith("_") and not name.startswith("_") and name != "module_":
            attributes[name] = _encode(value, f"attribute {name!r}")
    module = getattr(estimator, "module_", None)
    state_dict = None
    if module is not None:
        state_dict = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    metadata = {"class": type(estimator).__name__, "params": params, "attributes": attributes,
                "torch_version": torch.__version__}
    return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "metadata": json.dumps(metadata, allow_nan=True), "state_dict": state_dict}


def estimator_from_state(state: dict[str, Any], *, device=None, source: str = "state"):
    """Rebuild an estimator from :func:`estimator_state` output.

    Parameters
    ----------
    state : dict
        As returned by :func:`estimator_state` (or read from a file).
    device : str or torch.device, optional
        Where to put the network; default: the training device when it is available,
        else the CPU.
    source : str, default="state"
        Name used in error messages (e.g. the file path).

    Returns
    -------
    MultiTaskPETEstimator
    """
    from .estimator import MultiTaskPETEstimator

    _check_header(state, source)
    try:
        metadata = json.loads(state["metadata"])
        params = {k: _decode(v) for k, v in metadata["params"].items()}
        attributes = {k: _decode(v) for k, v in metadata["attributes"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{source} is not a valid petmtl model file: its metadata cannot be "
                         f"read ({exc})") from None
    if metadata.get("class") != MultiTaskPETEstimator.__name__:
        raise ValueError(f"{source} holds a {metadata.get('class')!r}, expected a "
                         f"{MultiTaskPETEstimator.__name__}")
    known = MultiTaskPETEstimator().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{source} has parameters {unknown} that this petmtl version does not "
                         "know; upgrade petmtl to read it")
    estimator = MultiTaskPETEstimator(**params)
    for name, value in attributes.items():
        setattr(estimator, name, value)
    state_dict = state.get("state_dict")
    if state_dict is None:
        return estimator
    saved_device = attributes.get("device_", torch.device("cpu"))
    if device is None:
        usable = saved_device.type != "cuda" or torch.cuda.is_available()
        target = saved_device if usable else torch.device("cpu")
    else:
        target = torch.device(device)
    module = estimator._build_module(tuple(estimator.tasks))
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise ValueError(f"{source}: the stored weights do not match the network described by "
                         f"its parameters ({str(exc).splitlines()[0]})") from None
    # The same layout as in fit: convolution kernels differ between layouts in the
    # last bits, and a loaded model must predict exactly as the saved one did.
    memory_format = resolve_memory_format(getattr(estimator, "memory_format", "auto"), target)
    estimator.module_ = module.to(target, memory_format=memory_format).eval()
    estimator.device_ = target
    return estimator


def _check_header(state, source: str) -> None:
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise ValueError(f"{source} is not a petmtl model file (no 'format': 'petmtl' entry)")
    version = state.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{source} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{source} was written in model-file format version {version}, newer "
                         f"than this petmtl reads (up to {FORMAT_VERSION}); upgrade petmtl to "
                         "load it")


# ------------------------------------------------------------------------- files
def _atomic_torch_save(obj: dict, path) -> str:
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def _read(path) -> dict:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(f"refusing to load {path}: it contains objects other than tensors and "
                         f"plain data, which a petmtl model file never does (the file may be "
                         f"tampered with or not a petmtl model); nothing in it was executed. "
                         f"{first}") from None
    except Exception as exc:  # torch raises many types on corrupt or foreign files
        raise ValueError(f"{path} is not a readable petmtl model file "
                         f"({type(exc).__name__}: {exc})") from None


def save(estimator, path) -> str:
    """Write an estimator to a safe model file (atomically).

    Parameters
    ----------
    estimator : MultiTaskPETEstimator
    path : str or path-like
        Destination, conventionally ``*.pt``; written to a temporary name in the same
        folder and renamed, so no half-written file is ever left.

    Returns
    -------
    str
        ``path``.
    """
    return _atomic_torch_save(estimator_state(estimator), path)


def load(path, *, device=None):
    """Read an estimator written by :func:`save` (or a checkpoint's estimator).

    The file is read with ``torch.load(weights_only=True)``, which never executes code.

    Parameters
    ----------
    path : str or path-like
    device : str or torch.device, optional
        Device for the network; default: the training device if available, else the CPU.

    Returns
    -------
    MultiTaskPETEstimator

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Not a petmtl model file, a newer format version, or a file holding pickled objects.
    """
    return estimator_from_state(_read(path), device=device, source=os.fspath(path))


@dataclass
class Checkpoint:
    """What :func:`read_checkpoint` returns.

    Attributes
    ----------
    estimator : MultiTaskPETEstimator
        With its network and the fitted attributes present when it was saved.
    optimizer_state : dict or None
        As passed to :func:`save_checkpoint` (e.g. ``optimizer.state_dict()``).
    training_state : dict or None
        As passed to :func:`save_checkpoint`.
    format_version : int
    """

    estimator: Any
    optimizer_state: dict | None = None
    training_state: dict | None = None
    format_version: int = FORMAT_VERSION


def save_checkpoint(path, estimator, *, optimizer_state: dict | None = None,
                    training_state: dict | None = None) -> str:
    """Write an estimator with optimizer and training state (atomically).

    Parameters
    ----------
    path : str or path-like
    estimator : MultiTaskPETEstimator
        Possibly in the middle of training (its ``module_`` and any fitted attributes
        set so far are stored).
    optimizer_state : dict, optional
        E.g. ``optimizer.state_dict()``.
    training_state : dict, optional
        Tensors, numbers, strings, None, lists, tuples and dicts only (e.g. the epoch,
        ``torch.get_rng_state()``), so that the file stays loadable with
        ``weights_only=True``.

    Returns
    -------
    str
        ``path``.
    """
    state = estimator_state(estimator)
    state["optimizer_state"] = optimizer_state
    state["training_state"] = training_state
    return _atomic_torch_save(state, path)


def read_checkpoint(path, *, device=None) -> Checkpoint:
    """Read a file written by :func:`save_checkpoint` (or :func:`save`).

    Parameters
    ----------
    path : str or path-like
    device : str or torch.device, optional
        See :func:`load`.

    Returns
    -------
    Checkpoint
    """
    state = _read(path)
    estimator = estimator_from_state(state, device=device, source=os.fspath(path))
    return Checkpoint(estimator, state.get("optimizer_state"), state.get("training_state"),
                      state["format_version"])
