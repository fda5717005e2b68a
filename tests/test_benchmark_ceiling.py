"""``benchmarks/outcome_ceiling.py``: its image measures and one small cohort."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "outcome_ceiling.py"


@pytest.fixture(scope="module")
def ceiling():
    spec = importlib.util.spec_from_file_location("outcome_ceiling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_measures_of_a_known_volume(ceiling):
    volume = np.full((40, 40, 40), 1.0, np.float32)
    mask = np.zeros(volume.shape, bool)
    mask[5:9, 5:9, 5:9] = True
    volume[mask] = 8.0
    volume[30, 30, 30] = 3.0  # one focus ~ 44 mm from the mask, 2 SUV above its surroundings
    measures = ceiling.image_measures(volume, mask, 2.0)
    shells, foci = measures[:5], measures[5:]
    np.testing.assert_allclose(shells[1:], 1.0, atol=0.01)  # background beyond 4 mm
    assert shells[0] == pytest.approx(1.0)  # the 0-4 mm shell holds no tumour voxel
    np.testing.assert_array_equal(foci, [1, 1, 1])  # exceeds 0.5, 1 and 1.5 SUV


def test_one_small_cohort(ceiling, monkeypatch):
    monkeypatch.setattr(ceiling, "PENALTIES", [0.1, 10.0])  # a quicker inner search
    result = ceiling.one_cohort(0, 40, 16, 8.0)
    assert set(result["auc"]) >= {"true logit (no fit)", "radiomics (4 features)",
                                  "image measures (29)"}
    assert all(0.0 <= v <= 1.0 for v in result["auc"].values())
    assert result["visible"]["tumour_volume_ml"] > 0.8  # MTV shows even at 8 mm
