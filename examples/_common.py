"""Helpers shared by the example scripts: arguments, tables, JSON and figures.

Not an example itself (sphinx-gallery skips files starting with an underscore).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np


def make_parser(doc: str, *, cohort_size: bool = False) -> argparse.ArgumentParser:
    """Parser with the options every example shares: --out, --quick, --random-state,
    --threads; with ``cohort_size`` also --n-samples and --epochs (None: the example's
    own full or quick value)."""
    # sphinx-gallery runs the examples without their module docstring
    lines = [line for line in (doc or "").strip().splitlines() if line.strip()]
    parser = argparse.ArgumentParser(description=lines[0] if lines else None)
    parser.add_argument("--out", default="results", help="output folder (default: results)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings for a smoke run (seconds)")
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    if cohort_size:
        parser.add_argument("--n-samples", type=int, default=None, help="cohort size")
        parser.add_argument("--epochs", type=int, default=None, help="training epochs")
    return parser


def setup(args) -> Path:
    """Create the output folder and apply --threads; return the folder."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Plain-text table of a list of dicts (floats with 3 decimals)."""
    columns = columns or list(rows[0])
    cells = [[_cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, sep, *body])


def write_json(path: Path, data) -> None:
    """Write ``data`` as indented JSON (numpy scalars converted)."""
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    path.write_text(json.dumps(data, indent=2, default=default))


def pyplot():
    """matplotlib.pyplot with the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: skipping figures (pip install 'petmtl[plots]')")
        return None
    if "PETMTL_KEEP_FIGURES" not in os.environ:  # the docs gallery keeps its own backend
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Save ``fig`` as PNG; close it unless the docs gallery wants to collect it."""
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"figure written to {path}")
    if "PETMTL_KEEP_FIGURES" not in os.environ:
        import matplotlib.pyplot as plt

        plt.close(fig)


def tumour_slice(mask: np.ndarray, volume: np.ndarray) -> int:
    """Axial (z = axis 2) index of the largest mask cross-section, else of the hottest voxel."""
    if mask is not None and np.any(mask):
        return int(np.argmax(np.asarray(mask).sum(axis=(0, 1))))
    return int(np.unravel_index(np.argmax(volume), volume.shape)[2])


def fold_scores(est, cohort, train, test) -> dict:
    """Fit a clone of ``est`` on ``train`` and score it on ``test``.

    Returns the outcome AUC and accuracy, and, when the tasks are enabled, the Dice of the
    predicted masks and the pathology accuracy (NaN otherwise).
    """
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score, roc_auc_score

    from petmtl.metrics import dice_score

    est = clone(est)
    tasks = tuple(est.tasks)
    est.fit(cohort.X[train], cohort.y[train],
            masks=cohort.masks[train] if "segmentation" in tasks else None,
            pathology=cohort.pathology[train] if "pathology" in tasks else None)
    X, y = cohort.X[test], cohort.y[test]
    scores = {"auc": float(roc_auc_score(y, est.decision_function(X))),
              "accuracy": float(accuracy_score(y, est.predict(X))),
              "dice": float("nan"), "pathology_accuracy": float("nan")}
    if "segmentation" in tasks:
        scores["dice"] = float(dice_score(cohort.masks[test], est.segment(X)))
    if "pathology" in tasks:
        truth = cohort.pathology[test].astype(str)
        scores["pathology_accuracy"] = float(accuracy_score(
            truth, est.predict_pathology(X).astype(str)))
    return scores


def summarise(fold_rows: list[dict], keys=("auc", "accuracy", "dice", "pathology_accuracy")):
    """Mean and standard deviation over folds of each score (NaN-aware)."""
    out = {}
    for key in keys:
        values = np.array([r[key] for r in fold_rows], float)
        finite = values[np.isfinite(values)]
        out[key] = float(finite.mean()) if finite.size else float("nan")
        out[f"{key}_std"] = float(finite.std()) if finite.size else float("nan")
    return out
