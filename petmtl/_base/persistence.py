"""How a fitted estimator is kept: model records, legacy files and weights on a device.

The estimator writes itself as a :mod:`petmtl.serialization` record (tensors plus JSON)
and rebuilds itself from one (:meth:`~petmtl._base.MultiTaskPETBase.save`,
:meth:`~petmtl._base.MultiTaskPETBase.load`); these functions do the parts that need no
estimator: recording, reading old files' parameters and attributes, loading weights.
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import nn

from .. import serialization
from .._runtime import resolve_memory_format

LEGACY_PARAMS = {"outcome_descriptors": False, "pathology_grid": 1, "class_weight": None,
                 "early_stopping_score": "loss", "refit_outcome": False,
                 "global_pooling": "avg", "peritumoral_mm": 0.0, "lr_schedule": None,
                 "grad_clip": None, "lesion_burden": None, "image_column": "image",
                 "clinical_fusion": "late", "clinical_categorical": None,
                 "weight_averaging": None, "n_members": 1, "tta": False}
"""What a model file written before a parameter existed meant by its absence."""


def record_of(estimator, *, weights: bool = True) -> serialization.ModelRecord:
    """The estimator's :class:`~petmtl.serialization.ModelRecord`, paths stored as str.

    A ``random_state`` that is a RandomState instance is stored as None (silently: the
    model file describes the fitted network, which no longer depends on it).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        record = serialization.record_of(estimator, weights=weights)
    for name in ("checkpoint_path", "resume", "cache_dir"):
        if record.params.get(name) is not None:
            record.params[name] = os.fspath(record.params[name])
    return record


def params_of_record(record: serialization.ModelRecord, valid: dict, *,
                     source: str) -> dict:
    """The constructor parameters a record describes (older files' missing ones filled).

    Parameters
    ----------
    record : ModelRecord
    valid : dict
        The class's ``get_params()``: its parameter names.
    source : str
        Named in errors (the file path).
    """
    unknown = sorted(set(record.params) - set(valid))
    if unknown:
        raise ValueError(f"{source} has parameters {unknown} that this petmtl version does "
                         "not know; upgrade petmtl to read it")
    params = {**LEGACY_PARAMS, **record.params}
    return {k: v for k, v in params.items() if k in valid}


def attributes_of_record(record: serialization.ModelRecord) -> dict:
    """The fitted attributes of a record, those of petmtl 0.1 files under today's names."""
    attributes = dict(record.attributes)
    if "n_outcome_outputs_" not in attributes and "volume_shape_" in attributes:
        bins = attributes.get("time_bins_")
        attributes["n_outcome_outputs_"] = 1 if bins is None else len(bins) - 1
    return attributes


def member_states(state_dict: dict, n_members: int) -> list[dict]:
    """The state dict of each ensemble member (see :func:`record_of`); one for a model."""
    if n_members == 1:
        return [state_dict]
    states = [{} for _ in range(n_members)]
    for key, value in state_dict.items():
        _, k, name = key.split(".", 2)
        states[int(k)][name] = value
    return states


def load_weights(module: nn.Module, state_dict: dict, *, saved_device: torch.device, device,
                 memory_format: str, source: str) -> tuple[nn.Module, torch.device]:
    """Load ``state_dict`` into ``module`` and move it to its device, in fit's layout.

    ``device=None`` keeps the training device when it is available here, else the CPU.
    Returns the module (in evaluation mode) and its device.
    """
    if device is None:
        usable = saved_device.type != "cuda" or torch.cuda.is_available()
        target = saved_device if usable else torch.device("cpu")
    else:
        target = torch.device(device)
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as exc:
        raise ValueError(f"{source}: the stored weights do not match the network "
                         f"described by its parameters ({str(exc).splitlines()[0]})"
                         ) from None
    # The same layout as in fit: convolution kernels differ between layouts in the
    # last bits, and a loaded model must predict exactly as the saved one did.
    layout = resolve_memory_format(memory_format, target)
    return module.to(target, memory_format=layout).eval(), target


def update_checkpoint(path, state_dict: dict, **attributes) -> None:
    """Replace a checkpoint's weights and add fitted attributes (after the refit of T4)."""
    record = serialization.read_record(path)
    record.state_dict = {k: v.detach().to("cpu", copy=True) for k, v in state_dict.items()}
    record.attributes.update(attributes)
    serialization.write_record(path, record)
