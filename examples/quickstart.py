"""
Quickstart: fit the multi-task W-Net on a synthetic cohort
==========================================================

Generate a synthetic thoracic FDG-PET cohort with :func:`petmtl.datasets.make_pet_cohort`,
hold out a quarter of the patients, fit :class:`petmtl.MultiTaskPETEstimator` with all four
tasks (reconstruction, segmentation, pathology, outcome) on the rest and report the outcome
AUC and accuracy, the pathology accuracy and the Dice coefficient of the predicted tumour
masks on the held-out patients.

Run ``python examples/quickstart.py --out results``: 96 patients of 32^3 voxels (4 mm),
up to 25 epochs, about 5-10 minutes on two CPU cores (seconds on a GPU). ``--quick`` runs a
smoke version in a few seconds. Writes ``metrics.json`` and, with matplotlib installed,
``quickstart.png`` (loss curves and a held-out tumour with its reference and predicted
masks).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent)) if "__file__" in globals() else None
from _common import (  # noqa: E402
    make_parser,
    pyplot,
    save_figure,
    setup,
    tumour_slice,
    write_json,
)

from petmtl import MultiTaskPETEstimator  # noqa: E402
from petmtl.datasets import make_pet_cohort  # noqa: E402
from petmtl.metrics import dice_score  # noqa: E402


def main(argv=None) -> dict:
    """Run the example; return the metrics written to ``metrics.json``."""
    parser = make_parser(__doc__)
    parser.add_argument("--n-samples", type=int, default=None,
                        help="patients (default: 96, quick: 24)")
    args = parser.parse_args(argv)
    out = setup(args)

    n = args.n_samples or (24 if args.quick else 96)
    shape = (24, 24, 24) if args.quick else (32, 32, 32)
    cohort = make_pet_cohort(n, shape=shape, spacing=4.0, random_state=args.random_state)
    masks = cohort.masks  # every mask is available here (see missing_masks)
    idx_train, idx_test = train_test_split(np.arange(n), test_size=0.25, stratify=cohort.y,
                                           random_state=args.random_state)
    est = MultiTaskPETEstimator(
        base_width=4 if args.quick else 8, depth=2 if args.quick else 3,
        max_epochs=2 if args.quick else 25, n_iter_no_change=10,
        random_state=args.random_state, verbose=0 if args.quick else 1)
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
        "dice": float(dice_score(masks[idx_test], segmentation)),
        "pathology_accuracy": float(accuracy_score(cohort.pathology[idx_test].astype(str),
                                                   est.predict_pathology(X_test).astype(str))),
    }
    write_json(out / "metrics.json", metrics)
    for key, value in metrics.items():
        print(f"{key:>20}: {value}")
    _plot(est, X_test, cohort.masks[idx_test], segmentation, out / "quickstart.png")
    return metrics


def _plot(est, X, truth, predicted, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    epochs = [r["epoch"] for r in est.history_]
    for key in ("train_loss", "valid_loss"):
        axes[0].plot(epochs, [r.get(key, np.nan) for r in est.history_], label=key)
    axes[0].set(title="multi-task loss", xlabel="epoch")
    axes[0].legend()
    i = int(np.argmax(truth.reshape(len(truth), -1).sum(1)))
    z = tumour_slice(truth[i], X[i])
    for ax, mask, colour, title in ((axes[1], truth[i], "tab:green", "reference mask"),
                                    (axes[2], predicted[i], "tab:red", "predicted mask")):
        # arrays are (x, y, z) RAS+: transpose the axial slice so x runs left-right in
        # the image and y (anterior) upwards
        ax.imshow(X[i][:, :, z].T, cmap="gray_r", origin="lower")
        if mask.any():
            ax.contour(mask[:, :, z].T, levels=[0.5], colors=colour)
        ax.set(title=f"held-out PET, axial slice {z}: {title}")
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
