"""The models a run compares on the same folds: the estimator and a registry of baselines.

Each model is a :class:`Candidate`: an optional ``prepare`` step run once per run on the
whole cohort (e.g. the radiomics features of the reference masks) and a ``run`` step that
fits the model on one fold's training patients and predicts its test patients. A baseline
is added with :func:`register_baseline`. The clinical baselines read the run's covariate
table (``cohort.clinical``) row by row, so the preprocessing is learnt on each fold's
training patients inside the scikit-learn pipelines of :mod:`petmtl.baselines`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from ._predictions import network_input, network_predictions
from ._tabular import (
    prepare_radiomics,
    run_clinical,
    run_radiomics,
    run_radiomics_clinical,
)
from ._task import FoldTask

__all__ = ["BASELINES", "Candidate", "FoldTask", "register_baseline"]


@dataclass(frozen=True)
class Candidate:
    """A model of the comparison.

    Attributes
    ----------
    name : str
    description : str
        One line for the report.
    run : callable
        ``run(task: FoldTask) -> dict`` of per-patient predictions of ``task.test`` with
        at least ``score`` (probability of the positive class, or risk) and, for survival,
        ``survival`` (rows of S(t) at ``task.times``); a network also returns ``history``.
    prepare : callable or None
        ``prepare(estimator, cohort) -> object`` run once per run, passed as
        ``task.prepared``; its value must be picklable and, when it returns a
        ``dict`` with a ``"table"`` entry (``{"columns": [...], "rows": [[...]]}``), that
        table is written to ``<out_dir>/<name>_inputs.csv``.
    saves_model : bool
        Whether ``run`` writes its fitted model to ``task.model_path``.
    requires : tuple of str
        Inputs of :func:`cross_validate_cohort` the model cannot do without (``"masks"``,
        ``"pathology"``, ``"clinical"``), checked before anything is fitted or written.
    """

    name: str
    description: str
    run: Callable
    prepare: Callable | None = None
    saves_model: bool = False
    requires: tuple = ()


def _fit_kwargs(model, cohort, train) -> dict:
    tasks = tuple(model.get_params()["tasks"])
    kwargs = {}
    if "segmentation" in tasks:
        if cohort.masks is None:
            raise ValueError("the estimator has the segmentation task but masks=None; pass "
                             "the masks or set tasks without 'segmentation'")
        kwargs["masks"] = (cohort.masks[train] if cohort.masks.dtype != object
                           else list(cohort.masks[train]))
    if "pathology" in tasks:
        if cohort.pathology is None:
            raise ValueError("the estimator has the pathology task but pathology=None; pass "
                             "the labels or set tasks without 'pathology'")
        kwargs["pathology"] = cohort.pathology[train]
    return kwargs


def _number(value):
    """A history entry as a JSON number (NaN, which JSON lacks, as None)."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return None if not np.isfinite(value) else value


def _fit_network(model, task: FoldTask) -> dict:
    cohort, train = task.cohort, task.train
    model.set_params(random_state=task.seed, verbose=0)
    model.fit(network_input(model, cohort, train), cohort.y[train],
              **_fit_kwargs(model, cohort, train))
    out = network_predictions(model, cohort, task.test, task.times)
    out["history"] = [{k: _number(v) for k, v in row.items()} for row in model.history_]
    out["best_epoch"] = int(model.best_epoch_)
    if task.model_path is not None:
        model.save(task.model_path)
    return out


def run_estimator(task: FoldTask) -> dict:
    """The run's own estimator, cloned."""
    return _fit_network(clone(task.estimator), task)


def run_single_task(task: FoldTask) -> dict:
    """The same network with the outcome task alone: a plain 3-D CNN of the PET.

    What needs another task or the PET descriptors is switched off with them (lesion
    burden; a validation split stratified by the pathology)."""
    model = clone(task.estimator).set_params(tasks=(), outcome_features="global",
                                             outcome_descriptors=False, lesion_burden=None,
                                             validation_stratify="outcome")
    return _fit_network(model, task)


