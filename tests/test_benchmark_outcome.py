"""Smoke test of the outcome protocol, ``benchmarks/outcome.py --quick``."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from .conftest import made_once

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "outcome.py"


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--out", str(out), *extra],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-5000:]
    return result


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The folder of one quick run, its printed output and its report (read-only)."""
    out = made_once(tmp_path_factory, "outcome-benchmark-quick",
                    lambda out: (out / "stdout.txt").write_text(_run(out).stdout))
    return out, (out / "stdout.txt").read_text(), json.loads(
        (out / "synthetic-quick.json").read_text())


def test_quick_run_reports_pooled_auc_with_intervals(quick_run):
    out, printed, report = quick_run
    y = np.asarray(report["cohort"]["y"])
    assert set(report["models"]) == {"default", "single_task", "radiomics"}
    for name, entry in report["models"].items():
        for key in ("mean_over_seeds", *(s["summary"] for s in entry["seeds"].values())):
            auc = (entry[key] if isinstance(key, str) else key)["auc"]
            assert 0.0 <= auc["low"] <= auc["estimate"] <= auc["high"] <= 1.0, name
        run = entry["seeds"]["0"]
        scores = np.asarray(run["oof"]["scores"])
        assert run["summary"]["auc"]["estimate"] == pytest.approx(roc_auc_score(y, scores))
        assert len(run["summary"]["fold_auc"]) == 2
    assert "| default |" in printed
    assert (out / "synthetic-quick.md").read_text() in printed


def test_one_out_of_fold_prediction_per_patient_per_model_per_seed(quick_run):
    _, _, report = quick_run
    n = len(report["cohort"]["ids"])
    assert n == 24
    for name, entry in report["models"].items():
        assert list(entry["seeds"]) == ["0"]
        for run in entry["seeds"].values():
            tested = sorted(i for fold in run["folds"] for i in fold["test"])
            assert tested == list(range(n)), name
            oof = run["oof"]
            assert len(oof["scores"]) == len(oof["labels"]) == n
            assert None not in oof["scores"] and None not in oof["labels"]
    default = report["models"]["default"]["seeds"]["0"]["oof"]
    assert len(default["dice"]) == len(default["pathology"]) == n
    assert report["models"]["radiomics"]["seeds"]["0"]["oof"]["dice"] is None


def test_same_folds_for_every_model_and_paired_comparisons(quick_run):
    _, _, report = quick_run
    folds = {name: [f["test"] for f in e["seeds"]["0"]["folds"]]
             for name, e in report["models"].items()}
    assert folds["default"] == folds["single_task"] == folds["radiomics"]
    pairs = {(c["model"], c["reference"]) for c in report["comparisons"]}
    assert pairs == {("default", "radiomics"), ("single_task", "radiomics"),
                     ("default", "single_task")}
    for c in report["comparisons"]:
        d = c["auc_difference"]
        assert d["low"] <= d["estimate"] <= d["high"] and 0 < d["p_value_one_sided"] <= 1


def test_rerun_resumes_from_the_cache(quick_run, tmp_path):
    first, _, report = quick_run
    out = shutil.copytree(first, tmp_path / "out")
    again = _run(out, "--models", "radiomics", "single_task")
    assert again.stdout.count(": cached") == 4 and ": fit " not in again.stdout
    rerun = json.loads((out / "synthetic-quick.json").read_text())
    assert (rerun["models"]["radiomics"]["seeds"]["0"]["oof"]
            == report["models"]["radiomics"]["seeds"]["0"]["oof"])


def test_manifest_cohort_quick_run(tmp_path):
    from petmtl.datasets import make_pet_cohort, write_cohort

    cohort = make_pet_cohort(16, shape=(24, 24, 24), spacing=8.0, missing_masks=0.125,
                             missing_outcome=0.125, random_state=1)
    manifest = write_cohort(cohort, tmp_path / "cohort")
    _run(tmp_path / "out", "--manifest", str(manifest), "--models", "default", "radiomics",
         "--seeds", "0", "1")
    report = json.loads((tmp_path / "out" / "cohort-quick.json").read_text())
    assert len(report["cohort"]["ids"]) == 14  # the two patients without an outcome left out
    without_mask = int(np.sum(~cohort.mask_available & (cohort.y != -1)))
    for seed in ("0", "1"):
        default = report["models"]["default"]["seeds"][seed]["oof"]
        assert sum(d is None for d in default["dice"]) == without_mask  # no reference mask
        assert len(default["scores"]) == 14 and None not in default["scores"]
        assert np.isfinite(report["models"]["radiomics"]["seeds"][seed]["oof"]["scores"]).all()
    assert [c["seed"] for c in report["comparisons"]] == [0, 1, "mean"]


@pytest.fixture(scope="module")
def bench():
    """``benchmarks/outcome.py`` imported in this process."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("outcome_benchmark", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    yield module
    sys.modules.pop(spec.name, None)


@pytest.mark.parametrize(("setting", "message"), [
    ("default.lam=2", r"lam must be in \[0, 1\], got 2"),
    ("nomodel.lam=0.5", "unknown model 'nomodel'"),
])
def test_bad_setting_fails_before_any_fit(bench, tmp_path, capsys, setting, message):
    with pytest.raises((SystemExit, ValueError), match=message):
        bench.main(["--quick", "--out", str(tmp_path), "--set", setting])
    assert "fit" not in capsys.readouterr().out
    assert not (tmp_path / "synthetic-quick.cache").exists()


def test_cache_keys_of_clinical_models_hold_no_memory_address(bench):
    # Bug: the clinical preprocessor's functions were keyed by their repr, whose address
    # changes in every process, so a rerun never found the cached clinical models.
    params = bench.MODELS["radiomics_clinical"](0).get_params(deep=True)
    texts = [bench.stable_repr(value) for value in params.values()]
    assert any("<function as_levels>" in text for text in texts)
    assert not any(" at 0x" in text for text in texts)
