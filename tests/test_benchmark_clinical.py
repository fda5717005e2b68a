"""``benchmarks/clinical_baselines.py``: the reserved seeds and one small run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "clinical_baselines.py"

pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("clinical_baselines", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reserved_seeds_are_refused(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--cohort-seeds", "10", "12"])
    assert "reserved for the final evaluation" in capsys.readouterr().err
    assert bench.parse_args(["--cohort-seeds", "12", "--final-evaluation"]).cohort_seeds == [12]
    assert bench.parse_args([]).cohort_seeds == [10, 11]


@pytest.mark.slow
def test_small_run_reports_every_model(bench, monkeypatch):
    monkeypatch.setattr(bench, "N_RESAMPLES", 20)
    results = {s: bench.one_cohort(s, True, n=30, shape=16, spacing=12.0) for s in (10, 11)}
    text = bench.report(results, [10, 11])
    rows = [line.split(" | ")[0].lstrip("| ") for line in text.splitlines()
            if line.startswith("| ")]
    for rule in bench.RULES:
        assert f"radiomics + burden ({rule}) + clinical" in rows
    assert {"clinical", "radiomics", "radiomics + clinical", "true logit", "image part",
            "clinical part"} <= set(rows)
    assert "60 patients (2 cohorts)" in text
