"""petmtl.model_selection.cross_validate_cohort: files, pooled metrics, resuming, baselines."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import directed_hausdorff

from petmtl import MultiTaskPETEstimator
from petmtl.baselines import radiomics_classifier
from petmtl.datasets import make_pet_cohort
from petmtl.model_selection import (
    BASELINES,
    cross_validate_cohort,
    hausdorff_distance,
    read_cv_results,
    register_baseline,
)

from . import _cv_reference
from .conftest import one_torch_thread, wait_for_file

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(base_width=2, depth=2, max_epochs=1, refit_outcome=False)


one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


@pytest.fixture(scope="module")
def cohort():
    return make_pet_cohort(24, shape=(16, 16, 16), spacing=8.0, random_state=0)


@pytest.fixture(scope="module")
def binary_run(cohort, tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("cv") / "run"
    result = cross_validate_cohort(
        MultiTaskPETEstimator(**TINY), cohort.X, cohort.y, masks=cohort.masks,
        pathology=cohort.pathology, n_splits=2, n_repeats=2, compare=["radiomics"],
        out_dir=out, spacing=8.0, n_resamples=50, verbose=0)
    return result


def _rows(folder) -> list[dict]:
    with open(Path(folder) / "predictions.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_pooled_metrics_and_intervals_are_reproduced_from_the_written_files(binary_run):
    # sklearn's AUC and Brier score on predictions.csv, numpy's bootstrap: bit for bit
    assert _cv_reference.compare(binary_run.out_dir, atol=0.0) == 2 * 2 * 9 + 4
    metrics = binary_run.metrics["models"]["petmtl"]
    assert {"auc", "brier", "mean_dice", "pathology_accuracy"} <= set(metrics)
    assert binary_run.metrics["differences"][0]["reference"] == "radiomics"


def test_predictions_hold_every_head_per_patient_model_and_repeat(binary_run, cohort):
    rows = _rows(binary_run.out_dir)
    assert len(rows) == 2 * 2 * 24
    run = json.loads((Path(binary_run.out_dir) / "cv.json").read_text())
    for row in rows:
        i = run["cohort"]["ids"].index(row["patient_id"])
        assert i in run["splits"][int(row["repeat"])][int(row["fold"])]
        assert row["outcome"] == str(cohort.y[i])
        assert 0.0 <= float(row["score"]) <= 1.0
        if row["model"] == "petmtl":
            assert row["predicted_pathology"] in ("lung", "esophagus")
            assert 0.0 <= float(row["dice"]) <= 1.0
            assert float(row["mtv_reference_ml"]) == pytest.approx(
                cohort.masks[i].sum() * 0.512)
        else:
            assert row["dice"] == row["predicted_pathology"] == ""
    for r in (0, 1):  # each repeat holds every patient out exactly once
        held = sorted(i for fold in run["splits"][r] for i in fold)
        assert held == list(range(24))


def test_folds_are_stratified_by_outcome(binary_run, cohort):
    run = read_cv_results(binary_run.out_dir)
    for tests in run.splits:
        positives = [int(cohort.y[t].sum()) for t in tests]
        assert max(positives) - min(positives) <= 1


def test_a_fold_model_reproduces_its_written_predictions(binary_run, cohort):
    run = read_cv_results(binary_run.out_dir)
    model = MultiTaskPETEstimator.load(run.model_file("petmtl", 1, 0))
    test = run.splits[1][0]
    written = run.folds["petmtl"][(1, 0)]
    assert written["test"] == test
    np.testing.assert_array_equal(model.predict_proba(cohort.X[test])[:, 1], written["score"])
    pred = model.segment(cohort.X[test]).astype(bool)
    ref = cohort.masks[test].astype(bool)
    overlap = (pred & ref).sum(axis=(1, 2, 3))
    total = pred.sum(axis=(1, 2, 3)) + ref.sum(axis=(1, 2, 3))
    dice = np.where(total == 0, 1.0, 2 * overlap / np.maximum(total, 1))
    np.testing.assert_allclose(written["dice"], dice)
    assert len(written["history"]) == 1 and written["best_epoch"] == 1


def test_radiomics_baseline_is_fitted_on_the_same_folds(binary_run, cohort):
    run = read_cv_results(binary_run.out_dir)
    with open(Path(binary_run.out_dir) / "radiomics_inputs.csv", newline="") as f:
        features = np.array([[float(v) for v in list(row.values())[1:]]
                             for row in csv.DictReader(f)])
    for (repeat, fold), result in run.folds["radiomics"].items():
        test = np.asarray(run.splits[repeat][fold])
        train = np.setdiff1d(np.arange(24), test)
        model = radiomics_classifier(random_state=repeat).fit(features[train],
                                                              cohort.y[train])
        np.testing.assert_allclose(model.predict_proba(features[test])[:, 1],
                                   result["score"], rtol=1e-12)


@pytest.mark.slow  # about 10 s: a subprocess imports torch and fits, then two runs here
def test_a_killed_run_resumes_at_the_next_fold(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "_cv_until_killed.py"),
                             str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first = out / "folds" / "petmtl" / "r0-f0.json"
    try:
        wait_for_file(first, proc, timeout=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "metrics.json").exists()
    done = sorted(p.name for p in (out / "folds" / "petmtl").glob("*.json"))
    stamps = {name: (out / "folds" / "petmtl" / name).stat().st_mtime_ns for name in done}

    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from _cv_until_killed import run
    finally:
        sys.path.pop(0)
    resumed = run(str(out))
    assert resumed.n_reused == len(done) == 1 and resumed.n_run == 1
    for name, stamp in stamps.items():  # finished folds were not fitted again
        assert (out / "folds" / "petmtl" / name).stat().st_mtime_ns == stamp

    fresh = run(str(tmp_path / "uninterrupted"))
    assert fresh.n_reused == 0
    assert resumed.metrics == fresh.metrics
    a, b = read_cv_results(out), read_cv_results(tmp_path / "uninterrupted")
    for key, fold in a.folds["petmtl"].items():
        other = b.folds["petmtl"][key]
        for name in ("test", "score", "label", "pathology", "dice", "history"):
            if name == "history":
                strip = [{k: v for k, v in r.items() if k != "duration"} for r in fold[name]]
                assert strip == [{k: v for k, v in r.items() if k != "duration"}
                                 for r in other[name]]
            else:
                assert fold[name] == other[name], name
    assert (out / "predictions.csv").read_text() == (
        tmp_path / "uninterrupted" / "predictions.csv").read_text()


def test_a_rerun_with_other_settings_or_data_is_refused(binary_run, cohort):
    est = MultiTaskPETEstimator(**TINY)
    common = dict(masks=cohort.masks, pathology=cohort.pathology, compare=["radiomics"],
                  out_dir=binary_run.out_dir, spacing=8.0, n_resamples=50, verbose=0)
    with pytest.raises(ValueError, match=r"n_splits: 2 in the folder, 3 now"):
        cross_validate_cohort(est, cohort.X, cohort.y, n_splits=3, n_repeats=2, **common)
    with pytest.raises(ValueError, match=r"params.lam"):
        cross_validate_cohort(est.set_params(lam=0.5), cohort.X, cohort.y, n_splits=2,
                              n_repeats=2, **common)
    with pytest.raises(ValueError, match=r"the data differ \(y\)"):
        cross_validate_cohort(MultiTaskPETEstimator(**TINY), cohort.X, 1 - cohort.y,
                              n_splits=2, n_repeats=2, **common)


def test_a_folder_that_holds_something_else_is_refused(tmp_path, cohort):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no petmtl"):
        cross_validate_cohort(MultiTaskPETEstimator(**TINY), cohort.X, cohort.y,
                              out_dir=tmp_path, n_splits=2, n_repeats=1, verbose=0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(compare=["clinical-only"]), "unknown baseline"),
    (dict(compare=["clinical"]), "needs clinical covariates"),
    (dict(n_splits=1), "n_splits must be an int >= 2"),
    (dict(n_splits=20), "smallest outcome class"),
    (dict(groups=["a", "b"] * 12, n_splits=3), "groups has 2 distinct values"),
    (dict(patient_ids=["p"] * 24), "patient_ids must be unique"),
    (dict(pathology=["lung"] * 5), "pathology has 5 entries"),
])
def test_invalid_arguments_are_refused_before_any_fit(tmp_path, cohort, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cross_validate_cohort(MultiTaskPETEstimator(**TINY), cohort.X, cohort.y,
                              out_dir=tmp_path / "run", verbose=0, **kwargs)
    assert not (tmp_path / "run" / "folds").exists()


def _pathology_only(task):
    """A baseline that predicts the outcome from the pathology alone."""
    from sklearn.linear_model import LogisticRegression

    cohort = task.cohort
    x = (np.asarray(cohort.pathology) == "lung").astype(float)[:, None]
    model = LogisticRegression().fit(x[task.train], cohort.y[task.train])
    return {"score": model.predict_proba(x[task.test])[:, 1].tolist()}


def test_a_registered_baseline_is_compared_on_the_same_folds(tmp_path, cohort):
    register_baseline("pathology-only", _pathology_only, description="pathology alone")
    try:
        result = cross_validate_cohort(
            MultiTaskPETEstimator(**TINY), cohort.X, cohort.y, masks=cohort.masks,
            pathology=cohort.pathology, n_splits=2, n_repeats=1, compare="pathology-only",
            out_dir=tmp_path, spacing=8.0, n_resamples=50, verbose=0)
    finally:
        BASELINES.pop("pathology-only")
    assert set(result.metrics["models"]) == {"petmtl", "pathology-only"}
    assert _cv_reference.compare(tmp_path, atol=0.0) > 0


def test_the_single_task_baseline_follows_any_main_network(tmp_path, cohort):
    """The main network's settings that need its other tasks or its PET descriptors
    (a pathology-stratified split, lesion burden) do not break the single-task network."""
    main = MultiTaskPETEstimator(**TINY, validation_stratify="pathology", lesion_burden="suv2.5")
    result = cross_validate_cohort(main, cohort.X, cohort.y, masks=cohort.masks,
                                   pathology=cohort.pathology, n_splits=2, n_repeats=1,
                                   compare=["single-task"], out_dir=tmp_path, spacing=8.0,
                                   n_resamples=20, verbose=0)
    rows = [r for r in _rows(result.out_dir) if r["model"] == "single-task"]
    assert len(rows) == len(cohort.y) and all(0 <= float(r["score"]) <= 1 for r in rows)
    model = MultiTaskPETEstimator.load(
        read_cv_results(result.out_dir).model_file("single-task", 0, 0))
    assert model.tasks == () and model.lesion_burden is None


def test_hausdorff_distance_against_scipy_and_by_hand():
    a = np.zeros((9, 9, 9), bool)
    b = np.zeros((9, 9, 9), bool)
    a[2, 2, 2] = True
    b[2, 2, 6] = True
    assert hausdorff_distance(a, b, (1.0, 2.0, 3.0)) == 12.0  # 4 voxels of 3 mm
    assert np.isnan(hausdorff_distance(a, np.zeros_like(a), 1.0))
    rng = np.random.default_rng(0)
    for _ in range(3):
        a = rng.random((10, 11, 12)) < 0.3
        b = rng.random((10, 11, 12)) < 0.3
        spacing = (1.0, 1.5, 2.0)

        def surface(m, spacing=spacing):
            from scipy import ndimage
            inner = ndimage.binary_erosion(m, ndimage.generate_binary_structure(3, 1),
                                           border_value=0)
            return np.argwhere(m & ~inner) * np.asarray(spacing)

        expected = max(directed_hausdorff(surface(a), surface(b))[0],
                       directed_hausdorff(surface(b), surface(a))[0])
        assert hausdorff_distance(a, b, spacing, percentile=100) == pytest.approx(expected)


@pytest.mark.slow  # about 20 s: two worker processes start and import torch
def test_folds_in_parallel_processes_give_the_serial_results(binary_run, cohort, tmp_path):
    # joblib's worker processes run one torch thread each here (2 CPUs, 2 jobs), like the
    # serial run of the fixture, so the arithmetic, and the results, are the same
    result = cross_validate_cohort(
        MultiTaskPETEstimator(**TINY), cohort.X, cohort.y, masks=cohort.masks,
        pathology=cohort.pathology, n_splits=2, n_repeats=2, compare=["radiomics"],
        out_dir=tmp_path, spacing=8.0, n_resamples=50, verbose=0, n_jobs=2)
    assert result.n_run == 8
    assert result.metrics == binary_run.metrics
