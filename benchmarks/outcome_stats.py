"""Statistics and Markdown report of the outcome protocol (see ``benchmarks/outcome.py``).

Every figure is computed from the per-patient out-of-fold predictions that
``outcome.py`` stores, so a report can be recomputed from a results JSON alone.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import balanced_accuracy_score, brier_score_loss

from petmtl.metrics import bootstrap_interval, paired_bootstrap_difference
from petmtl.report.statistics import calibration_slope_intercept

REFERENCES = ("radiomics", "single_task", "radiomics_clinical", "default")
BOOTSTRAP_SEED = 0


def auc(y, score) -> float:
    """ROC AUC of 0/1 labels (Mann-Whitney U with mid-ranks); ValueError for one class.

    Equal to :func:`sklearn.metrics.roc_auc_score` and about 50 times faster, which
    matters for thousands of bootstrap resamples.
    """
    y = np.asarray(y, dtype=bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes")
    ranks = rankdata(np.asarray(score, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def mean_auc(y, scores) -> float:
    """Mean AUC over the columns (seeds) of ``scores``, shape (n, n_seeds)."""
    return float(np.mean([auc(y, scores[:, k]) for k in range(scores.shape[1])]))


def pool(folds: list[dict], n: int) -> dict:
    """Out-of-fold predictions of the folds (test indices, values) in patient order."""
    oof = {"scores": [None] * n, "labels": [None] * n,
           "dice": None if folds[0]["dice"] is None else [None] * n,
           "pathology": None if folds[0]["pathology"] is None else [None] * n}
    for fold in folds:
        for j, i in enumerate(fold["test"]):
            for key, values in oof.items():
                if values is not None:
                    values[i] = fold[key][j]
    return oof


def _interval(result) -> dict:
    estimate, low, high = result[:3]
    out = {"estimate": estimate, "low": low, "high": high, "n_resamples": result.n_resamples,
           "n_skipped": result.n_skipped}
    if len(result) == 4:
        out["p_value_one_sided"] = result[3]
    return out


def _nanmean(values) -> float | None:
    values = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    return None if np.isnan(values).all() else float(np.nanmean(values))


def seed_summary(y, positive, pathology, run: dict, n_resamples: int) -> dict:
    """Figures of one model and seed from its pooled out-of-fold predictions."""
    y_pos = np.asarray(y) == positive
    oof = run["oof"]
    scores = np.asarray(oof["scores"], dtype=np.float64)
    pooled = bootstrap_interval(auc, y_pos, scores, stratify=y_pos, n_resamples=n_resamples,
                                random_state=BOOTSTRAP_SEED)
    fold_aucs = []
    for fold in run["folds"]:
        test = np.asarray(fold["test"])
        try:
            fold_aucs.append(auc(y_pos[test], np.asarray(fold["scores"])))
        except ValueError:
            fold_aucs.append(None)
    known = [i for i, p in enumerate(pathology) if p is not None]
    pathology_acc = None
    if oof["pathology"] is not None and known:
        pathology_acc = float(np.mean([oof["pathology"][i] == pathology[i] for i in known]))
    seconds = sum(f["fit_seconds"] + f["predict_seconds"] for f in run["folds"])
    probability = 1.0 / (1.0 + np.exp(-scores))
    calibration = calibration_slope_intercept(y_pos.astype(int), probability)
    return {
        "brier": float(brier_score_loss(y_pos.astype(int), probability)),
        "calibration_slope": calibration["slope"],
        "calibration_intercept": calibration["intercept"],
        "auc": _interval(pooled),
        "fold_auc": fold_aucs,
        "balanced_accuracy": float(balanced_accuracy_score(
            np.asarray(y).tolist(), list(oof["labels"]))),
        "single_class_folds": sum(f["single_class"] for f in run["folds"]),
        "mean_dice": None if oof["dice"] is None else _nanmean(oof["dice"]),
        "pathology_accuracy": pathology_acc,
        "fit_seconds": [f["fit_seconds"] for f in run["folds"]],
        "minutes_per_cv_run": seconds / 60.0,
    }


def _score_matrix(run_by_seed: dict, seeds) -> np.ndarray:
    return np.column_stack([run_by_seed[s]["oof"]["scores"] for s in seeds]).astype(np.float64)


def mean_over_seeds(y, positive, runs: dict, seeds, n_resamples: int) -> dict:
    """Seed-mean pooled AUC with a patient bootstrap (all seeds resampled together)."""
    y_pos = np.asarray(y) == positive
    result = bootstrap_interval(mean_auc, y_pos, _score_matrix(runs, seeds), stratify=y_pos,
                                n_resamples=n_resamples, random_state=BOOTSTRAP_SEED)
    return {"auc": _interval(result)}


def comparisons(y, positive, results: dict, seeds, n_resamples: int) -> list[dict]:
    """Paired bootstrap differences in pooled AUC of each model against the references."""
    y_pos = np.asarray(y) == positive
    rows, done = [], set()
    for ref in REFERENCES:
        if ref not in results:
            continue
        for name, runs in results.items():
            if name == ref or frozenset((name, ref)) in done:
                continue  # radiomics vs single_task is single_task vs radiomics negated
            done.add(frozenset((name, ref)))
            for seed in [*seeds, "mean"] if len(seeds) > 1 else seeds:
                keys = seeds if seed == "mean" else [seed]
                a, b = _score_matrix(runs, keys), _score_matrix(results[ref], keys)
                metric = mean_auc if seed == "mean" else auc
                if seed != "mean":
                    a, b = a[:, 0], b[:, 0]
                diff = paired_bootstrap_difference(metric, y_pos, a, b, stratify=y_pos,
                                                   n_resamples=n_resamples,
                                                   random_state=BOOTSTRAP_SEED)
                rows.append({"model": name, "reference": ref, "seed": seed,
                             "auc_difference": _interval(diff)})
    return rows


def _fmt(value, spec=".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _ci(d: dict) -> str:
    return f"{d['estimate']:.3f} [{d['low']:.3f}, {d['high']:.3f}]"


def markdown(report: dict) -> str:
    """The protocol's Markdown tables: per-model figures, then paired differences."""
    seeds = report["protocol"]["seeds"]
    lines = [
        f"# Outcome benchmark: {report['protocol']['run_name']}", "",
        f"{report['cohort']['description']}; {report['protocol']['n_splits']}-fold stratified "
        f"CV, seeds {seeds}; pooled out-of-fold AUC with a stratified bootstrap 95 % CI "
        f"({report['protocol']['n_resamples']} resamples). Columns with one value per seed "
        "separate seeds with ';'.", "",
        "| model | AUC mean over seeds [95 % CI] | AUC per seed [95 % CI] | AUC per fold | "
        "bal. acc. | Brier | calibration slope | calibration intercept | single-class folds "
        "| Dice | pathology acc. | min per CV run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in report["models"].items():
        per_seed = [entry["seeds"][str(s)]["summary"] for s in seeds]
        folds = "; ".join(" ".join(_fmt(a, ".2f") for a in s["fold_auc"]) for s in per_seed)
        lines.append(
            f"| {name} | {_ci(entry['mean_over_seeds']['auc'])} | "
            + "; ".join(_ci(s["auc"]) for s in per_seed) + f" | {folds} | "
            + " | ".join("; ".join(_fmt(s.get(key), spec) for s in per_seed)
                         for key, spec in (
                ("balanced_accuracy", ".2f"), ("brier", ".3f"), ("calibration_slope", ".2f"),
                ("calibration_intercept", ".2f"), ("single_class_folds", "d"),
                ("mean_dice", ".2f"), ("pathology_accuracy", ".2f"),
                ("minutes_per_cv_run", ".2f"))) + " |")
    if report["comparisons"]:
        lines += ["", "Paired bootstrap difference in pooled AUC (model - reference); p: "
                  "one-sided bootstrap p-value of 'model not better'.", "",
                  "| model | reference | seed | delta AUC [95 % CI] | p |",
                  "|---|---|---|---|---|"]
        for row in report["comparisons"]:
            d = row["auc_difference"]
            lines.append(f"| {row['model']} | {row['reference']} | {row['seed']} | "
                         f"{d['estimate']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] | "
                         f"{d['p_value_one_sided']:.3f} |")
    return "\n".join(lines) + "\n"
