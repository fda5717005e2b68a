"""Reading a finished run back, and evaluating a fitted model on a test cohort the same way."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ._candidates import MAIN, Candidate, FoldTask, _number
from ._clinical import fitted_kinds
from ._cv import _execute, finish
from ._data import check_cohort
from ._files import read_json
from ._pooling import pool
from ._record import describe, environment, run_settings, survival_times
from ._store import FORMAT, RunFolder, run_key

__all__ = ["CVRun", "evaluate_model", "read_cv_results"]


@dataclass
class CVRun:
    """A finished run folder, read back.

    Attributes
    ----------
    folder : str
    kind : {"cross-validation", "holdout"}
    settings : dict
        The run's settings (``cv.json``).
    cohort : dict
        The patients: ids, outcomes, pathology, centre, paths (``cv.json``).
    splits : list of list of list of int
        Test indices of every fold of every repeat.
    metrics : dict
        ``metrics.json``.
    predictions : dict
        Per model: per-patient arrays of shape ``(n, n_repeats)`` (``score``, ``fold``,
        ``label``, ``pathology``, ``dice``, ``hd95``, ``mtv_reference_ml``,
        ``mtv_predicted_ml``; None when absent) and ``survival`` ``(n, n_repeats,
        n_times)``.
    folds : dict
        Per model, ``{(repeat, fold): result}`` as written in the fold files (with
        ``history`` and ``model_file`` for networks).
    environment : dict
        Versions of the software that ran it.
    """

    folder: str
    kind: str
    settings: dict
    cohort: dict
    splits: list
    metrics: dict
    predictions: dict
    folds: dict
    environment: dict

    def model_file(self, model: str, repeat: int, fold: int) -> str | None:
        """Absolute path of a fold's saved network, or None."""
        name = self.folds[model][(repeat, fold)].get("model_file")
        return None if name is None else os.path.join(self.folder, name)

    def fold_of(self, patient: int, repeat: int = 0) -> int:
        """The fold in which ``patient`` (a row index) was held out in ``repeat``."""
        return int(self.predictions["petmtl"]["fold"][patient, repeat])


def read_cv_results(out_dir) -> CVRun:
    """Read the folder of a finished :func:`cross_validate_cohort` or :func:`evaluate_model`.

    Parameters
    ----------
    out_dir : str or path-like

    Returns
    -------
    CVRun

    Raises
    ------
    FileNotFoundError
        If the folder holds no run, or the run is not finished (``metrics.json`` is
        written last; rerun the command to finish it).
    """
    folder = RunFolder(out_dir)
    run = folder.read_settings()
    if not os.path.isfile(folder.path("metrics.json")):
        raise FileNotFoundError(f"{folder.root} holds an unfinished run (no metrics.json); "
                                "run the same petmtl cv command again to finish it")
    settings = run["settings"]
    n, repeats, times = run["cohort"]["n"], settings["n_repeats"], settings["times"] or []
    predictions, folds = {}, {}
    for name in ["petmtl", *settings["compare"]]:
        folds[name] = {(r, k): read_json(folder.fold_path(name, r, k))
                       for r in range(repeats) for k in range(settings["n_splits"])}
        predictions[name] = pool(folds[name], n, repeats, len(times))
    return CVRun(folder.root, run.get("kind", "cross-validation"), settings, run["cohort"],
                 run["splits"], read_json(folder.path("metrics.json")), predictions, folds,
                 run.get("environment", {}))


