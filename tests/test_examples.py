"""Every example runs in quick mode and writes finite tables, JSON and figures."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from .conftest import SHARED_DATA

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STS = SHARED_DATA / "sts-pet"


def _load(name):
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


def _finite_numbers(obj):
    if isinstance(obj, dict):
        return [v for value in obj.values() for v in _finite_numbers(value)]
    if isinstance(obj, list):
        return [v for value in obj for v in _finite_numbers(value)]
    return [obj] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


CASES = [
    ("quickstart", [], "metrics.json", ["outcome_auc", "dice"]),
    ("lambda_sweep", [], "lambda_sweep.json", ["auc", "accuracy", "dice"]),
    ("task_ablation", [], "task_ablation.json", ["auc", "accuracy"]),
    ("mtl_vs_stl", [], "mtl_vs_stl.json", ["auc"]),
    ("gradcam", [], "gradcam.json", ["tumour", "elsewhere"]),
    ("survival", [], "survival.json", ["cindex", "ci_low", "ci_high"]),
    ("real_data_sts", [str(STS)], "real_data_sts.json", ["dice_mean"]),
]


@pytest.mark.parametrize(("name", "extra", "result", "keys"), CASES,
                         ids=[c[0] for c in CASES])
def test_example_quick_mode(tmp_path, name, extra, result, keys):
    pytest.importorskip("matplotlib")
    if name == "real_data_sts" and not STS.is_dir():
        pytest.skip(f"real data not found at {STS}")
    module = _load(name)
    module.main(["--quick", "--out", str(tmp_path), *extra])
    data = json.loads((tmp_path / result).read_text())
    rows = data["rows"] if "rows" in data else [data]
    for row in rows:
        for key in keys:
            # a score is a finite number, except NaN for a task a configuration lacks
            assert isinstance(row[key], (int, float))
    values = [v for row in rows for k in keys for v in _finite_numbers(row[k])
              if not math.isnan(v)]
    assert values and all(math.isfinite(v) for v in values)
    assert all(-1e-9 <= v for v in values)
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)
