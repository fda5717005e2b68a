"""
Real data: tumour segmentation on 51 soft-tissue-sarcoma PET crops
==================================================================

The synthetic cohorts are ours; this example runs petmtl on clinical FDG-PET that nobody
on the project made: 51 soft-tissue sarcoma crops with expert tumour contours (the IBSI
validation set from TCIA's Soft-tissue-Sarcoma collection, CC BY 3.0; see the data's
README). Each crop is read with :func:`petmtl.io.prepare_volume`, which brings it to RAS+
voxel order, resamples it to an isotropic grid and crops or pads it around the centre of the
crop (not the mask, which would leak the answer).

These data have no outcome and no pathology label (all are sarcomas), so the honest setup is
**segmentation only**: ``tasks=("segmentation",)`` with the loss weights
``task_weights={"segmentation": 1.0, "outcome": 0.0}``. The estimator always builds the
outcome head and ``fit`` needs two outcome classes, so a *placeholder* ``y`` (alternating
0/1) is passed; with weight 0 it contributes nothing to the loss, the gradients or early
stopping (which monitors the weighted validation loss), and no outcome score is reported.
Dice is cross-validated over the patients and compared with a fixed 40 %-SUVmax threshold
of each crop (a classical PET delineation, needing no training).

Run ``python examples/real_data_sts.py ../shared/data/sts-pet --out results``: 51 crops at
8 mm on 24^3 voxels (19 cm windows), 3 folds, up to 25 epochs, about 5-15 minutes on two
busy CPU cores. ``--quick`` uses 8 crops at 12 mm on 16^3 voxels, 2 folds and 1 epoch.
Writes ``real_data_sts.json`` and ``real_data_sts.png``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parent)) if "__file__" in globals() else None
from _common import (  # noqa: E402
    format_table,
    make_parser,
    pyplot,
    save_figure,
    setup,
    tumour_slice,
    write_json,
)

from petmtl import MultiTaskPETEstimator  # noqa: E402
from petmtl.io import prepare_volume  # noqa: E402
from petmtl.metrics import dice_score  # noqa: E402


def load_crops(folder: Path, spacing: float, shape: tuple[int, int, int], limit=None):
    """PET and masks of every ``STS_xxx`` patient, on a common isotropic RAS+ grid."""
    patients = sorted(p for p in folder.iterdir() if (p / "PET_image.nii.gz").exists())
    if limit:
        patients = patients[:limit]
    if not patients:
        raise ValueError(f"data must be a folder of STS_xxx/PET_image.nii.gz crops; found "
                         f"none in {str(folder)!r}")
    X, masks = [], []
    for p in patients:
        pet, mask, _ = prepare_volume(p / "PET_image.nii.gz", p / "PET_mask.nii.gz",
                                      spacing=spacing, shape=shape, center="center")
        X.append(pet)
        masks.append((mask > 0.5).astype(np.uint8))
    return [p.name for p in patients], np.stack(X), np.stack(masks)


def threshold_masks(X, fraction=0.4) -> np.ndarray:
    """Fixed-threshold delineation: voxels >= fraction x the crop's SUVmax."""
    peaks = X.reshape(len(X), -1).max(axis=1)
    return (X >= fraction * peaks[:, None, None, None]).astype(np.uint8)


def main(argv=None) -> dict:
    """Cross-validate the segmentation on the real crops; return the Dice summary."""
    parser = make_parser(__doc__)
    parser.add_argument("data", help="folder holding the STS_xxx crops "
                                     "(e.g. ../shared/data/sts-pet)")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args(argv)
    out = setup(args)
    quick = args.quick
    spacing, shape = (12.0, (16, 16, 16)) if quick else (8.0, (24, 24, 24))
    folds = 2 if quick else 3
    epochs = args.epochs or (1 if quick else 25)

    start = time.perf_counter()
    ids, X, masks = load_crops(Path(args.data), spacing, shape, limit=8 if quick else None)
    print(f"{len(ids)} crops on {shape} voxels of {spacing:g} mm, tumour fraction of the "
          f"window {masks.mean():.3f}, read in {time.perf_counter() - start:.1f} s")
    placeholder_y = np.arange(len(X)) % 2  # carries no information; outcome weight is 0
    est = MultiTaskPETEstimator(
        tasks=("segmentation",), outcome_features="global",
        task_weights={"segmentation": 1.0, "outcome": 0.0}, base_width=4 if quick else 8,
        depth=2 if quick else 3, max_epochs=epochs, n_iter_no_change=8,
        random_state=args.random_state)
    per_patient = np.full(len(X), np.nan)
    baseline = dice_score(masks, threshold_masks(X), per_sample=True)
    rows = []
    splits = KFold(folds, shuffle=True, random_state=args.random_state).split(X)
    predicted = np.zeros_like(masks)
    for k, (train, test) in enumerate(splits):
        model = clone(est).fit(X[train], placeholder_y[train], masks=masks[train])
        predicted[test] = model.segment(X[test])
        per_patient[test] = dice_score(masks[test], predicted[test], per_sample=True)
        rows.append({"fold": k, "n_test": len(test), "dice": float(per_patient[test].mean()),
                     "threshold_40pct_dice": float(baseline[test].mean()),
                     "epochs": len(model.history_)})
        print(f"fold {k}: Dice {rows[-1]['dice']:.3f} (40 % SUVmax threshold "
              f"{rows[-1]['threshold_40pct_dice']:.3f})", flush=True)
    seconds = time.perf_counter() - start
    summary = {"n_patients": len(X), "folds": folds, "spacing_mm": spacing,
               "shape": list(shape), "dice_mean": float(per_patient.mean()),
               "dice_std": float(per_patient.std()),
               "dice_median": float(np.median(per_patient)),
               "threshold_40pct_dice_mean": float(baseline.mean()),
               "seconds": round(seconds, 1), "folds_detail": rows,
               "per_patient": dict(zip(ids, per_patient.round(4).tolist(), strict=True))}
    print(f"\nSegmentation-only W-Net on {len(X)} real STS crops, {folds}-fold CV, {seconds:.0f} s")
    print(format_table(rows))
    print(f"Dice over patients: mean {summary['dice_mean']:.3f} +- {summary['dice_std']:.3f}, "
          f"median {summary['dice_median']:.3f}; 40 % SUVmax threshold "
          f"{summary['threshold_40pct_dice_mean']:.3f}")
    write_json(out / "real_data_sts.json", summary)
    _plot(X, masks, predicted, per_patient, out / "real_data_sts.png")
    return summary


def _plot(X, masks, predicted, dice, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    order = np.argsort(dice)
    picks = [order[0], order[len(order) // 2], order[-1]]  # worst, median, best
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    axes[0].hist(dice, bins=10, range=(0, 1), color="tab:blue")
    axes[0].set(title="cross-validated Dice per patient", xlabel="Dice", ylabel="patients")
    for ax, i, what in zip(axes[1:], picks, ("worst", "median", "best"), strict=True):
        z = tumour_slice(masks[i], X[i])
        ax.imshow(X[i][:, :, z].T, cmap="gray_r", origin="lower")
        for m, colour in ((masks[i], "tab:green"), (predicted[i], "tab:red")):
            if m[:, :, z].any():
                ax.contour(m[:, :, z].T, levels=[0.5], colors=colour)
        ax.set_title(f"{what}: Dice {dice[i]:.2f} (green ref., red pred.)", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
