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

Checkpoints of a fit (the ``checkpoint_path`` parameter, :mod:`petmtl.training.checkpoint`)
use the same format with an optimizer state and a training state that contain only
tensors, numbers, strings, None, lists, tuples and dicts. Models are written with
``estimator.save(path)`` (or :func:`save`) and read with ``Estimator.load(path)`` (or
:func:`load`).

This module is a codec: it turns a :class:`ModelRecord` (class name, parameters,
fitted attributes, weights and optional training state) into a file and back, and
never imports an estimator. Estimator classes register themselves with
:func:`register_model_class`, so that :func:`load` can hand a record to the class
that wrote it, which rebuilds itself from it.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ._atomic import atomic_path
from ._json import decode as _decode
from ._json import encode as _encode

FORMAT_NAME = "petmtl"
FORMAT_VERSION = 1

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "ModelRecord",
    "estimator_from_state",
    "estimator_state",
    "load",
    "read_checkpoint",
    "read_record",
    "record_of",
    "register_model_class",
    "save",
    "save_checkpoint",
    "write_record",
]


# ------------------------------------------------------------------- the record
@dataclass
class ModelRecord:
    """Everything a model file holds, decoded.

    Attributes
    ----------
    class_name : str
        Name of the estimator class that wrote it.
    params : dict
        ``get_params(deep=False)`` of the estimator.
    attributes : dict
        Fitted attributes (public names ending in ``_``) except the network.
    state_dict : dict of str to torch.Tensor or None
        The network's weights and buffers on the CPU; None for an unfitted estimator.
    optimizer_state : dict or None
        Checkpoints only.
    training_state : dict or None
        Checkpoints only.
    format_version : int
    torch_version : str or None
        The torch version that wrote the file.
    """

    class_name: str
    params: dict
    attributes: dict = field(default_factory=dict)
    state_dict: dict | None = None
    optimizer_state: dict | None = None
    training_state: dict | None = None
    format_version: int = FORMAT_VERSION
    torch_version: str | None = None


def record_of(estimator, *, weights: bool = True) -> ModelRecord:
    """The :class:`ModelRecord` of a fitted or unfitted estimator.

    Parameters
    ----------
    estimator : BaseEstimator
        Its ``get_params(deep=False)``, public attributes ending in ``_`` (but its
        networks ``module_`` and ``members_``) and the weights of its ``module_`` (when
        fitted and ``weights``) are recorded; those of an ensemble's ``members_`` side by
        side, ``members.<k>.<name>``. A ``random_state`` that is a RandomState instance
        is stored as None, with a warning.
    weights : bool, default=True
        Record the network's weights.

    Returns
    -------
    ModelRecord
    """
    params = dict(estimator.get_params(deep=False))
    for name, value in params.items():
        if isinstance(value, np.random.RandomState):
            warnings.warn(f"random_state is a RandomState instance, which a model file cannot "
                          f"hold; it is stored as None (parameter {name!r})", UserWarning,
                          stacklevel=3)
            params[name] = None
    attributes = {name: value for name, value in vars(estimator).items()
                  if name.endswith("_") and not name.startswith("_")
                  and name not in ("module_", "members_")}
    members = getattr(estimator, "members_", None) or []
    if len(members) < 2:  # one network: module_ (which a user may have replaced)
        members = [getattr(estimator, "module_", None)]
    state_dict = None
    if weights and members[0] is not None:
        prefixes = [""] if len(members) == 1 else [f"members.{k}." for k in range(len(members))]
        state_dict = {prefix + name: v.detach().cpu().clone()
                      for prefix, member in zip(prefixes, members, strict=True)
                      for name, v in member.state_dict().items()}
    return ModelRecord(type(estimator).__name__, params, attributes, state_dict)


def _to_payload(record: ModelRecord) -> dict[str, Any]:
    params = {k: _encode(v, f"parameter {k!r}") for k, v in record.params.items()}
    attributes = {k: _encode(v, f"attribute {k!r}") for k, v in record.attributes.items()}
    metadata = {"class": record.class_name, "params": params, "attributes": attributes,
                "torch_version": torch.__version__}
    return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "metadata": json.dumps(metadata, allow_nan=True), "state_dict": record.state_dict,
            "optimizer_state": record.optimizer_state,
            "training_state": record.training_state}


def _from_payload(payload, source: str) -> ModelRecord:
    _check_header(payload, source)
    try:
        metadata = json.loads(payload["metadata"])
        params = {k: _decode(v) for k, v in metadata["params"].items()}
        attributes = {k: _decode(v) for k, v in metadata["attributes"].items()}
        class_name = metadata["class"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{source} is not a valid petmtl model file: its metadata cannot be "
                         f"read ({exc})") from None
    return ModelRecord(class_name, params, attributes, payload.get("state_dict"),
                       payload.get("optimizer_state"), payload.get("training_state"),
                       payload["format_version"], metadata.get("torch_version"))


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


# ------------------------------------------------------------- estimator classes
_MODEL_CLASSES: dict[str, type] = {}


