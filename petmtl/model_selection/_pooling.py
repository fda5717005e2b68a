"""Out-of-fold predictions pooled per patient, and their metrics with bootstrap intervals.

Every figure here is computed from the per-patient predictions written in the run's
folder, so an independent script can recompute them (see the "Cross-validation and
reports" page of the documentation for the exact procedure).
"""

from __future__ import annotations

import csv
import io

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

from ..metrics import (
    bootstrap_interval,
    concordance_index_censored,
    integrated_brier_score,
    paired_bootstrap_difference,
)
from ..survival import make_survival_y
from ._files import write_atomic

SEGMENTATION_KEYS = ("dice", "hd95", "mtv_reference_ml", "mtv_predicted_ml")


def _column(results, key, n, n_repeats, dtype=np.float64):
    """``(n, n_repeats)`` array of a per-patient key over the folds (NaN/None if absent)."""
    fill = np.nan if dtype is np.float64 else None
    out = np.full((n, n_repeats), fill, dtype=dtype)
    for (repeat, _), result in results.items():
        values = result.get(key)
        if values is None:
            continue
        for i, v in zip(result["test"], values, strict=True):
            out[i, repeat] = fill if v is None else v
    return out


def pool(results: dict, n: int, n_repeats: int, n_times: int = 0) -> dict:
    """Per-patient predictions of one model from its fold results.

    Parameters
    ----------
    results : dict
        ``{(repeat, fold): result}`` as written in the fold files.
    n, n_repeats, n_times : int

    Returns
    -------
    dict
        ``fold``, ``score`` and the other per-patient keys as ``(n, n_repeats)`` arrays,
        ``survival`` as ``(n, n_repeats, n_times)``; keys absent from the results are None.
    """
    first = next(iter(results.values()))
    out = {"fold": np.full((n, n_repeats), -1, dtype=np.int64)}
    for (repeat, fold), result in results.items():
        out["fold"][result["test"], repeat] = fold
    out["score"] = _column(results, "score", n, n_repeats)
    for key in ("label", "pathology"):
        present = first.get(key) is not None
        out[key] = _column(results, key, n, n_repeats, object) if present else None
    for key in SEGMENTATION_KEYS:
        out[key] = _column(results, key, n, n_repeats) if key in first else None
    out["survival"] = None
    if n_times:
        out["survival"] = np.full((n, n_repeats, n_times), np.nan)
        for (repeat, _), result in results.items():
            out["survival"][result["test"], repeat] = np.asarray(result["survival"], float)
    return out


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    return str(value.item() if isinstance(value, np.generic) else value)


def predictions_table(run: dict, pooled: dict) -> str:
    """CSV text of every out-of-fold prediction: one row per model, repeat and patient."""
    cohort, settings = run["cohort"], run["settings"]
    survival = settings["survival"]
    observed = ["time", "event"] if survival else ["outcome"]
    optional = [k for k in ("centre", "pathology") if cohort.get(k) is not None]
    times = settings.get("times") or []
    columns = ["model", "repeat", "fold", "patient_id", *observed, *optional, "score",
               *([] if survival else ["predicted_label"]),
               *[f"survival_at_{t!r}" for t in times], "predicted_pathology",
               *SEGMENTATION_KEYS]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for model, p in pooled.items():
        for r in range(settings["n_repeats"]):
            for i, pid in enumerate(cohort["ids"]):
                row = [model, r, int(p["fold"][i, r]), pid]
                row += ([cohort["time"][i], cohort["event"][i]] if survival
                        else [cohort["outcome"][i]])
                row += [cohort[k][i] for k in optional] + [p["score"][i, r]]
                if not survival:
                    row.append(None if p["label"] is None else p["label"][i, r])
                row += list(p["survival"][i, r]) if times else []
                row.append(None if p["pathology"] is None else p["pathology"][i, r])
                row += [None if p[k] is None else p[k][i, r] for k in SEGMENTATION_KEYS]
                writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def write_predictions(path, run: dict, pooled: dict) -> str:
    """Write :func:`predictions_table` to ``path`` atomically."""
    return write_atomic(path, predictions_table(run, pooled).encode("utf-8"))


