"""examples/dicom_to_fit.py runs in quick mode on the shared DICOM crops."""

import importlib.util
import json
import sys
import warnings
from pathlib import Path

import pytest

from .conftest import SHARED_DATA

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STS_DICOM = SHARED_DATA / "dicom" / "sts-pet-dicom"


def test_dicom_to_fit_quick(tmp_path):
    pytest.importorskip("highdicom")
    pytest.importorskip("matplotlib")
    if not STS_DICOM.is_dir():
        pytest.skip(f"shared data not found at {STS_DICOM}")
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location("example_dicom_to_fit",
                                                      EXAMPLES / "dicom_to_fit.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        module.main(["--quick", "--out", str(tmp_path), "--threads", "1", str(STS_DICOM)])
    data = json.loads((tmp_path / "dicom_to_fit.json").read_text())
    assert data["converted"] == 2 and not data["skipped"]
    assert {r["units"] for r in data["provenance"]} == {"GML"}
    assert all(0 <= d <= 1 for d in data["dice"].values())
    assert all(Path(p).is_file() for p in data["seg_files"])
    assert (tmp_path / "dicom_to_fit.png").stat().st_size > 1000
