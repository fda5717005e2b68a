"""The Sphinx documentation builds without warnings (API reference and user guide).

The examples gallery is not executed here (``PETMTL_DOCS_NO_GALLERY=1``): running the six
examples in quick mode takes minutes on a busy CPU, so the full build
(``python -m sphinx -W -b html docs docs/_build/html``) belongs in CI, not in the unit tests.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes

ROOT = Path(__file__).resolve().parents[1]


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    env = {**os.environ, "PETMTL_DOCS_NO_GALLERY": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(tmp_path / "html")],
        capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-5000:]
    assert (tmp_path / "html" / "api.html").exists()
