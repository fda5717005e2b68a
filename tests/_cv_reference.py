"""Recompute the pooled metrics of a ``petmtl cv`` folder from its own files, independently.

Reads only ``cv.json`` (the seed and the number of resamples), ``predictions.csv`` and
``metrics.json``; computes every pooled AUC, Brier score and Harrell's C-index with
scikit-learn or lifelines and the percentile bootstrap intervals with numpy (resampling
within outcome classes, or events and censored patients, as documented), then compares
them with ``metrics.json``. Used by tests/test_cv.py, and as a script on a full-size run::

    python tests/_cv_reference.py RUN_FOLDER
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np


def read_predictions(folder: Path) -> dict:
    """``{model: {repeat: rows}}`` of predictions.csv, rows in file order."""
    out: dict = {}
    with open(folder / "predictions.csv", newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["model"], {}).setdefault(int(row["repeat"]), []).append(row)
    return out


def resample_indices(strata: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Rows of each resample: every stratum (in order of first appearance) drawn with
    replacement within itself from one ``RandomState(seed)``, strata side by side."""
    rng = np.random.RandomState(seed)
    order = list(dict.fromkeys(strata.tolist()))
    groups = [np.flatnonzero(strata == s) for s in order]
    return np.concatenate([g[rng.randint(0, len(g), size=(n_resamples, len(g)))]
                           for g in groups], axis=1)


def interval(metric, arrays, strata, n_resamples: int, seed: int, confidence=0.95):
    """(estimate, low, high) of ``metric(*arrays)`` with a percentile bootstrap."""
    values = []
    for rows in resample_indices(strata, n_resamples, seed):
        try:
            value = metric(*[a[rows] for a in arrays])
        except ValueError:
            continue
        if np.isfinite(value):
            values.append(value)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return metric(*arrays), low, high


def outcome_arrays(rows: list[dict], survival: bool, positive: str = "1"):
    """Known-outcome rows: the target and the strata."""
    if survival:
        known = [r for r in rows if r["time"] != ""]
        event = np.array([int(r["event"]) for r in known])
        time = np.array([float(r["time"]) for r in known])
        return known, np.column_stack([event, time]), event
    known = [r for r in rows if r["outcome"] != ""]
    y = np.array([int(r["outcome"] == positive) for r in known])
    return known, y, y


def metric_functions(survival: bool) -> dict:
    if survival:
        from lifelines.utils import concordance_index

        def cindex(y, risk):
            if not y[:, 0].any():
                raise ValueError("no event")
            return concordance_index(y[:, 1], -risk, y[:, 0])

        return {"cindex": cindex}
    from sklearn.metrics import brier_score_loss, roc_auc_score

    return {"auc": lambda y, s: roc_auc_score(y, s), "brier": brier_score_loss}


def recompute(folder) -> dict:
    """Every pooled outcome metric of the run, ``{model: {metric: {...}}}``."""
    folder = Path(folder)
    run = json.loads((folder / "cv.json").read_text())
    settings = run["settings"]
    survival, seed, n = settings["survival"], settings["random_state"], settings["n_resamples"]
    positive = None if survival else str(run["cohort"]["classes"][1])
    predictions = read_predictions(folder)
    out: dict = {}
    for model, repeats in predictions.items():
        columns, target, strata = [], None, None
        for r in sorted(repeats):
            known, target, strata = outcome_arrays(repeats[r], survival, positive)
            columns.append(np.array([float(row["score"]) for row in known]))
        scores = np.column_stack(columns)
        out[model] = {}
        for name, metric in metric_functions(survival).items():
            def mean_metric(y, s, metric=metric):
                return float(np.mean([metric(y, s[:, k]) for k in range(s.shape[1])]))
            out[model][name] = {
                "repeats": [interval(metric, (target, scores[:, k]), strata, n, seed)
                            for k in range(scores.shape[1])],
                "mean": interval(mean_metric, (target, scores), strata, n, seed)}
        out[model]["_scores"] = scores
        out[model]["_target"] = (target, strata)
    return out


def differences(folder, reference: dict) -> list:
    """Paired bootstrap differences of the main model to each baseline."""
    folder = Path(folder)
    settings = json.loads((folder / "cv.json").read_text())["settings"]
    survival, seed, n = settings["survival"], settings["random_state"], settings["n_resamples"]
    metric = next(iter(metric_functions(survival).values()))

    def mean_metric(y, s):
        return float(np.mean([metric(y, s[:, k]) for k in range(s.shape[1])]))

    target, strata = reference["petmtl"]["_target"]
    out = []
    for name in settings["compare"]:
        a, b = reference["petmtl"]["_scores"], reference[name]["_scores"]
        values = [mean_metric(target[rows], a[rows]) - mean_metric(target[rows], b[rows])
                  for rows in resample_indices(strata, n, seed)]
        tail = 100 * (1 - 0.95) / 2
        low, high = np.percentile(values, [tail, 100 - tail])
        p = (1 + np.count_nonzero(np.asarray(values) <= 0)) / (1 + len(values))
        out.append((name, mean_metric(target, a) - mean_metric(target, b), low, high, p))
    return out


def compare(folder, atol: float = 0.0) -> int:
    """Check metrics.json against the recomputation; return the number of values checked."""
    folder = Path(folder)
    written = json.loads((folder / "metrics.json").read_text())
    reference = recompute(folder)
    # every model of metrics.json (the estimator and each baseline, e.g. the clinical
    # ones) has its rows in predictions.csv, and no other model does
    assert list(reference) == list(written["models"]), (list(reference),
                                                        list(written["models"]))
    checked = 0
    for model, metrics in reference.items():
        for name, values in metrics.items():
            if name.startswith("_"):
                continue
            pairs = [*zip(values["repeats"], written["models"][model][name]["repeats"],
                          strict=True), (values["mean"], written["models"][model][name]["mean"])]
            for ours, theirs in pairs:
                got = (theirs["estimate"], theirs["low"], theirs["high"])
                assert np.allclose(ours, got, rtol=0, atol=atol), (model, name, ours, got)
                checked += 3
    for (name, *ours), theirs in zip(differences(folder, reference), written["differences"],
                                     strict=True):
        assert theirs["reference"] == name
        got = (theirs["estimate"], theirs["low"], theirs["high"], theirs["p_value_one_sided"])
        assert np.allclose(ours, got, rtol=0, atol=atol), (name, ours, got)
        checked += 4
    return checked


if __name__ == "__main__":
    survival = json.loads((Path(sys.argv[1]) / "cv.json").read_text())["settings"]["survival"]
    count = compare(sys.argv[1], atol=1e-12 if survival else 0.0)
    print(f"{sys.argv[1]}: {count} values of metrics.json reproduced from predictions.csv")