def register_model_class(cls: type) -> type:
    """Class decorator: let :func:`load` rebuild instances of ``cls`` from their files.

    The class must provide ``_from_model_record(record, *, device=None, source)``,
    a classmethod returning the estimator described by a :class:`ModelRecord`.

    Returns
    -------
    type
        ``cls``, unchanged.
    """
    _MODEL_CLASSES[cls.__name__] = cls
    return cls


def _rebuild(record: ModelRecord, *, device=None, source: str = "state", expected=None):
    cls = _MODEL_CLASSES.get(record.class_name)
    if cls is None or (expected is not None and cls is not expected):
        wanted = expected.__name__ if expected is not None else sorted(_MODEL_CLASSES)
        raise ValueError(f"{source} holds a {record.class_name!r}, expected a {wanted}")
    return cls._from_model_record(record, device=device, source=source)


def _deprecated(name: str, instead: str) -> None:
    warnings.warn(f"petmtl.serialization.{name} is deprecated and goes in petmtl 0.3; "
                  f"{instead}", FutureWarning, stacklevel=3)


def estimator_state(estimator) -> dict[str, Any]:
    """Deprecated: the estimator as a dict of tensors and a JSON metadata string.

    Use ``estimator.save(path)``, or :func:`record_of` for the record in memory.

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
    _deprecated("estimator_state", "use estimator.save(path) or record_of(estimator)")
    return _to_payload(record_of(estimator))


def estimator_from_state(state: dict[str, Any], *, device=None, source: str = "state"):
    """Deprecated: rebuild an estimator from :func:`estimator_state` output.

    Use ``Estimator.load(path)`` or :func:`load`.

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
    _deprecated("estimator_from_state", "use Estimator.load(path) or load(path)")
    return _rebuild(_from_payload(state, source), device=device, source=source)


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


def write_record(path, record: ModelRecord) -> str:
    """Write a :class:`ModelRecord` to ``path`` atomically.

    Parameters
    ----------
    path : str or path-like
    record : ModelRecord
        Its training state may only hold tensors, numbers, strings, None, lists,
        tuples and dicts, so that the file stays loadable with ``weights_only=True``.

    Returns
    -------
    str
        ``path``.
    """
    return _atomic_torch_save(_to_payload(record), path)


def read_record(path) -> ModelRecord:
    """Read the :class:`ModelRecord` of a model or checkpoint file (no code is run).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ModelRecord

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Not a petmtl model file, a newer format version, or a file holding pickled objects.
    """
    return _from_payload(_read(path), os.fspath(path))


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
    return write_record(path, record_of(estimator))


def load(path, *, device=None, expected: type | None = None):
    """Read an estimator written by :func:`save` (or a checkpoint's estimator).

    The file is read with ``torch.load(weights_only=True)``, which never executes code.

    Parameters
    ----------
    path : str or path-like
    device : str or torch.device, optional
        Device for the network; default: the training device if available, else the CPU.
    expected : type, optional
        Refuse (ValueError) a file written by another estimator class.

    Returns
    -------
    MultiTaskPETEstimator or MultiTaskPETSurvival
        Of the class that wrote the file, raising what :func:`read_record` raises.
    """
    return _rebuild(read_record(path), device=device, source=os.fspath(path),
                    expected=expected)


@dataclass
class Checkpoint:
    """Deprecated: what :func:`read_checkpoint` returns.

    Attributes
    ----------
    estimator : MultiTaskPETEstimator
        With its network and the fitted attributes present when it was saved.
    optimizer_state : dict or None
    training_state : dict or None
    format_version : int
    """

    estimator: Any
    optimizer_state: dict | None = None
    training_state: dict | None = None
    format_version: int = FORMAT_VERSION


def save_checkpoint(path, estimator, *, optimizer_state: dict | None = None,
                    training_state: dict | None = None) -> str:
    """Deprecated: write an estimator with optimizer and training state.

    A fit writes its checkpoints itself (``checkpoint_path``) and continues them
    (``resume``); models are written with ``estimator.save(path)``.

    Returns
    -------
    str
        ``path``.
    """
    _deprecated("save_checkpoint", "fits write checkpoints through checkpoint_path and "
                "models through estimator.save(path)")
    record = record_of(estimator)
    record.optimizer_state, record.training_state = optimizer_state, training_state
    return write_record(path, record)


def read_checkpoint(path, *, device=None) -> Checkpoint:
    """Deprecated: read a file written by :func:`save_checkpoint` (or :func:`save`).

    A fit continues a checkpoint with ``resume=path``; ``Estimator.load(path)`` reads
    the model it holds and :func:`read_record` everything in it.

    Returns
    -------
    Checkpoint
    """
    _deprecated("read_checkpoint", "use resume=path to continue a run, Estimator.load(path) "
                "for its model or read_record(path) for its contents")
    record = read_record(path)
    estimator = _rebuild(record, device=device, source=os.fspath(path))
    return Checkpoint(estimator, record.optimizer_state, record.training_state,
                      record.format_version)