def evaluate_model(
    estimator,
    X,
    y,
    *,
    out_dir,
    masks=None,
    pathology=None,
    centre=None,
    patient_ids=None,
    horizons=None,
    spacing=None,
    n_resamples: int = 2000,
    random_state: int = 0,
    manifest: str | None = None,
    suv_provenance: str | None = None,
    clinical=None,
) -> CVRun:
    """Evaluate a fitted estimator on a test cohort, in the layout of a cross-validation run.

    The predictions of every head, the metrics with bootstrap intervals and a copy of the
    model are written to ``out_dir`` as one fold of one repeat, so that
    :func:`petmtl.report.build_report` reads it like a cross-validation folder. A folder
    holding an earlier evaluation is overwritten; one holding a cross-validation run is
    refused.

    Parameters
    ----------
    estimator : fitted MultiTaskPETEstimator or MultiTaskPETSurvival
    X, y, masks, pathology, centre, patient_ids, horizons, spacing, n_resamples,
    random_state, manifest, suv_provenance
        As for :func:`cross_validate_cohort`; all patients are test patients.
    out_dir : str or path-like
    clinical : pandas.DataFrame, optional
        The covariates of the test patients (one row per patient, in the order of X), for
        a model fitted with clinical covariates: the columns it was fitted on are used.

    Returns
    -------
    CVRun
    """
    from .. import MultiTaskPETSurvival

    survival = isinstance(estimator, MultiTaskPETSurvival)
    params = estimator.get_params()
    clinical, kinds = _fitted_covariates(estimator, clinical)
    cohort = check_cohort(X, y, survival=survival, masks=masks, pathology=pathology,
                          centre=centre, patient_ids=patient_ids,
                          spacing=params["spacing"] if spacing is None else spacing,
                          clinical=clinical, image_column=params["image_column"])
    horizons, times = survival_times(cohort, horizons) if survival else (None, None)
    folder = RunFolder(out_dir)
    if os.path.isfile(folder.settings_path):
        if read_json(folder.settings_path).get("kind") != "holdout":
            raise ValueError(f"out_dir {folder.root} holds a cross-validation run; choose "
                             "another folder for the evaluation")
        os.remove(folder.settings_path)
    run = {"format": FORMAT, "kind": "holdout",
           "settings": run_settings(estimator, cohort, [MAIN], 1, 1, random_state, times,
                                    horizons, n_resamples, False, kinds),
           "cohort": describe(cohort, manifest, suv_provenance, kinds),
           "splits": [[list(range(len(cohort)))]], "environment": environment()}
    folder.open(run)
    model_path = folder.model_path("petmtl", 0, 0)
    os.makedirs(os.path.dirname(model_path), exist_ok=True)
    estimator.save(model_path)
    task = FoldTask(estimator, cohort, np.array([], dtype=int), np.arange(len(cohort)),
                    random_state, np.asarray(times if times else []), None, None)
    meta = {"model": "petmtl", "repeat": 0, "fold": 0, "key": run_key(run, "petmtl", 0, 0),
            "model_file": os.path.relpath(model_path, folder.root)}
    _execute((_HOLDOUT, task, folder.fold_path("petmtl", 0, 0), meta))
    finish(folder, run)
    return read_cv_results(folder.root)


def _fitted_covariates(estimator, clinical):
    """The covariate columns a fitted model reads, taken from ``clinical``, and their types.

    Raises
    ------
    ValueError
        If the model was fitted with covariates and ``clinical`` lacks some, or fitted
        without and ``clinical`` is given.
    """
    preprocessor = getattr(estimator, "clinical_preprocessor_", None)
    if preprocessor is None:
        if clinical is not None:
            raise ValueError("clinical is given but the model was fitted without clinical "
                             "covariates; pass clinical=None")
        return None, None
    kinds = fitted_kinds(preprocessor)
    if clinical is None:
        raise ValueError(f"the model was fitted with clinical covariates {list(kinds)}; "
                         "pass them as clinical= (one row per test patient)")
    if not hasattr(clinical, "columns"):
        raise TypeError(f"clinical must be a pandas DataFrame, got {type(clinical).__name__}")
    absent = [c for c in kinds if c not in clinical.columns]
    if absent:
        raise ValueError(f"clinical lacks the covariate(s) {absent} the model was fitted "
                         f"on; columns given: {list(clinical.columns)}")
    return clinical[list(kinds)], kinds


def _predict_fitted(task: FoldTask) -> dict:
    from ._predictions import network_predictions

    model = task.estimator
    out = network_predictions(model, task.cohort, task.test, task.times)
    out["history"] = [{k: _number(v) for k, v in row.items()}
                      for row in getattr(model, "history_", [])]
    out["best_epoch"] = _number(getattr(model, "best_epoch_", None))
    return out


_HOLDOUT = Candidate("petmtl", "the fitted model", _predict_fitted)
