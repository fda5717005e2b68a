"""``petmtl predict``: one read and one pass per PET file for every output asked."""

from __future__ import annotations

import csv
import io
import os
import sys

import numpy as np
from tqdm.auto import tqdm

from .._outputs import finish_segmentation
from ._common import UserError, atomic_write_text, read_manifest, safe_name


def default_horizons(est) -> list[float]:
    """Survival horizons when none are given: quartiles of the training event times."""
    train = est.survival_train_
    times = train["time"][train["event"]]
    return [float(t) for t in np.quantile(times, [0.25, 0.5, 0.75])] if len(times) else []


def predict_rows(est, manifest, *, quiet: bool, masks_dir=None, threshold=0.5,
                 want_masks=False, reference_masks=False, horizons=()):
    """Per-patient outcome, pathology and (optionally) masks, each file read once.

    The outcome is the probability of the positive class and the predicted label for a
    binary model, or the risk score and the survival at each of ``horizons`` for a
    survival model. With ``reference_masks`` the manifest's masks are read against the
    same read of the PET (``out["reference"]``).
    """
    n = len(manifest)
    survival = hasattr(est, "survival_train_")
    has_pathology = "pathology" in est.tasks
    segment = masks_dir is not None or want_masks
    if segment and "segmentation" not in est.tasks:
        raise UserError("this model was trained without the segmentation task, so it "
                        "cannot predict masks")
    outputs = ["outcome", *(["pathology"] if has_pathology else []),
               *(["segmentation"] if segment else [])]
    targets = [None] * n
    if masks_dir is not None:
        targets = [os.path.join(masks_dir, f"{safe_name(i)}_seg.nii.gz") for i in manifest.ids]
    out = {"score": np.zeros(n), "label": np.empty(n, dtype=object),
           "survival": np.zeros((n, len(horizons))),
           "pathology": np.empty(n, dtype=object), "masks": [None] * n, "reference": [None] * n}
    files = est._predict_files(list(manifest.X), outputs,
                               reference_masks=list(manifest.masks) if reference_masks else None)
    bar = tqdm(files, total=n, desc="petmtl predict", unit="patient", disable=quiet,
               file=sys.stderr)
    for i, item in enumerate(bar):
        if survival:
            out["score"][i] = est._risk(item["outcome"][None])[0]
            out["survival"][i] = est._survival_at(item["outcome"][None], horizons)[0]
        else:
            out["score"][i] = est._outcome_proba(item["outcome"])[0, 1]
            out["label"][i] = est.classes_[int(out["score"][i] > 0.5)]
        if has_pathology:
            proba = est._pathology_proba(item["pathology"])[0]
            out["pathology"][i] = est.pathology_classes_[int(proba.argmax())]
        if segment:
            out["masks"][i] = finish_segmentation(item["segmentation"], item["record"],
                                                  manifest.X[i], threshold=threshold,
                                                  target=targets[i], header=item["header"])
        reference = item.get("reference_mask")
        out["reference"][i] = None if reference is None else np.asarray(reference)
    return out


def cmd_predict(args) -> int:
    """Run ``petmtl predict``."""
    from ..serialization import load

    est = load(args.model)
    manifest = read_manifest(args)
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise UserError(f"--out: folder does not exist for {args.out}")
    if args.masks_dir is not None:
        os.makedirs(args.masks_dir, exist_ok=True)
    survival = hasattr(est, "survival_train_")
    horizons = (args.horizons if args.horizons else default_horizons(est)) if survival else []
    rows = predict_rows(est, manifest, quiet=args.quiet, masks_dir=args.masks_dir,
                        threshold=args.threshold, horizons=horizons)
    if survival:
        header = ["risk", *[f"survival_{h:g}" for h in horizons]]
        columns = [rows["score"], *rows["survival"].T]
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
