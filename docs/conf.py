"""Sphinx configuration for the petmtl documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``. The examples gallery runs
every example in ``--quick`` mode (a few seconds each), so the build takes a few minutes on a
CPU; set ``PETMTL_DOCS_NO_GALLERY=1`` to skip running them.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
os.environ["PETMTL_KEEP_FIGURES"] = "1"  # examples leave figures open for the gallery

import petmtl  # noqa: E402

project = "petmtl"
author = "the petmtl developers"
copyright = "the petmtl developers, BSD-3-Clause"  # noqa: A001
release = version = petmtl.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
exclude_patterns = ["_build", "_generated/*.txt", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.json",
                    "auto_examples/*.md5", "auto_examples/*.pickle"]
html_theme = "alabaster"
html_static_path: list[str] = []
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
intersphinx_mapping: dict = {}
suppress_warnings = ["config.cache"]


def _reset_argv(gallery_conf, script_vars):
    """Run every example in quick mode, writing into a scratch folder."""
    out = Path(tempfile.gettempdir()) / "petmtl-gallery" / Path(script_vars["src_file"]).stem
    args = ["--quick", "--out", str(out), "--threads", "1"]
    if Path(script_vars["src_file"]).stem == "real_data_sts":
        data = ROOT.parent / "shared" / "data" / "sts-pet"
        args.insert(0, str(data))
    if Path(script_vars["src_file"]).stem == "dicom_to_fit":
        args.insert(0, str(_sts_dicom))
    return args


_run_examples = os.environ.get("PETMTL_DOCS_NO_GALLERY", "") != "1"
_sts = ROOT.parent / "shared" / "data" / "sts-pet"
_sts_dicom = ROOT.parent / "shared" / "data" / "dicom" / "sts-pet-dicom"
# examples run only where their data (and, for DICOM, the optional extra) are present
_not_run = [name for name, ok in (
    ("real_data", _sts.is_dir()),
    ("dicom_to_fit", _sts_dicom.is_dir() and all(
        importlib.util.find_spec(m) is not None for m in ("pydicom", "highdicom"))),
) if not ok]
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": str(HERE / "auto_examples"),
    "filename_pattern": r"[\\/](?!" + "|".join(["_", *_not_run]) + r")[^\\/]+\.py$",
    # _common.py is a helper; dask_grid_search.py needs the optional dask extra and a cluster
    "ignore_pattern": r"(_common|dask_grid_search)\.py$",
    "plot_gallery": "True" if _run_examples else "False",
    "reset_argv": _reset_argv,
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "write_computation_times": False,
}


def _write_cli_help() -> None:
    """Capture ``petmtl --help`` (and each command's) for the user guide.

    The parser is built here rather than run as ``petmtl ... --help`` in subprocesses:
    each of those would import torch again (seconds each).
    """
    from petmtl.cli import build_parser

    target = HERE / "_generated"
    target.mkdir(exist_ok=True)
    parser = build_parser()
    commands = next(action.choices for action in parser._actions
                    if isinstance(action, argparse._SubParsersAction))
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "90"  # argparse wraps to the terminal width it reads here
    try:
        (target / "cli_main.txt").write_text(parser.format_help())
        for name, command in commands.items():
            (target / f"cli_{name}.txt").write_text(command.format_help())
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


_write_cli_help()


def _skip_routing_methods(app, what, name, obj, skip, options):
    """Skip scikit-learn's generated ``set_*_request`` methods (their docstrings link to
    sklearn's own glossary, which this build does not have)."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_routing_methods)
