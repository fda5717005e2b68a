"""
Grad-CAM heatmaps at the encoder and decoder scales (paper Fig. 4)
==================================================================

Where does the network look when it predicts the outcome? :func:`petmtl.explain.grad_cam`
computes Grad-CAM maps of the outcome head (T4) at every scale of the W-Net, the encoder
levels from the input down to the bottleneck and the segmentation decoder levels back up
(:func:`petmtl.explain.scale_names`), upsampled to the PET grid and scaled to [0, 1]
(1 = most important). This example fits the multi-task model on a synthetic cohort and
overlays the maps of a held-out patient on an axial PET slice through the tumour and on a
coronal maximum-intensity projection (MIP), and prints, for every scale, the mean heat
inside the tumour, in its 2 cm peritumoral shell and elsewhere.

Run ``python examples/gradcam.py --out results``: 72 patients of 32^3 voxels (4 mm), up
to 20 epochs, about 5-10 minutes on two busy CPU cores. ``--quick`` runs in seconds (the
maps of an untrained network are not meaningful). Writes ``gradcam.json`` and
``gradcam.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

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
from petmtl.datasets import make_pet_cohort  # noqa: E402
from petmtl.explain import grad_cam  # noqa: E402
from petmtl.pet import peritumoral_region  # noqa: E402


def main(argv=None) -> list[dict]:
    """Fit, explain a held-out patient at every scale; return the heat statistics."""
    parser = make_parser(__doc__, cohort_size=True)
    args = parser.parse_args(argv)
    out = setup(args)
    quick = args.quick
    n = args.n_samples or (12 if quick else 72)
    shape = (16, 16, 16) if quick else (32, 32, 32)
    spacing = 4.0
    cohort = make_pet_cohort(n, shape=shape, spacing=spacing, random_state=args.random_state)
    train, test = train_test_split(np.arange(n), test_size=0.25, stratify=cohort.y,
                                   random_state=args.random_state)
    est = MultiTaskPETEstimator(base_width=2 if quick else 8, depth=2 if quick else 3,
                                max_epochs=args.epochs or (1 if quick else 20),
                                n_iter_no_change=8, random_state=args.random_state)
    est.fit(cohort.X[train], cohort.y[train], masks=cohort.masks[train],
            pathology=cohort.pathology[train])

    X_test, masks_test = cohort.X[test], cohort.masks[test]
    maps = grad_cam(est, X_test, target="outcome", scale="all")
    rows = []
    shells = np.array([peritumoral_region(m, spacing, 20.0, exclude_tumor=True)
                       for m in masks_test])
    for name, heat in maps.items():
        inside, shell = heat[masks_test > 0], heat[shells > 0]
        outside = heat[(masks_test == 0) & (shells == 0)]
        rows.append({"scale": name, "tumour": float(inside.mean()),
                     "peritumoral": float(shell.mean()), "elsewhere": float(outside.mean()),
                     "tumour/elsewhere": float(inside.mean() / max(outside.mean(), 1e-6))})
    print(f"Grad-CAM of the outcome head, mean heat over {len(test)} held-out patients:")
    print(format_table(rows))
    write_json(out / "gradcam.json", {"rows": rows, "n_samples": n, "shape": list(shape),
                                      "epochs": len(est.history_)})
    i = int(np.argmax(masks_test.reshape(len(test), -1).sum(1)))
    _plot(X_test[i], masks_test[i], {k: v[i] for k, v in maps.items()},
          float(est.predict_proba(X_test[i:i + 1])[0, 1]), int(cohort.y[test][i]),
          out / "gradcam.png")
    return rows


def _plot(volume, mask, maps, proba, label, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    z = tumour_slice(mask, volume)
    fig, axes = plt.subplots(2, len(maps) + 1, figsize=(2.6 * (len(maps) + 1), 5.6))
    # arrays are (x, y, z) RAS+: axial slices are shown with y up, the coronal MIP with z up
    axial = volume[:, :, z].T
    coronal = volume.max(axis=1).T
    for row, (image, roi) in enumerate(((axial, mask[:, :, z].T),
                                        (coronal, mask.max(axis=1).T))):
        ax = axes[row, 0]
        ax.imshow(image, cmap="gray_r", origin="lower")
        if roi.any():
            ax.contour(roi, levels=[0.5], colors="tab:green", linewidths=0.8)
        ax.set_title("PET, tumour (green)" if row == 0 else "coronal MIP", fontsize=8)
        for col, (name, heat) in enumerate(maps.items(), start=1):
            overlay = heat[:, :, z].T if row == 0 else heat.max(axis=1).T
            ax = axes[row, col]
            ax.imshow(image, cmap="gray", origin="lower")
            ax.imshow(overlay, cmap="jet", alpha=0.45, vmin=0, vmax=1, origin="lower")
            if roi.any():
                ax.contour(roi, levels=[0.5], colors="white", linewidths=0.6)
            ax.set_title(name, fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(f"Grad-CAM of the outcome head (scale by scale); P(poor outcome) = "
                 f"{proba:.2f}, true outcome {label}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
