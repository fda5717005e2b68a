"""Cross-validation with clinical covariates: the network's table, the clinical baselines,
what the run folder keeps, resuming, and ``petmtl cv --clinical``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from petmtl import MultiTaskPETEstimator, MultiTaskPETSurvival
from petmtl.baselines import (
    clinical_classifier,
    radiomic_features,
    radiomics_clinical_classifier,
)
from petmtl.cli import main
from petmtl.datasets import make_pet_cohort, write_cohort
from petmtl.model_selection import cross_validate_cohort, read_cv_results

from . import _cv_reference
from .conftest import one_torch_thread
from .test_cv_cli import SETTINGS

pd = pytest.importorskip("pandas", reason="clinical covariates need the clinical extra")

TINY = dict(base_width=2, depth=2, max_epochs=1, refit_outcome=False)
COVARIATES = ["age", "sex", "ecog", "t_stage", "marker"]
TYPES = {"age": "numeric", "sex": "categorical", "ecog": "numeric",
         "t_stage": "categorical", "marker": "categorical"}


one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


@pytest.fixture(scope="module")
def cohort():
    return make_pet_cohort(24, shape=(16, 16, 16), spacing=8.0, clinical=True, random_state=0)


def _run(cohort, out, **kwargs):
    options = dict(masks=cohort.masks, pathology=cohort.pathology, clinical=cohort.clinical,
                   n_splits=2, n_repeats=1, compare=("clinical", "radiomics+clinical"),
                   out_dir=out, spacing=8.0, n_resamples=40, verbose=0)
    return cross_validate_cohort(MultiTaskPETEstimator(**TINY), cohort.X, cohort.y,
                                 **{**options, **kwargs})


@pytest.fixture(scope="module")
def binary_run(cohort, tmp_path_factory):
    return _run(cohort, tmp_path_factory.mktemp("cv_clinical") / "run")


def test_binary_metrics_of_the_clinical_baselines_are_reproduced_from_the_files(binary_run):
    # 3 models x (AUC, Brier) x (1 repeat + mean) x 3 values, and 2 paired differences
    assert _cv_reference.compare(binary_run.out_dir, atol=0.0) == 3 * 2 * 2 * 3 + 2 * 4
    assert list(binary_run.metrics["models"]) == ["petmtl", "clinical", "radiomics+clinical"]
    assert [d["reference"] for d in binary_run.metrics["differences"]] == [
        "clinical", "radiomics+clinical"]


def test_clinical_baselines_are_fitted_on_the_same_folds(binary_run, cohort):
    run = read_cv_results(binary_run.out_dir)
    covariates = cohort.clinical.reset_index(drop=True)
    radiomics = radiomic_features(cohort.X, cohort.masks, 8.0, as_frame=True)
    both = pd.concat([radiomics, covariates], axis=1)
    for fold, test in enumerate(run.splits[0]):
        train = np.setdiff1d(np.arange(24), test)
        for name, table, model in (("clinical", covariates, clinical_classifier(random_state=0)),
                                   ("radiomics+clinical", both,
                                    radiomics_clinical_classifier(random_state=0))):
            model.fit(table.iloc[train], cohort.y[train])
            np.testing.assert_allclose(model.predict_proba(table.iloc[test])[:, 1],
                                       run.folds[name][(0, fold)]["score"], rtol=1e-12)


def test_the_network_reads_the_covariates_learnt_on_its_training_fold(binary_run, cohort):
    run = read_cv_results(binary_run.out_dir)
    test = run.splits[0][1]
    train = np.setdiff1d(np.arange(24), test)
    model = MultiTaskPETEstimator.load(run.model_file("petmtl", 0, 1))
    pre = model.clinical_preprocessor_
    assert list(pre.feature_names_in_) == COVARIATES
    # ages are standardised by the training patients' mean, not the cohort's
    scaler = pre.named_transformers_["numeric"].named_steps["scale"]
    ages = cohort.clinical["age"].to_numpy()
    assert scaler.mean_[0] == pytest.approx(ages[train].mean(), rel=1e-12)
    assert scaler.mean_[0] != pytest.approx(ages.mean(), rel=1e-6)
    table = cohort.clinical.iloc[test].reset_index(drop=True)
    table.insert(0, "image", list(cohort.X[test]))
    np.testing.assert_array_equal(model.predict_proba(table)[:, 1],
                                  run.folds["petmtl"][(0, 1)]["score"])


def test_the_run_folder_keeps_no_patient_covariate(binary_run, cohort):
    folder = Path(binary_run.out_dir)
    run = json.loads((folder / "cv.json").read_text())
    recorded = run["cohort"]["clinical"]
    assert run["settings"]["clinical"] == [f"{c}:{TYPES[c]}" for c in COVARIATES]
    assert [(c["name"], c["type"]) for c in recorded["columns"]] == list(TYPES.items())
    for column in recorded["columns"]:
        values = cohort.clinical[column["name"]]
        assert column["n_missing"] == int(values.isna().sum())
        if column["type"] == "categorical":
            counts = values.value_counts()
            assert {lv["label"]: lv["n"] for lv in column["levels"]} == counts.to_dict()
        else:
            assert column["median"] == pytest.approx(values.median())
        assert not any(isinstance(v, list) and len(v) == 24 for v in column.values())
    with open(folder / "predictions.csv", newline="") as f:
        header = next(csv.reader(f))
    assert not set(COVARIATES) & set(header)
    with open(folder / "radiomics+clinical_inputs.csv", newline="") as f:
        assert next(csv.reader(f)) == ["patient_index", "SUVmax", "SUVmean", "MTV_ml", "TLG"]
    inputs = sorted(p.name for p in folder.glob("*_inputs.csv"))
    assert inputs == ["radiomics+clinical_inputs.csv"]


def test_a_rerun_with_other_covariates_is_refused(binary_run, cohort):
    with pytest.raises(ValueError, match=r"clinical: .* in the folder, .* now"):
        _run(cohort, binary_run.out_dir, clinical=cohort.clinical.drop(columns="marker"))
    with pytest.raises(ValueError, match=r"clinical: .* in the folder, null now"):
        _run(cohort, binary_run.out_dir, clinical=None, compare=())
    older = cohort.clinical.copy()
    older.iloc[3, older.columns.get_loc("age")] += 1.0
    with pytest.raises(ValueError, match=r"the data differ \(clinical\)"):
        _run(cohort, binary_run.out_dir, clinical=older)
    again = _run(cohort, binary_run.out_dir)  # the same covariates: every fold reused
    assert again.n_run == 0 and again.metrics == binary_run.metrics


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(clinical=None, compare=["clinical"]), ValueError,
     "'clinical', which needs clinical covariates"),
    (dict(clinical=None, compare=["radiomics+clinical"]), ValueError,
     "'radiomics\\+clinical', which needs"),
    (dict(masks=None, compare=["radiomics+clinical"]), ValueError, "needs the reference masks"),
    (dict(clinical="age"), TypeError, "clinical must be a pandas DataFrame"),
    (dict(clinical="short"), ValueError, "clinical has 23 rows but X has 24"),
    (dict(clinical="image"), ValueError, "column 'image', the estimator's image_column"),
    (dict(clinical="shuffled", patient_ids="ids"), ValueError, "in another order"),
])
def test_invalid_covariates_are_refused_before_anything_is_written(cohort, tmp_path, kwargs,
                                                                   error, message):
    ids = [str(i) for i in cohort.clinical.index]
    special = {"age": cohort.clinical["age"].to_numpy(), "short": cohort.clinical.iloc[1:],
               "image": cohort.clinical.assign(image=1.0),
               "shuffled": cohort.clinical.iloc[::-1], "ids": ids}
    kwargs = {k: special.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(error, match=message):
        _run(cohort, tmp_path / "run", **kwargs)
    assert not (tmp_path / "run").exists()


def test_survival_with_the_clinical_baselines(tmp_path):
    cohort = make_pet_cohort(18, shape=(16, 16, 16), spacing=8.0, outcome="survival",
                             clinical=True, random_state=2)
    result = cross_validate_cohort(
        MultiTaskPETSurvival(**TINY), cohort.X, cohort.y, masks=cohort.masks,
        pathology=cohort.pathology, clinical=cohort.clinical, n_splits=2, n_repeats=1,
        compare="clinical,radiomics+clinical", out_dir=tmp_path, spacing=8.0,
        n_resamples=40, verbose=0)
    # lifelines' C-index and numpy's bootstrap on predictions.csv: 3 models x 2 x 3 + 2 x 4
    assert _cv_reference.compare(tmp_path, atol=1e-12) == 3 * 2 * 3 + 2 * 4
    for name in ("clinical", "radiomics+clinical"):
        assert {"cindex", "integrated_brier_score"} <= set(result.metrics["models"][name])
    times = read_cv_results(tmp_path).settings["times"]
    with open(tmp_path / "predictions.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["model"] == "clinical"]
    assert len(rows) == 18
    for row in rows:
        curve = [float(row[f"survival_at_{t!r}"]) for t in times]
        assert all(0.0 <= s <= 1.0 for s in curve) and all(np.diff(curve) <= 1e-12)


@pytest.fixture(scope="module")
def clinical_manifest(tmp_path_factory):
    cohort = make_pet_cohort(18, shape=(16, 16, 16), spacing=8.0, clinical=True,
                             random_state=3)
    return cohort, write_cohort(cohort, tmp_path_factory.mktemp("clinical_cohort"))


def test_cv_command_with_clinical_columns(clinical_manifest, tmp_path, capsys):
    cohort, manifest = clinical_manifest
    out = tmp_path / "cv"
    assert main(["cv", str(manifest), "--folds", "2", "--repeats", "1", "--out", str(out),
                 "--clinical", ",".join(COVARIATES), "--compare",
                 "clinical,radiomics+clinical", "--resamples", "20", "-q", *SETTINGS]) == 0
    printed = capsys.readouterr().out
    assert "radiomics+clinical" in printed and "petmtl - clinical" in printed
    assert _cv_reference.compare(out, atol=0.0) > 0
    run = read_cv_results(out)
    assert run.settings["clinical"] == [f"{c}:{TYPES[c]}" for c in COVARIATES]
    marker = next(c for c in run.cohort["clinical"]["columns"] if c["name"] == "marker")
    assert marker["n_missing"] == int(cohort.clinical["marker"].isna().sum())
    model = MultiTaskPETEstimator.load(run.model_file("petmtl", 0, 0))
    assert list(model.clinical_preprocessor_.feature_names_in_) == COVARIATES


@pytest.mark.parametrize("extra, message", [
    (["--compare", "clinical"], "needs clinical covariates"),
    (["--clinical", "age,height"], "lacks the extra_columns ['height']"),
])
def test_cv_command_covariate_errors_are_one_line(clinical_manifest, tmp_path, capsys, extra,
                                                  message):
    _, manifest = clinical_manifest
    assert main(["cv", str(manifest), "--out", str(tmp_path / "cv"), "-q", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "cv").exists()
