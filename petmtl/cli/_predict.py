"""``petmtl predict``: one read and one pass per PET file for every output asked."""

from __future__ import annotations

import csv
import io
import os

import numpy as np

from ..serialization import load
from ..survival.estimator import MultiTaskPETSurvival
from ._common import (
    UserError,
    atomic_write_text,
    fitted_covariates,
    model_input,
    read_manifest,
    safe_name,
)


def default_horizons(est) -> list[float]:
    """Survival horizons when none are given: quartiles of the training event times."""
    train = est.survival_train_
    times = train["time"][train["event"]]
    return [float(t) for t in np.quantile(times, [0.25, 0.5, 0.75])] if len(times) else []


def predict_rows(est, manifest, *, quiet: bool, masks_dir=None, threshold=0.5,
                 want_masks=False, reference_masks=False, horizons=(),
                 masks_format: str = "nifti") -> dict:
    """Per-patient outcome, pathology and (optionally) masks, each file read once.

    The outcome is the probability of the positive class and the predicted label for a
    binary model, or the risk score and the survival at each of ``horizons`` for a
    survival model (:meth:`~petmtl.MultiTaskPETEstimator.predict_files`). With
    ``reference_masks`` the manifest's masks are read against the same read of the PET
    (``"reference_masks"``).
    """
    segment = masks_dir is not None or want_masks
    if segment and "segmentation" not in est.tasks:
        raise UserError("this model was trained without the segmentation task, so it "
                        "cannot predict masks")
    survival = isinstance(est, MultiTaskPETSurvival)
    outputs = ["risk", "survival"] if survival else ["proba", "label"]
    outputs += ["pathology"] if "pathology" in est.tasks else []
    outputs += ["masks"] if segment else []
    est.set_params(verbose=0 if quiet else 1)  # a progress bar over the files
    clinical = fitted_covariates(est)
    if clinical:
        est.set_params(image_column="image")
    rows = est.predict_files(
        model_input(manifest, clinical), outputs=outputs, threshold=threshold,
        masks=list(manifest.masks) if reference_masks else None,
        times=list(horizons) if survival else None, output_dir=masks_dir,
        names=[safe_name(i) for i in manifest.ids] if masks_dir is not None else None,
        output_format=masks_format)
    if not survival:
        rows["score"] = rows["proba"][:, 1]
    return rows


def cmd_predict(args) -> int:
    """Run ``petmtl predict``."""
    est = load(args.model)
    manifest = read_manifest(args, fitted_covariates(est))
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise UserError(f"--out: folder does not exist for {args.out}")
    if args.masks_dir is not None:
        os.makedirs(args.masks_dir, exist_ok=True)
    survival = isinstance(est, MultiTaskPETSurvival)
    horizons = (args.horizons if args.horizons else default_horizons(est)) if survival else []
    rows = predict_rows(est, manifest, quiet=args.quiet, masks_dir=args.masks_dir,
                        threshold=args.threshold, horizons=horizons,
                        masks_format=args.masks_format)
    if survival:
        header = ["risk", *[f"survival_{h:g}" for h in horizons]]
        columns = [rows["risk"], *rows["survival"].T]
    else:
        header = ["predicted_outcome", f"probability_{est.classes_[1]}"]
        columns = [rows["label"], rows["score"]]
    if "pathology" in est.tasks:
        header.append("predicted_pathology")
        columns.append(rows["pathology"])
    if args.masks_dir is not None:
        header.append("predicted_mask_path")
        columns.append(rows["masks"])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["patient_id", "pet_path", *header])
    for i, pid in enumerate(manifest.ids):
        cells = [f"{c[i]:.6f}" if isinstance(c[i], float | np.floating) else c[i]
                 for c in columns]
        writer.writerow([pid, manifest.X[i], *cells])
    atomic_write_text(args.out, buffer.getvalue())
    print(f"petmtl predict: {len(manifest)} predictions written to {args.out}")
    return 0
