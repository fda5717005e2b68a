"""Quickstart: generate a synthetic PET cohort, fit the multi-task W-Net, evaluate.

Run ``python examples/quickstart.py --out results`` (add ``--quick`` for a
one-minute smoke run). Writes ``metrics.json`` and, when matplotlib is
installed, ``quickstart.png`` to the output folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

from petmtl import MultiTaskPETEstimator
from petmtl.datasets import make_pet_cohort
from petmtl.metrics import dice_score


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results", help="output folder (default: results)")
    parser.add_argument("--quick", action="store_true", help="tiny settings for a smoke run")
    parser.add_argument("--n-samples", type=int, default=None)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    n = args.n_samples or (40 if args.quick else 160)
    shape = (32, 32, 32) if args.quick else (48, 48, 48)
    cohort = make_pet_cohort(n, shape=shape, spacing=4.0, random_state=args.random_state)
    masks = np.array([m if ok else None for m, ok in zip(cohort.masks, cohort.mask_available,
                                                         strict=True)], dtype=object)
    idx_train, idx_test = train_test_split(np.arange(n), test_size=0.25, stratify=cohort.y,
                                           random_state=args.random_state)
    est = MultiTaskPETEstimator(
        base_width=4 if args.quick else 8, depth=3 if args.quick else 4,
        max_epochs=4 if args.quick else 60, random_state=args.random_state, verbose=1)
    start = time.perf_counter()
    est.fit(cohort.X[idx_train], cohort.y[idx_train], masks=masks[idx_train],
            pathology=cohort.pathology[idx_train])
    fit_seconds = time.perf_counter() - start

    X_test, y_test = cohort.X[idx_test], cohort.y[idx_test]
    proba = est.predict_proba(X_test)[:, 1]
    segmentation = est.segment(X_test)
    metrics = {
        "n_train": int(len(idx_train)), "n_test": int(len(idx_test)),
        "volume_shape": list(shape), "epochs": len(est.history_),
        "best_epoch": est.best_epoch_, "fit_seconds": round(fit_seconds, 1),
        "outcome_auc": float(roc_auc_score(y_test, proba)),
        "outcome_accuracy": float(accuracy_score(y_test, est.predict(X_test))),
        "dice": float(dice_score(cohort.masks[idx_test], segmentation)),
        "pathology_accuracy": float(accuracy_score(cohort.pathology[idx_test],
                                                   est.predict_pathology(X_test))),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    _plot(est, X_test, cohort.masks[idx_test], segmentation, out / "quickstart.png")
    return metrics


def _plot(est, X, truth, predicted, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: skipping the figure (pip install petmtl[plots])")
        return
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    epochs = [r["epoch"] for r in est.history_]
    for key in ("train_loss", "valid_loss"):
        axes[0].plot(epochs, [r.get(key, np.nan) for r in est.history_], label=key)
    axes[0].set(title="loss", xlabel="epoch")
    axes[0].legend()
    i = int(np.argmax(truth.reshape(len(truth), -1).sum(1)))
    z = int(np.argmax(truth[i].sum(axis=(0, 1)))) if truth[i].any() else X.shape[3] // 2
    axes[1].imshow(X[i][:, :, z].T, cmap="gray_r", origin="lower")
    axes[1].contour(truth[i][:, :, z].T, levels=[0.5], colors="tab:green")
    axes[1].set(title="PET slice, reference mask (green)")
    axes[2].imshow(X[i][:, :, z].T, cmap="gray_r", origin="lower")
    axes[2].contour(predicted[i][:, :, z].T, levels=[0.5], colors="tab:red")
    axes[2].set(title="predicted mask (red)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure written to {path}")


if __name__ == "__main__":
    main()