BASELINES: dict[str, Candidate] = {
    "radiomics": Candidate(
        "radiomics", "SUVmax, SUVmean, MTV and TLG of the reference mask, log1p, "
        "standardised, then logistic regression (binary) or an L2 Cox model (survival)",
        run_radiomics, prepare=prepare_radiomics, requires=("masks",)),
    "clinical": Candidate(
        "clinical", "the clinical covariates alone: median imputation with missing "
        "indicators and standardisation (numeric), one-hot with a missing level "
        "(categorical), then logistic regression (binary) or an L2 Cox model (survival)",
        run_clinical, requires=("clinical",)),
    "radiomics+clinical": Candidate(
        "radiomics+clinical", "the radiomics features (log1p, standardised) beside the "
        "preprocessed clinical covariates, then logistic regression (binary) or an L2 Cox "
        "model (survival)", run_radiomics_clinical, prepare=prepare_radiomics,
        requires=("masks", "clinical")),
    "single-task": Candidate(
        "single-task", "the same network with the outcome task alone (tasks=(), global "
        "features, no PET descriptors)", run_single_task, saves_model=True),
}
"""Baselines that ``compare=`` can name; extend with :func:`register_baseline`."""


def register_baseline(name: str, run: Callable, *, description: str,
                      prepare: Callable | None = None, saves_model: bool = False,
                      requires: Sequence[str] = ()) -> Candidate:
    """Add a baseline that :func:`cross_validate_cohort` can compare on the same folds.

    Parameters
    ----------
    name : str
        The name ``compare=`` (and ``petmtl cv --compare``) uses.
    run : callable
        ``run(task: FoldTask) -> dict`` (see :class:`Candidate`). Must be picklable (a
        module-level function) for ``n_jobs > 1``.
    description : str
        One line describing the model, shown in the report.
    prepare : callable, optional
        ``prepare(estimator, cohort)`` run once per run (see :class:`Candidate`).
    saves_model : bool, default=False
        Whether ``run`` saves its model to ``task.model_path``.
    requires : sequence of str, default=()
        Inputs the baseline needs among ``"masks"``, ``"pathology"`` and ``"clinical"``;
        a run that compares it without them is refused before any fit.

    Returns
    -------
    Candidate
    """
    if (not isinstance(name, str) or not name or name == "petmtl"
            or any(c in name for c in "/,\\")):
        raise ValueError(f"name must be a non-empty str other than 'petmtl', without '/', "
                         f"',' or '\\', got {name!r}")
    if not callable(run):
        raise TypeError(f"run must be callable, got {type(run).__name__}")
    requires = (requires,) if isinstance(requires, str) else tuple(requires)
    unknown = [r for r in requires if r not in REQUIREMENTS]
    if unknown:
        raise ValueError(f"requires must name inputs among {sorted(REQUIREMENTS)}, got "
                         f"{unknown}")
    candidate = Candidate(name, description, run, prepare=prepare, saves_model=saves_model,
                          requires=requires)
    BASELINES[name] = candidate
    return candidate


MAIN = Candidate("petmtl", "the estimator of the run", run_estimator, saves_model=True)


REQUIREMENTS = {
    "masks": "the reference masks (masks=)",
    "pathology": "the pathology labels (pathology=)",
    "clinical": "clinical covariates (clinical=, a DataFrame with one row per patient; "
                "petmtl cv --clinical COLUMNS)",
}
"""What a baseline can require, as the error names it."""


def check_requirements(candidates, cohort) -> None:
    """Refuse a comparison whose baselines lack an input they need.

    Raises
    ------
    ValueError
        Naming the baseline and the missing input.
    """
    for candidate in candidates:
        for need in candidate.requires:
            if getattr(cohort, need) is None:
                raise ValueError(f"compare names {candidate.name!r}, which needs "
                                 f"{REQUIREMENTS[need]}; none was given")
