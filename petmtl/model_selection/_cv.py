"""Repeated cross-validation of a petmtl estimator and baselines on one cohort."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from tqdm.auto import tqdm

from ._candidates import BASELINES, MAIN, FoldTask, check_requirements
from ._clinical import covariate_kinds
from ._data import check_cohort
from ._files import read_json, write_atomic, write_json
from ._pooling import pool, pooled_metrics, write_predictions
from ._record import describe, environment, run_settings, survival_times
from ._splits import make_splits, repeat_seed
from ._store import FORMAT, RunFolder, run_key

__all__ = ["CVResult", "cross_validate_cohort"]


@dataclass
class CVResult:
    """What :func:`cross_validate_cohort` returns.

    Attributes
    ----------
    out_dir : str
        The run's folder.
    metrics : dict
        The content of ``metrics.json``.
    predictions_path : str
        ``predictions.csv``: every out-of-fold prediction.
    n_run : int
        (model, repeat, fold) results computed by this call.
    n_reused : int
        Results found in ``out_dir`` from an earlier (interrupted) call.
    """

    out_dir: str
    metrics: dict
    predictions_path: str
    n_run: int
    n_reused: int


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _candidates(compare) -> list:
    if isinstance(compare, str):
        compare = [c for c in compare.split(",") if c]
    names = list(compare)
    unknown = [c for c in names if c not in BASELINES]
    if unknown:
        raise ValueError(f"compare names unknown baseline(s) {unknown}; known: "
                         f"{sorted(BASELINES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"compare lists a baseline twice: {names}")
    return [MAIN, *(BASELINES[c] for c in names)]


def _execute(job) -> dict:
    """Fit and predict one (model, repeat, fold) and write its result file."""
    candidate, task, path, meta = job
    start = time.perf_counter()
    result = candidate.run(task)
    result.update(meta, test=[int(i) for i in task.test],
                  patient_id=list(task.cohort.ids[task.test]),
                  seconds=time.perf_counter() - start)
    write_json(path, result)
    return meta


def _jobs(folder, run, candidates, estimator, cohort, splits, prepared, times):
    """The (model, repeat, fold) results still to compute, and the number found done."""
    jobs, reused = [], 0
    for repeat, tests in enumerate(splits):
        for fold, test in enumerate(tests):
            train = np.setdiff1d(np.arange(len(cohort)), test)
            for c in candidates:
                key = run_key(run, c.name, repeat, fold)
                if folder.read_fold(c.name, repeat, fold, key) is not None:
                    reused += 1
                    continue
                model_path = folder.model_path(c.name, repeat, fold) if c.saves_model else None
                if model_path is not None:
                    os.makedirs(os.path.dirname(model_path), exist_ok=True)
                task = FoldTask(estimator, cohort, train, np.asarray(test),
                                repeat_seed(run["settings"]["random_state"], repeat),
                                np.asarray(times), prepared.get(c.name), model_path)
                meta = {"model": c.name, "repeat": repeat, "fold": fold, "key": key,
                        "model_file": None if model_path is None else
                        os.path.relpath(model_path, folder.root)}
                jobs.append((c, task, folder.fold_path(c.name, repeat, fold), meta))
    return jobs, reused


def _run_jobs(jobs, n_jobs, bar) -> None:
    if n_jobs is None or n_jobs == 1 or len(jobs) <= 1:
        for job in jobs:
            _execute(job)
            bar.update(1)
        return
    from joblib import Parallel, delayed

    try:
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    except (TypeError, ValueError):  # joblib < 1.4: results arrive all at once
        parallel = Parallel(n_jobs=n_jobs)
    for _ in parallel(delayed(_execute)(job) for job in jobs):
        bar.update(1)


def _write_table(folder, name: str, table: dict) -> None:
    lines = [",".join(["patient_index", *table["columns"]])]
    lines += [",".join([str(i), *("" if np.isnan(v) else repr(float(v)) for v in row)])
              for i, row in enumerate(table["rows"])]
    write_atomic(folder.path(f"{name}_inputs.csv"), ("\n".join(lines) + "\n").encode())


def _prepare(folder, candidates, estimator, cohort) -> dict:
    prepared, done = {}, {}
    for c in candidates:
        if c.prepare is not None:
            if c.prepare not in done:  # e.g. the radiomic features of two baselines
                done[c.prepare] = c.prepare(estimator, cohort)
            prepared[c.name] = done[c.prepare]
            if isinstance(prepared[c.name], dict) and "table" in prepared[c.name]:
                _write_table(folder, c.name, prepared[c.name]["table"])
    return prepared


def finish(folder: RunFolder, run: dict) -> tuple[dict, str]:
    """Pool the fold files of a finished run; write ``predictions.csv`` and ``metrics.json``."""
    settings, n = run["settings"], run["cohort"]["n"]
    pooled = {}
    for name in ["petmtl", *settings["compare"]]:
        results = {(r, k): read_json(folder.fold_path(name, r, k))
                   for r in range(settings["n_repeats"]) for k in range(settings["n_splits"])}
        pooled[name] = pool(results, n, settings["n_repeats"], len(settings["times"] or []))
    path = write_predictions(folder.path("predictions.csv"), run, pooled)
    metrics = pooled_metrics(pooled, run, n_resamples=settings["n_resamples"],
                             random_state=settings["random_state"])
    write_json(folder.path("metrics.json"), metrics)
    return metrics, path


def cross_validate_cohort(
    estimator,
    X,
    y,
    *,
    masks=None,
    pathology=None,
    groups=None,
    centre=None,
    patient_ids: Sequence[str] | None = None,
    n_splits: int = 5,
    n_repeats: int = 2,
    compare: Sequence[str] = (),
    out_dir,
    random_state: int = 0,
    horizons=None,
    spacing=None,
    n_resamples: int = 2000,
    n_jobs: int | None = None,
    verbose: int = 1,
    manifest: str | None = None,
    suv_provenance: str | None = None,
    clinical=None,
) -> CVResult:
    """Repeated cross-validation of a petmtl estimator, with baselines on the same folds.

    Every model (the estimator, named ``"petmtl"``, and the baselines of ``compare``) is
    fitted on the training patients of every fold of every repeat and predicts the
    held-out patients; each (model, repeat, fold) result is written to ``out_dir`` as
    soon as it is done, so a run that is killed continues at the next unfinished fold
    when called again with the same arguments. At the end the out-of-fold predictions are
    pooled per patient (``predictions.csv``) and scored (``metrics.json``): ROC AUC and
    Brier score (binary), Harrell's C and the integrated Brier score (survival), Dice,
    HD95 and pathology accuracy, each per repeat and averaged over repeats with a 95 %
    percentile bootstrap interval over patients, and the paired bootstrap difference of
    the estimator's AUC or C-index to each baseline's. ``petmtl report`` turns the folder
    into a validation report.

    Parameters
    ----------
    estimator : MultiTaskPETEstimator or MultiTaskPETSurvival
        The model to validate (unfitted; it is cloned for every fold). Its
        ``random_state`` is replaced by the repeat's seed, ``random_state + repeat``.
    X : array-like of shape (n, x, y, z) or sequence of NIfTI paths (or DICOM folders)
        PET volumes in RAS+ voxel order (as the estimators take them); the clinical
        covariates come separately, as ``clinical``.
    y : array-like of shape (n,) or structured array
        Binary outcome (-1 or None for unknown) or, for a survival estimator, the
        (event, time) array of :func:`petmtl.survival.make_survival_y`. Patients with an
        unknown outcome are trained on (the other tasks) and predicted, not scored.
    masks : array-like or sequence, optional
        Reference tumour masks (arrays like X, or paths; None for unannotated patients):
        trained on when the estimator has the segmentation task, and the reference of
        Dice, HD95 and MTV.
    pathology : array-like of shape (n,), optional
        Pathology labels (None for unknown).
    groups : array-like of shape (n,), optional
        Keep each group (e.g. the centre) in one fold
        (:class:`~sklearn.model_selection.StratifiedGroupKFold`).
    centre : array-like of shape (n,), optional
        Centre of each patient, kept for the report's per-centre results.
    patient_ids : sequence of str, optional
        Default ``patient-0000``, ``patient-0001``, ...
    n_splits, n_repeats : int, default=5, 2
        Folds per repeat and repeats (each repeat shuffles with its own seed).
    compare : sequence of str, default=()
        Baselines fitted on the same folds: ``"radiomics"`` (SUVmax, SUVmean, MTV and TLG
        of the reference mask + logistic regression or Cox model), ``"clinical"`` (the
        covariates of ``clinical`` alone, :func:`petmtl.baselines.clinical_classifier`
        or :func:`~petmtl.baselines.clinical_cox`), ``"radiomics+clinical"`` (both,
        :func:`~petmtl.baselines.radiomics_clinical_classifier` or
        :func:`~petmtl.baselines.radiomics_clinical_cox`), ``"single-task"`` (the same
        network with the outcome task alone), or any name added with
        :func:`register_baseline`. A comma-separated str is accepted. A baseline whose
        inputs (masks, covariates) are not given is refused before any fit.
    out_dir : str or path-like
        Folder of the run (created; an existing run there is resumed).
    random_state : int, default=0
        Seed of the folds (repeat ``r`` uses ``random_state + r``), of the networks and of
        the bootstrap.
    horizons : sequence of float, optional
        Survival: times at which survival is predicted and calibrated; default the
        quartiles of the event times.
    spacing : float or sequence of 3 float, optional
        Voxel size (mm) of volumes given as arrays, for MTV, HD95 and radiomics; default
        the estimator's ``spacing``.
    n_resamples : int, default=2000
        Bootstrap resamples of every interval.
    n_jobs : int or None, default=None
        Fit this many folds at once in separate processes (joblib; a
        ``joblib.parallel_backend("dask")`` block sends them to a Dask cluster). Each
        process holds its own network and batches, so memory grows with ``n_jobs``.
    verbose : int, default=1
        0: silent; 1: a progress bar over the folds.
    manifest : str, optional
        The manifest the cohort was read from, recorded for the report.
    suv_provenance : str, optional
        How the SUV was obtained (e.g. "body-weight SUV from the scanner's DICOM"),
        recorded for the report's model card.
    clinical : pandas.DataFrame, optional
        Clinical covariates, one row per patient in the order of X (numbers and
        categories, NaN where missing). The estimator (and ``"single-task"``) then gets X
        as a table of the volumes (column ``image_column``) and these columns, fold by
        fold, and learns their preprocessing on each fold's training patients; the
        ``"clinical"`` and ``"radiomics+clinical"`` baselines can be compared. A rerun
        with other covariates is refused like other changes. The run folder keeps no
        patient's covariate value: ``cv.json`` holds their names, types, missing counts,
        the levels of categorical ones with their counts, the quartiles of numeric ones
        and a digest of the table; the fold networks hold the preprocessing learnt on
        their training patients (medians, means, standard deviations, levels).

    Returns
    -------
    CVResult

    Raises
    ------
    ValueError
        If an argument is invalid, or ``out_dir`` holds a run with other settings or data
        (the message lists the differences).
    """
    from ..survival import MultiTaskPETSurvival

    n_splits = _check_int("n_splits", n_splits, 2)
    n_repeats = _check_int("n_repeats", n_repeats, 1)
    random_state = _check_int("random_state", random_state, 0)
    n_resamples = _check_int("n_resamples", n_resamples, 1)
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral)):
        raise ValueError(f"n_jobs must be None or an int, got {n_jobs!r}")
    candidates = _candidates(compare)
    survival = isinstance(estimator, MultiTaskPETSurvival)
    params = estimator.get_params()
    cohort = check_cohort(X, y, survival=survival, masks=masks, pathology=pathology,
                          groups=groups, centre=centre, patient_ids=patient_ids,
                          spacing=params["spacing"] if spacing is None else spacing,
                          clinical=clinical, image_column=params["image_column"])
    check_requirements(candidates, cohort)
    kinds = (None if cohort.clinical is None
             else covariate_kinds(cohort.clinical, params["clinical_categorical"]))
    horizons, times = survival_times(cohort, horizons) if survival else (None, None)
    splits = make_splits(cohort.strata(), cohort.groups, n_splits, n_repeats, random_state)
    run = {"format": FORMAT,
           "settings": run_settings(estimator, cohort, candidates, n_splits, n_repeats,
                                    random_state, times, horizons, n_resamples,
                                    groups is not None, kinds),
           "cohort": describe(cohort, manifest, suv_provenance, kinds),
           "splits": [[t.tolist() for t in tests] for tests in splits],
           "environment": environment()}
    folder = RunFolder(out_dir)
    folder.open(run)
    prepared = _prepare(folder, candidates, estimator, cohort)
    jobs, reused = _jobs(folder, run, candidates, estimator, cohort, splits, prepared, times)
    total = len(jobs) + reused
    if verbose and reused:
        print(f"petmtl cv: {reused} of {total} fold results found in {folder.root}; "
              f"running the other {len(jobs)}", file=sys.stderr)
    with tqdm(total=total, initial=reused, desc="petmtl cv", unit="fold",
              disable=not verbose, file=sys.stderr) as bar:
        _run_jobs(jobs, n_jobs, bar)
    metrics, path = finish(folder, run)
    return CVResult(folder.root, metrics, path, len(jobs), reused)
