"""``petmtl evaluate``: outcome, segmentation and pathology scores of a model."""

from __future__ import annotations

import numpy as np

from ..survival.estimator import MultiTaskPETSurvival
from ._common import UserError, encode_labels, fitted_covariates, read_manifest, report
from ._predict import predict_rows


def _binary_metrics(est, manifest, rows) -> dict:
    from sklearn.metrics import roc_auc_score

    y = encode_labels(manifest.y, est.classes_, manifest.ids, "outcome")
    known = y >= 0
    both = known.any() and len(np.unique(y[known])) == 2
    return {"n_outcomes": int(known.sum()),
            "auc": float(roc_auc_score(y[known], rows["score"][known])) if both else None,
            "accuracy": (float(np.mean((rows["score"][known] > 0.5) == y[known]))
                         if known.any() else None)}


def _survival_metrics(manifest, rows) -> dict:
    from ..metrics import bootstrap_interval, concordance_index_censored

    if manifest.survival is None:
        raise UserError("the model predicts survival but the manifest has no time and event "
                        "columns (see --time-column, --event-column)")
    known = np.isfinite(manifest.survival["time"])
    event, time = manifest.survival["event"][known], manifest.survival["time"][known]
    metrics = {"n_outcomes": int(known.sum()), "cindex": None, "cindex_low": None,
               "cindex_high": None}
    if event.any() and known.sum() > 1:
        def harrell(e, t, risk):
            return concordance_index_censored(e.astype(bool), t, risk)[0]

        estimate, low, high = bootstrap_interval(harrell, event, time, rows["risk"][known],
                                                 stratify=event, random_state=0)
        metrics.update(cindex=float(estimate), cindex_low=float(low), cindex_high=float(high))
    return metrics


def cmd_evaluate(args) -> int:
    """Run ``petmtl evaluate``."""
    from ..metrics import dice_score
    from ..serialization import load

    est = load(args.model)
    manifest = read_manifest(args, fitted_covariates(est))
    with_masks = "segmentation" in est.tasks and any(m is not None for m in manifest.masks)
    rows = predict_rows(est, manifest, quiet=args.quiet, want_masks=with_masks,
                        threshold=args.threshold, reference_masks=with_masks)
    metrics: dict[str, float | int | None] = {"n_patients": len(manifest)}
    if isinstance(est, MultiTaskPETSurvival):
        metrics.update(_survival_metrics(manifest, rows))
    else:
        metrics.update(_binary_metrics(est, manifest, rows))
    metrics["dice"] = None
    if with_masks:
        scores = [dice_score(truth[None], predicted[None], per_sample=True)[0]
                  for truth, predicted in zip(rows["reference_masks"], rows["masks"], strict=True)
                  if truth is not None]
        metrics["dice"] = float(np.mean(scores))
        metrics["n_masks"] = len(scores)
    metrics["pathology_accuracy"] = None
    if "pathology" in est.tasks:
        codes = encode_labels(manifest.pathology, est.pathology_classes_, manifest.ids,
                              "pathology")
        ok = codes >= 0
        if ok.any():
            predicted = encode_labels(rows["pathology"], est.pathology_classes_, manifest.ids,
                                      "pathology")
            metrics["pathology_accuracy"] = float(np.mean(predicted[ok] == codes[ok]))
    report(metrics, args.json)
    return 0