# ------------------------------------------------------------------ metrics
def harrell(y: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C of ``risk`` for ``y`` given as columns (event, time)."""
    return concordance_index_censored(event=y[:, 0].astype(bool), time=y[:, 1],
                                      estimate=risk)[0]


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (:func:`sklearn.metrics.roc_auc_score`)."""
    return float(roc_auc_score(y, score))


def brier(y: np.ndarray, probability: np.ndarray) -> float:
    """Brier score (:func:`sklearn.metrics.brier_score_loss`)."""
    return float(brier_score_loss(y, probability))


class RepeatMean:
    """A metric averaged over the columns (repeats) of its score matrix; picklable."""

    def __init__(self, metric):
        self.metric = metric

    def __call__(self, y, scores) -> float:
        return float(np.mean([self.metric(y, scores[:, r]) for r in range(scores.shape[1])]))


def _interval(result) -> dict:
    out = {"estimate": result[0], "low": result[1], "high": result[2],
           "n_resamples": result.n_resamples, "n_skipped": result.n_skipped}
    if len(result) == 4:
        out["p_value_one_sided"] = result[3]
    return out


def _with_repeats(metric, y, scores, strata, options) -> dict:
    """The metric per repeat and averaged over repeats, each with an interval."""
    repeats = [_interval(bootstrap_interval(metric, y, scores[:, r], stratify=strata,
                                            **options)) for r in range(scores.shape[1])]
    mean = bootstrap_interval(RepeatMean(metric), y, scores, stratify=strata, **options)
    return {"repeats": repeats, "mean": _interval(mean)}


def outcome_targets(cohort: dict, survival: bool):
    """Rows with a known outcome, the target array the metrics take and the strata."""
    if survival:
        time = np.array([np.nan if t is None else t for t in cohort["time"]], dtype=float)
        known = np.isfinite(time)
        event = np.array([bool(e) for e in cohort["event"]])
        y = np.column_stack([event[known].astype(float), time[known]])
        return known, y, event[known].astype(np.int64)
    positive = cohort["classes"][1]
    known = np.array([v is not None for v in cohort["outcome"]])
    y = np.array([v == positive for v in np.asarray(cohort["outcome"], object)[known]],
                 dtype=np.int64)
    return known, y, y


def _segmentation_metrics(p: dict, options: dict) -> dict:
    out = {}
    for key in ("dice", "hd95"):
        values = p[key]
        if values is None:
            continue
        rows = np.isfinite(values).all(axis=1)
        if rows.sum() < 2:
            continue
        out[f"mean_{key}"] = _with_repeats(lambda y, v: float(np.mean(v)), values[rows],
                                           values[rows], None, options)
        out[f"mean_{key}"]["n_patients"] = int(rows.sum())
    return out


def _pathology_accuracy(p: dict, labels, options: dict) -> dict | None:
    if p["pathology"] is None or labels is None:
        return None
    rows = np.array([v is not None for v in labels])
    if rows.sum() < 2:
        return None
    truth = np.asarray(labels, dtype=object)[rows]
    hits = np.column_stack([(p["pathology"][rows, r] == truth).astype(float)
                            for r in range(p["pathology"].shape[1])])
    result = _with_repeats(lambda y, v: float(np.mean(v)), hits, hits, None, options)
    result["n_patients"] = int(rows.sum())
    return result


def integrated_brier(y: np.ndarray, survival: np.ndarray, times) -> list:
    """IBS of each repeat's survival predictions (the pooled outcomes as the censoring
    distribution); ``survival`` of shape (n, n_repeats, n_times)."""
    target = make_survival_y(event=y[:, 0].astype(bool), time=y[:, 1])
    return [integrated_brier_score(target, target, survival[:, r], times)
            for r in range(survival.shape[1])]


def model_metrics(p: dict, run: dict, options: dict) -> dict:
    """Pooled metrics of one model (see :func:`pooled_metrics`)."""
    survival = run["settings"]["survival"]
    known, y, strata = outcome_targets(run["cohort"], survival)
    scores = p["score"][known]
    out = {}
    if survival:
        out["cindex"] = _with_repeats(harrell, y, scores, strata, options)
        times = run["settings"]["times"]
        if len(times) >= 2:
            ibs = integrated_brier(y, p["survival"][known], times)
            out["integrated_brier_score"] = {"repeats": ibs, "mean": float(np.mean(ibs))}
    else:
        out["auc"] = _with_repeats(auc, y, scores, strata, options)
        out["brier"] = _with_repeats(brier, y, scores, strata, options)
    out.update(_segmentation_metrics(p, options))
    accuracy = _pathology_accuracy(p, run["cohort"].get("pathology"), options)
    if accuracy is not None:
        out["pathology_accuracy"] = accuracy
    return out


def pooled_metrics(pooled: dict, run: dict, *, n_resamples: int, random_state: int) -> dict:
    """Every pooled metric of every model, with percentile bootstrap intervals.

    Binary outcomes: ROC AUC and Brier score; survival: Harrell's C and the integrated
    Brier score (no interval); networks: mean Dice and HD95 (patients with a reference
    mask) and pathology accuracy. Each is given per repeat and averaged over the repeats,
    with a 95 % percentile bootstrap interval over patients (resampled within outcome
    classes, or events and censored patients). The main model is compared with each
    baseline by a paired bootstrap of the repeat-averaged AUC or C-index.

    Returns
    -------
    dict
    """
    options = {"n_resamples": n_resamples, "random_state": random_state}
    survival = run["settings"]["survival"]
    main = "cindex" if survival else "auc"
    out = {"primary_metric": main, "confidence": 0.95,
           "bootstrap": {"n_resamples": n_resamples, "random_state": random_state,
                         "method": "percentile", "stratify": "event" if survival
                         else "outcome"},
           "models": {name: model_metrics(p, run, options) for name, p in pooled.items()},
           "differences": []}
    known, y, strata = outcome_targets(run["cohort"], survival)
    metric = RepeatMean(harrell if survival else auc)
    for name in list(pooled)[1:]:
        diff = paired_bootstrap_difference(metric, y, pooled["petmtl"]["score"][known],
                                           pooled[name]["score"][known], stratify=strata,
                                           **options)
        out["differences"].append({"model": "petmtl", "reference": name, "metric": main,
                                   **_interval(diff)})
    return out
