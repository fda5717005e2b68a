"""The estimators' hyper-parameter table, checked at the start of ``fit``.

:data:`PARAMETER_CONSTRAINTS` lists every parameter of
:class:`~petmtl._base.MultiTaskPETBase`; an estimator's ``_parameter_constraints`` is this
table merged with its own entries (scikit-learn's convention), and
:func:`validate_params` checks an estimator against its table before any data is read.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
import torch

from .._constraints import (
    Boolean,
    Interval,
    NoneOr,
    Options,
    PathLike,
    Satisfies,
    Shape,
    Spacing,
    check_param,
    check_params,
)
from .._runtime import MEMORY_FORMATS
from ..losses import AUXILIARY_TASKS, TASKS
from ..network import OUTCOME_FEATURES
from ..network.blocks import NORMALIZATIONS
from ..training.callbacks import LR_SCHEDULES

CROP_CENTERS = ("body", "center", "auto", "foreground")
VALIDATION_STRATA = ("outcome", "pathology", "joint")


def _is_device(value) -> bool:
    if isinstance(value, torch.device):
        return True
    if not isinstance(value, str):
        return False
    if value == "auto":
        return True
    try:
        torch.device(value)
    except (RuntimeError, TypeError):
        return False
    return True


DEVICE = [Satisfies(_is_device, "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device")]

CLASS_WEIGHT = [Options("balanced", None),
                Satisfies(lambda w: isinstance(w, dict) and all(
                    isinstance(v, Real) and not isinstance(v, bool) and v > 0
                    for v in w.values()), "a dict of positive class weights")]


AXES = Satisfies(
    lambda v: (isinstance(v, (tuple, list)) and len(set(v)) == len(v)
               and all(isinstance(a, int) and not isinstance(a, bool) and 0 <= a <= 2
                       for a in v)),
    "a tuple of distinct axes among 0, 1, 2")
BURDEN_RULES = ("suv2.5", "suv4.0", "suvmax41")
COLUMN_NAMES = Satisfies(lambda v: isinstance(v, (tuple, list)) and all(
    isinstance(c, str) for c in v), "a tuple of column names")


def _positive(kind):
    noun = "a positive integer" if kind is Integral else "a positive number"
    return Interval(kind, 0, None, closed="neither", description=noun)


PARAMETER_CONSTRAINTS = {
    "lam": [Interval(Real, 0, 1)],
    "outcome_features": [Options(*OUTCOME_FEATURES)],
    "base_width": [Interval(Integral, 1, None)],
    "depth": [Interval(Integral, 2, None)],
    "norm": [Options(*NORMALIZATIONS)],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "segmentation_prior": [NoneOr(Interval(Real, 0, 1, closed="neither"))],
    "outcome_descriptors": [Boolean()],
    "pathology_grid": [Interval(Integral, 1, None)],
    "refit_outcome": [Boolean()],
    "global_pooling": [Options("avg", "avg_max")],
    "peritumoral_mm": [Interval(Real, 0, None)],
    "lesion_burden": [Options(*BURDEN_RULES, None), _positive(Real)],
    "image_column": [Satisfies(lambda v: isinstance(v, str), "a column name (str)",
                               type_error=True)],
    "clinical_fusion": [Options("late", "film")],
    "clinical_categorical": [NoneOr(COLUMN_NAMES)],

    "learning_rate": [_positive(Real)],
    "lr_schedule": [Options(*LR_SCHEDULES, None)],
    "grad_clip": [NoneOr(_positive(Real))],
    "weight_decay": [Interval(Real, 0, None)],
    "weight_averaging": [Options("ema", None)],
    "n_members": [Interval(Integral, 1, None)],
    "tta": [Boolean(), AXES],
    "batch_size": [Interval(Integral, 1, None)],
    "max_epochs": [Interval(Integral, 1, None)],
    "early_stopping": [Boolean()],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "validation_stratify": [Options(*VALIDATION_STRATA)],
    "n_iter_no_change": [Interval(Integral, 1, None)],
    "augment": [Boolean(), AXES],
    "intensity_scale": [Options("auto", None), _positive(Real)],
    "dice_smooth": [_positive(Real)],
    "seg_bce_weight": [Interval(Real, 0, None)],
    "volume_shape": [NoneOr(Shape(3))],
    "device": DEVICE,
    "amp": [Options("auto", True, False)],
    "verbose": [Interval(Integral, 0, None)],
    "random_state": [NoneOr(Interval(Integral, 0, 2**32 - 1)),
                     Satisfies(lambda v: isinstance(v, np.random.RandomState),
                               "a numpy RandomState")],
    "checkpoint_path": [NoneOr(PathLike())],
    "checkpoint_every": [Interval(Integral, 1, None)],
    "warm_start": [Boolean()],
    "resume": [NoneOr(PathLike())],
    "spacing": [Spacing()],
    "input_shape": [Shape(3)],
    "crop_center": [Options(*CROP_CENTERS)],
    "interpolation": [Options("linear", "nearest")],
    "num_workers": [Interval(Integral, 0, None)],
    "cache_dir": [NoneOr(PathLike())],
    "memory_format": [Options(*MEMORY_FORMATS)],
    "distributed": [Options("auto", True, False)],
}


def validate_params(estimator) -> None:
    """Raise a ValueError/TypeError naming the first invalid hyper-parameter.

    Checks each parameter of ``estimator`` against its class's
    ``_parameter_constraints``, then the rules that involve several parameters (tasks,
    loss weights, file paths).
    """
    params = estimator.get_params(deep=False)
    _check_tasks(params["tasks"])
    check_params(params, type(estimator)._parameter_constraints)
    if params["outcome_features"] == "both" and "segmentation" not in params["tasks"]:
        raise ValueError("outcome_features='both' needs the tumour features of the "
                         "segmentation task; add 'segmentation' to tasks or use 'global' "
                         "or 'tumor'")
    _check_task_weights(params["task_weights"])
    _check_paths(params)
    if params["lesion_burden"] is not None and not params["outcome_descriptors"]:
        raise ValueError("lesion_burden adds to the PET descriptors of T4: it needs "
                         "outcome_descriptors=True")
    if params["n_members"] > 1:
        kept = [name for name in ("checkpoint_path", "resume") if params[name] is not None]
        kept += ["warm_start"] if params["warm_start"] else []
        if kept:
            raise ValueError(f"n_members={params['n_members']} (an ensemble) cannot be "
                             f"combined with {kept}: checkpoints and warm starts continue "
                             "one network's run")


def _check_tasks(tasks) -> None:
    if (isinstance(tasks, str) or not isinstance(tasks, (tuple, list))
            or not all(isinstance(t, str) for t in tasks)):
        raise TypeError(f"tasks must be a tuple of task names among {AUXILIARY_TASKS}, "
                        f"got {tasks!r}")
    unknown = [t for t in tasks if t not in AUXILIARY_TASKS]
    if unknown:
        raise ValueError(f"tasks must be auxiliary task names among {AUXILIARY_TASKS} "
                         f"(the outcome task is always on), got unknown {unknown}")


def _check_task_weights(weights) -> None:
    if weights is None:
        return
    if not isinstance(weights, dict):
        raise TypeError(f"task_weights must be None or a dict mapping task names to "
                        f"weights, got {type(weights).__name__}")
    bad = [k for k in weights if k not in TASKS]
    if bad:
        raise ValueError(f"task_weights keys must be among {TASKS}, got {bad}")
    for key, value in weights.items():
        check_param(f"task_weights[{key!r}]", value, Interval(Real, 0, None))


def _check_paths(params: dict) -> None:
    for name in ("checkpoint_path", "resume"):
        value = params[name]
        if value is not None and os.path.isdir(value):
            raise ValueError(f"{name}={os.fspath(value)!r} is a directory; give a file path")
    path = params["checkpoint_path"]
    if path is not None:
        folder = os.path.dirname(os.path.abspath(os.fspath(path)))
        if not os.path.isdir(folder):
            raise ValueError(f"checkpoint_path={os.fspath(path)!r}: folder {folder!r} "
                             "does not exist")
