"""Validation reports of runs with clinical covariates: model card, subgroups, checklist."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from petmtl import MultiTaskPETEstimator, MultiTaskPETSurvival
from petmtl.cli import main
from petmtl.datasets import make_pet_cohort, write_cohort
from petmtl.model_selection import cross_validate_cohort
from petmtl.report import build_report

from .conftest import one_torch_thread
from .test_cv_cli import SETTINGS, add_columns
from .test_report import BUILD_SECONDS, check_numbers

pd = pytest.importorskip("pandas", reason="clinical covariates need the clinical extra")
pytest.importorskip("matplotlib", reason="the report needs the plots extra")

TINY = dict(base_width=2, depth=2, max_epochs=1, refit_outcome=False)
COVARIATES = ["age", "sex", "ecog", "t_stage", "marker"]
CATEGORICAL = ["sex", "t_stage", "marker"]


one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


@pytest.fixture(scope="module")
def cohort():
    return make_pet_cohort(24, shape=(16, 16, 16), spacing=8.0, clinical=True, random_state=0)


@pytest.fixture(scope="module")
def run_folder(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("report_clinical") / "cv"
    cross_validate_cohort(MultiTaskPETEstimator(**TINY), cohort.X, cohort.y, masks=cohort.masks,
                          pathology=cohort.pathology, clinical=cohort.clinical, n_splits=2,
                          n_repeats=1, compare=("clinical", "radiomics+clinical"), out_dir=out,
                          spacing=8.0, n_resamples=40, verbose=0)
    return out


@pytest.mark.slow
def test_report_lists_the_covariates_and_their_subgroups(run_folder, cohort, tmp_path):
    start = time.perf_counter()
    result = build_report(run_folder, tmp_path, X=cohort.X, masks=cohort.masks,
                          clinical=cohort.clinical, n_resamples=50, verbose=0)
    assert time.perf_counter() - start < BUILD_SECONDS
    assert check_numbers(result) > 200
    content = result.content
    card = content["model_card"]["clinical"]
    assert [c["name"] for c in card["columns"]] == COVARIATES
    assert card["learnt_on"] == "the training patients of each fold"
    assert card["fusion"] == "late"
    ecog = card["columns"][2]
    assert ecog["type"] == "numeric"
    assert ecog["missing_fraction"] == pytest.approx(cohort.clinical["ecog"].isna().mean())
    groups = content["subgroups"]["covariates"]
    assert [g["name"] for g in groups] == CATEGORICAL  # ecog and age are numeric
    for group in groups:
        counts = cohort.clinical[group["name"]].value_counts()
        assert {r["level"]: r["n"] for r in group["rows"]} == counts.to_dict()
    items = {e["item"]: e for e in content["checklist"]}
    assert items["9a"]["status"] == items["12b"]["status"] == "pre-filled"
    assert items["9a"]["values"]["covariates"] == ", ".join(COVARIATES)
    assert "ecog" in items["11"]["values"]["covariate_missing"]
    names = {Path(p).stem for p in result.figures}
    # the outcome's Grad-CAM of a network that reads covariates is given them
    assert {"cases", "gradcam"} <= names
    assert content["gradcam"]["scales"] and not any("Grad-CAM" in n for n in content["notes"])
    page = Path(result.html).read_text()
    assert "Clinical covariates" in page and "By <span" in page
    assert [m["name"] for m in content["summary"]["models"]] == [
        "petmtl", "clinical", "radiomics+clinical"]


def test_report_refuses_covariates_other_than_the_runs(run_folder, cohort, tmp_path):
    other = cohort.clinical.assign(sex=cohort.clinical["sex"].iloc[::-1].to_numpy())
    with pytest.raises(ValueError, match="differs from the covariates the run used"):
        build_report(run_folder, tmp_path, clinical=other, n_gradcam=0, verbose=0)
    with pytest.raises(ValueError, match=r"lacks the run's covariate\(s\) \['marker'\]"):
        build_report(run_folder, tmp_path, clinical=cohort.clinical.drop(columns="marker"),
                     n_gradcam=0, verbose=0)
    result = build_report(run_folder, tmp_path, X=cohort.X, n_resamples=50, verbose=0)
    check_numbers(result)  # without the table: the model card, no covariate subgroups
    assert "covariates" not in result.content["subgroups"]
    assert result.content["model_card"]["clinical"] is not None
    assert result.content["gradcam"] is None  # it would need the covariates
    assert any("pass the covariates (clinical=)" in n for n in result.content["notes"])


@pytest.mark.slow
def test_survival_report_with_covariates(tmp_path):
    cohort = make_pet_cohort(18, shape=(16, 16, 16), spacing=8.0, outcome="survival",
                             clinical=True, random_state=4)
    cross_validate_cohort(MultiTaskPETSurvival(**TINY), cohort.X, cohort.y,
                          masks=cohort.masks, pathology=cohort.pathology,
                          clinical=cohort.clinical, n_splits=2, n_repeats=1,
                          compare=["radiomics+clinical"], out_dir=tmp_path / "cv",
                          spacing=8.0, n_resamples=40, verbose=0)
    result = build_report(tmp_path / "cv", X=cohort.X, masks=cohort.masks,
                          clinical=cohort.clinical, n_resamples=50, verbose=0)
    check_numbers(result)
    sex = result.content["subgroups"]["covariates"][0]
    assert sex["name"] == "sex"
    for row in sex["rows"]:
        rows = (cohort.clinical["sex"] == row["level"]).to_numpy()
        assert row["n"] == rows.sum() and row["n_events"] == cohort.y["event"][rows].sum()
    assert "risk_groups" in {Path(p).stem for p in result.figures}


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    root = tmp_path_factory.mktemp("clinical_manifests")
    train = make_pet_cohort(16, shape=(16, 16, 16), spacing=8.0, clinical=True, random_state=7)
    test = make_pet_cohort(18, shape=(16, 16, 16), spacing=8.0, clinical=True, random_state=8)
    train_manifest = write_cohort(train, root / "train")
    test_manifest = write_cohort(test, root / "test")
    add_columns(test_manifest, centre=["a", "b"] * 9)
    return train_manifest, test_manifest


@pytest.mark.slow
def test_report_of_a_cv_folder_reads_the_covariates_from_its_manifest(tmp_path, capsys):
    cohort = make_pet_cohort(18, shape=(16, 16, 16), spacing=8.0, clinical=True,
                             random_state=9)
    manifest = write_cohort(cohort, tmp_path / "data")
    out = tmp_path / "cv"
    assert main(["cv", str(manifest), "--folds", "2", "--repeats", "1", "--out", str(out),
                 "--clinical", ",".join(COVARIATES), "--compare", "clinical",
                 "--resamples", "20", "-q", *SETTINGS]) == 0
    assert main(["report", str(out), "--resamples", "50", "--gradcam", "0", "-q"]) == 0

    class Result:
        html, json = out / "report" / "report.html", out / "report" / "report.json"

    check_numbers(Result)
    content = json.loads(Result.json.read_text())
    assert [g["name"] for g in content["subgroups"]["covariates"]] == CATEGORICAL
    # the manifest changed since the run: the report is built without covariate subgroups
    add_columns(manifest, age=["50"] * 18)
    capsys.readouterr()
    assert main(["report", str(out), "--out", str(tmp_path / "again"), "--resamples", "50",
                 "--gradcam", "0"]) == 0
    assert "cannot be read again from its manifest" in capsys.readouterr().err
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert "covariates" not in again["subgroups"]


@pytest.mark.slow
def test_report_of_a_model_fitted_with_covariates_on_a_test_manifest(manifests, tmp_path):
    train, test = manifests
    model = tmp_path / "model.pt"
    assert main(["fit", str(train), "--model", str(model), "--clinical", ",".join(COVARIATES),
                 "-q", *SETTINGS]) == 0
    assert main(["report", str(model), str(test), "--out", str(tmp_path / "report"),
                 "--resamples", "50", "--gradcam", "0", "-q"]) == 0

    class Result:
        html = tmp_path / "report" / "report.html"
        json = tmp_path / "report" / "report.json"

    check_numbers(Result)
    content = json.loads(Result.json.read_text())
    assert content["summary"]["kind"] == "holdout" and content["summary"]["n_patients"] == 18
    card = content["model_card"]["clinical"]
    assert [c["name"] for c in card["columns"]] == COVARIATES
    assert card["learnt_on"] == "the training patients of the fitted model"
    assert [g["name"] for g in content["subgroups"]["covariates"]] == CATEGORICAL
