"""``petmtl cv`` on NIfTI manifests: survival outcomes, grouped folds, resuming, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from petmtl.cli import main
from petmtl.datasets import make_pet_cohort, write_cohort
from petmtl.model_selection import read_cv_results

from . import _cv_reference
from .conftest import one_torch_thread

SETTINGS = ["--set", "base_width=2", "--set", "depth=2", "--set", "max_epochs=1",
            "--set", "refit_outcome=False", "--set", "spacing=8",
            "--set", "input_shape=(16,16,16)"]


one_thread = pytest.fixture(scope="module", autouse=True)(one_torch_thread)


def add_columns(manifest: Path, **columns) -> None:
    """Add columns (one value per row) to a manifest CSV."""
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    for name, values in columns.items():
        for row, value in zip(rows, values, strict=True):
            row[name] = value
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def survival_manifest(tmp_path_factory):
    cohort = make_pet_cohort(18, shape=(16, 16, 16), spacing=8.0, outcome="survival",
                             random_state=2)
    manifest = write_cohort(cohort, tmp_path_factory.mktemp("cohort"))
    add_columns(manifest, centre=["north", "south", "east"] * 6,
                suv_provenance=["body-weight SUV from DICOM"] * 18)
    return manifest


def test_cv_of_a_survival_manifest_grouped_by_centre(survival_manifest, tmp_path, capsys):
    out = tmp_path / "cv"
    code = main(["cv", str(survival_manifest), "--folds", "3", "--repeats", "1", "--out",
                 str(out), "--compare", "radiomics", "--group", "centre", "--resamples", "30",
                 "--horizons", "10", "20", "-q", *SETTINGS])
    assert code == 0
    printed = capsys.readouterr().out
    assert "C-index mean over repeats" in printed and "petmtl - radiomics" in printed
    # lifelines' C-index and numpy's bootstrap on predictions.csv agree with metrics.json
    assert _cv_reference.compare(out, atol=1e-12) > 0
    run = read_cv_results(out)
    assert run.cohort["suv_provenance"] == "body-weight SUV from DICOM"
    assert run.settings["horizons"] == [10.0, 20.0] and run.settings["grouped"]
    centres = np.array(run.cohort["centre"])
    for test in run.splits[0]:  # grouped folds: one centre per fold
        assert len(set(centres[test])) == 1
    with open(out / "predictions.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["model"] == "petmtl"]
    assert len(rows) == 18
    times = run.settings["times"]
    for row in rows:
        curve = [float(row[f"survival_at_{t!r}"]) for t in times]
        assert all(0.0 <= s <= 1.0 for s in curve)
        assert all(np.diff(curve) <= 1e-12)  # survival never rises
        assert row["centre"] in ("north", "south", "east")
        assert float(row["mtv_predicted_ml"]) >= 0.0 and row["mtv_reference_ml"] != ""
    # the fold networks were saved and read back with the estimator's own load
    assert Path(run.model_file("petmtl", 0, 2)).is_file()


def test_cv_rerun_of_a_finished_run_reuses_every_fold(survival_manifest, tmp_path, capsys):
    args = ["cv", str(survival_manifest), "--folds", "2", "--repeats", "1", "--out",
            str(tmp_path), "--resamples", "20", *SETTINGS]
    assert main(args) == 0
    first = json.loads((tmp_path / "metrics.json").read_text())
    capsys.readouterr()
    assert main(args) == 0
    assert "2 of 2 fold results found" in capsys.readouterr().err
    assert json.loads((tmp_path / "metrics.json").read_text()) == first
    assert main([*args[:-len(SETTINGS)], "--set", "lam=0.5", *SETTINGS]) == 2
    assert "params.lam" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--group", "site"], "--group site: the manifest has no such column"),
    (["--compare", "clinical-only"], "unknown baseline"),
    (["--compare", "clinical"], "needs clinical covariates"),
    (["--set", "nope=1"], "unknown parameter"),
])
def test_cv_user_errors_are_one_line(survival_manifest, tmp_path, capsys, extra, message):
    code = main(["cv", str(survival_manifest), "--out", str(tmp_path / "cv"), "-q", *extra])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
