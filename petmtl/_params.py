"""Validation of the estimator's hyper-parameters (run at the start of ``fit``)."""

from __future__ import annotations

import math
import numbers
import os

from .losses import AUXILIARY_TASKS, TASKS
from .network import OUTCOME_FEATURES
from .network.blocks import NORMALIZATIONS


def _check_number(params: dict, name: str, kind, low, high, *, low_open=False,
                   high_open=False) -> None:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an integer" if kind is numbers.Integral else "a number"
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    below = value <= low if low_open else value < low
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        lo = "(" if low_open else "["
        hi = "inf)" if high is None else (f"{high})" if high_open else f"{high}]")
        raise ValueError(f"{name} must be in {lo}{low}, {hi}, got {value!r}")


def validate_params(params: dict) -> None:
    """Raise a ValueError/TypeError naming the first invalid hyper-parameter."""
    Integral, Real = numbers.Integral, numbers.Real
    _check_number(params, "lam", Real, 0, 1)
    _check_number(params, "base_width", Integral, 1, None)
    _check_number(params, "depth", Integral, 2, None)
    _check_number(params, "dropout", Real, 0, 1, high_open=True)
    _check_number(params, "learning_rate", Real, 0, None, low_open=True)
    _check_number(params, "weight_decay", Real, 0, None)
    _check_number(params, "batch_size", Integral, 1, None)
    _check_number(params, "max_epochs", Integral, 1, None)
    _check_number(params, "validation_fraction", Real, 0, 1, low_open=True, high_open=True)
    _check_number(params, "n_iter_no_change", Integral, 1, None)
    _check_number(params, "dice_smooth", Real, 0, None, low_open=True)
    _check_number(params, "seg_bce_weight", Real, 0, None)
    _check_number(params, "verbose", Integral, 0, None)

    tasks = params["tasks"]
    if (isinstance(tasks, str) or not isinstance(tasks, (tuple, list))
            or not all(isinstance(t, str) for t in tasks)):
        raise TypeError(f"tasks must be a tuple of task names among {AUXILIARY_TASKS}, "
                        f"got {tasks!r}")
    unknown = [t for t in tasks if t not in AUXILIARY_TASKS]
    if unknown:
        raise ValueError(f"tasks must be auxiliary task names among {AUXILIARY_TASKS} "
                         f"(the outcome task is always on), got unknown {unknown}")
    if params["outcome_features"] not in OUTCOME_FEATURES:
        raise ValueError(f"outcome_features must be one of {OUTCOME_FEATURES}, "
                         f"got {params['outcome_features']!r}")
    if params["outcome_features"] == "both" and "segmentation" not in tasks:
        raise ValueError("outcome_features='both' needs the tumour features of the "
                         "segmentation task; add 'segmentation' to tasks or use 'global' "
                         "or 'tumor'")
    if params["norm"] not in NORMALIZATIONS:
        raise ValueError(f"norm must be one of {NORMALIZATIONS}, got {params['norm']!r}")
    weights = params["task_weights"]
    if weights is not None:
        if not isinstance(weights, dict):
            raise TypeError(f"task_weights must be None or a dict mapping task names to "
                            f"weights, got {type(weights).__name__}")
        bad = [k for k in weights if k not in TASKS]
        if bad:
            raise ValueError(f"task_weights keys must be among {TASKS}, got {bad}")
        for key, value in weights.items():
            if (isinstance(value, bool) or not isinstance(value, Real)
                    or not math.isfinite(value) or value < 0):
                raise ValueError(f"task_weights[{key!r}] must be a number >= 0, got {value!r}")
    scale = params["intensity_scale"]
    if not (scale is None or scale == "auto"
            or (isinstance(scale, Real) and not isinstance(scale, bool)
                and math.isfinite(scale) and scale > 0)):
        raise ValueError(f"intensity_scale must be 'auto', None or a positive number, "
                         f"got {scale!r}")
    if params["amp"] not in ("auto", True, False):
        raise ValueError(f"amp must be 'auto', True or False, got {params['amp']!r}")
    shape = params["volume_shape"]
    if shape is not None and (not isinstance(shape, (tuple, list)) or len(shape) != 3 or not all(
            isinstance(s, Integral) and s > 0 for s in shape)):
        raise ValueError(f"volume_shape must be None or 3 positive integers, got {shape!r}")
    if not isinstance(params["augment"], bool):
        raise TypeError(f"augment must be a bool, got {params['augment']!r}")
    if not isinstance(params["early_stopping"], bool):
        raise TypeError(f"early_stopping must be a bool, got {params['early_stopping']!r}")
    _check_checkpointing(params)
    _check_path_input(params)
    memory_format = params.get("memory_format", "auto")
    if memory_format not in ("auto", "channels_last", "contiguous"):
        raise ValueError("memory_format must be 'auto', 'channels_last' or 'contiguous', "
                         f"got {memory_format!r}")


def _check_checkpointing(params: dict) -> None:
    if "checkpoint_every" in params:
        _check_number(params, "checkpoint_every", numbers.Integral, 1, None)
    if not isinstance(params.get("warm_start", False), bool):
        raise TypeError(f"warm_start must be a bool, got {params['warm_start']!r}")
    for name in ("checkpoint_path", "resume"):
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
            raise TypeError(f"{name} must be None or a file path (str or os.PathLike), "
                            f"got {value!r} ({type(value).__name__})")
        if os.path.isdir(value):
            raise ValueError(f"{name}={os.fspath(value)!r} is a directory; give a file path")
    path = params.get("checkpoint_path")
    if path is not None:
        folder = os.path.dirname(os.path.abspath(os.fspath(path)))
        if not os.path.isdir(folder):
            raise ValueError(f"checkpoint_path={os.fspath(path)!r}: folder {folder!r} "
                             "does not exist")


def _check_path_input(params: dict) -> None:
    if "spacing" not in params:
        return
    spacing = params["spacing"]
    values = spacing if isinstance(spacing, (tuple, list)) else (spacing,)
    if len(values) not in (1, 3) or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f"spacing must be a positive number of mm or 3 of them, "
                         f"got {spacing!r}")
    shape = params["input_shape"]
    if not isinstance(shape, (tuple, list)) or len(shape) != 3 or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
            for s in shape):
        raise ValueError(f"input_shape must be 3 positive integers, got {shape!r}")
    center = params["crop_center"]
    if center not in ("body", "center", "auto", "foreground"):
        raise ValueError(f"crop_center must be 'body', 'center', 'auto' or 'foreground', "
                         f"got {center!r}")
    _check_number(params, "num_workers", numbers.Integral, 0, None)
