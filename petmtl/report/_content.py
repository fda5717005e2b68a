"""Every number of the report, computed from a run's per-patient predictions.

The figures use, for each patient, the out-of-fold prediction averaged over the
repeats; the headline table uses the run's ``metrics.json`` (metrics averaged over the
repeats, with their bootstrap intervals).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import roc_curve

from ..metrics import bootstrap_interval, concordance_index_censored
from . import statistics as st

NET_BENEFIT_AT = (0.1, 0.2, 0.3, 0.4, 0.5)
MAX_LEVELS = 8
"""A categorical covariate with more levels is not offered as a subgroup."""


def _row_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the last-but-one axis (repeats), NaN where every repeat is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=1)


def averaged(predictions: dict) -> dict:
    """Each patient's prediction averaged over the repeats."""
    out = {"score": _row_mean(predictions["score"])}
    out["survival"] = (None if predictions["survival"] is None
                       else _row_mean(predictions["survival"]))
    for key in ("dice", "hd95", "mtv_reference_ml", "mtv_predicted_ml"):
        out[key] = None if predictions[key] is None else _row_mean(predictions[key])
    return out


class Outcome:
    """The known outcomes of a run, in the forms the statistics take."""

    def __init__(self, cohort: dict, survival: bool):
        self.survival = survival
        if survival:
            self.time = np.array([np.nan if t is None else t for t in cohort["time"]], float)
            self.known = np.isfinite(self.time)
            self.event = np.array([bool(e) for e in cohort["event"]])
            self.strata = self.event.astype(int)
        else:
            positive = cohort["classes"][1]
            self.known = np.array([v is not None for v in cohort["outcome"]])
            self.y = np.array([v == positive for v in cohort["outcome"]], dtype=int)
            self.strata = self.y

    def target(self, rows: np.ndarray):
        """The metric's target for ``rows``: 0/1, or columns (event, time)."""
        if self.survival:
            return np.column_stack([self.event[rows].astype(float), self.time[rows]])
        return self.y[rows]


def primary_metric(survival: bool):
    """The discrimination metric: ``metric(target, score)``."""
    if survival:
        def harrell(y, risk):
            return concordance_index_censored(event=y[:, 0].astype(bool), time=y[:, 1],
                                              estimate=risk)[0]
        return harrell
    from sklearn.metrics import roc_auc_score

    return lambda y, s: float(roc_auc_score(y, s))


def _interval(metric, target, score, strata, options) -> dict:
    try:
        with warnings.catch_warnings():  # small subgroups: resamples with one class
            warnings.simplefilter("ignore", RuntimeWarning)
            estimate, low, high = bootstrap_interval(metric, target, score, stratify=strata,
                                                     **options)
    except ValueError:
        return {"estimate": None, "low": None, "high": None}
    return {"estimate": estimate, "low": low, "high": high}


def summary(run, outcome: Outcome) -> dict:
    """The run, the cohort in brief and the headline metrics of every model."""
    metrics, main = run.metrics, run.metrics["primary_metric"]
    second = "integrated_brier_score" if outcome.survival else "brier"
    models = []
    for name, values in metrics["models"].items():
        entry = {"name": name, "primary": values[main]["mean"],
                 "per_repeat": [r["estimate"] for r in values[main]["repeats"]]}
        other = values.get(second)
        entry["secondary"] = None if other is None else (
            other["mean"] if outcome.survival else other["mean"]["estimate"])
        models.append(entry)
    known = outcome.known
    out = {"kind": run.kind, "estimator": run.settings["estimator"],
           "n_patients": len(known), "n_known": int(known.sum()),
           "n_splits": run.settings["n_splits"], "n_repeats": run.settings["n_repeats"],
           "primary_metric": main, "confidence_percent": 95,
           "n_resamples": metrics["bootstrap"]["n_resamples"], "models": models,
           "differences": metrics["differences"]}
    if outcome.survival:
        out["n_events"] = int(outcome.event[known].sum())
    else:
        out["n_positive"] = int(outcome.y[known].sum())
    return out


def binary_sections(avg: dict, outcome: Outcome, options: dict) -> dict:
    """ROC, calibration and decision curve of every model's averaged probabilities."""
    rows = outcome.known
    y = outcome.y[rows]
    models = {}
    for name, p in avg.items():
        prob = p["score"][rows]
        fpr, tpr, _ = roc_curve(y, prob)
        entry = {"auc": primary_metric(False)(y, prob),
                 "roc_curve": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
                 "brier": float(np.mean((prob - y) ** 2)),
                 "decision": st.decision_curve(y, prob),
                 "net_benefit_at": st.net_benefit(y, prob, NET_BENEFIT_AT).tolist()}
        try:
            entry["calibration"] = st.calibration_slope_intercept(y, prob)
        except ValueError:
            entry["calibration"] = None
        models[name] = entry
    main = avg["petmtl"]["score"][rows]
    models["petmtl"]["roc"] = st.roc_band(y, main, n_resamples=options["n_resamples"],
                                          random_state=options["random_state"])
    n_bins = 10 if len(y) >= 200 else 5
    treat_all = st.net_benefit(y, np.ones(len(y)), NET_BENEFIT_AT).tolist()
    return {"models": models, "net_benefit_thresholds": list(NET_BENEFIT_AT),
            "treat_all_at": treat_all,
            "reliability": st.reliability_curve(y, main, n_bins=n_bins),
            "reliability_bins": n_bins}


def survival_sections(avg: dict, run, outcome: Outcome) -> dict:
    """Time-dependent AUC, calibration at the horizons, decision curve and risk groups."""
    rows = outcome.known
    t, e = outcome.time[rows], outcome.event[rows]
    times = np.asarray(run.settings["times"])
    horizons = run.settings["horizons"]
    middle = horizons[len(horizons) // 2]
    models = {}
    for name, p in avg.items():
        entry = {"cindex": primary_metric(True)(np.column_stack([e, t]), p["score"][rows]),
                 "td_auc": st.time_dependent_auc(e, t, p["score"][rows], times)}
        survival = p["survival"][rows]
        at = {h: survival[:, list(times).index(h)] for h in horizons}
        entry["calibration"] = [st.survival_calibration(e, t, at[h], h) for h in horizons]
        entry["decision"] = st.survival_net_benefit(e, t, 1.0 - at[middle], middle)
        entry["net_benefit_at"] = st.survival_net_benefit(e, t, 1.0 - at[middle], middle,
                                                          NET_BENEFIT_AT)["model"]
        models[name] = entry
    risk = avg["petmtl"]["score"][rows]
    treat_all = st.survival_net_benefit(e, t, np.ones(len(t)), middle, NET_BENEFIT_AT)
    return {"models": models, "horizons": list(horizons), "decision_horizon": middle,
            "net_benefit_thresholds": list(NET_BENEFIT_AT),
            "treat_all_at": treat_all["treat_all"],
            "risk_groups": {"halves": st.risk_group_curves(e, t, risk, 2),
                            "tertiles": st.risk_group_curves(e, t, risk, 3)}}


def segmentation(avg: dict, run) -> dict | None:
    """Per-patient Dice, HD95 and MTV of the predicted masks, and their agreement."""
    p = avg["petmtl"]
    if p["dice"] is None:
        return None
    rows = np.flatnonzero(np.isfinite(p["dice"]))
    if not len(rows):
        return None
    ids = run.cohort["ids"]
    order = rows[np.argsort(p["dice"][rows], kind="stable")]
    cases = {"worst": int(order[0]), "median": int(order[len(order) // 2]),
             "best": int(order[-1])}
    table = [{"patient_id": ids[i], "fold": run.fold_of(i),
              **{k: (None if not np.isfinite(p[k][i]) else float(p[k][i]))
                 for k in ("dice", "hd95", "mtv_reference_ml", "mtv_predicted_ml")}}
             for i in rows]
    dice = p["dice"][rows]
    hd = p["hd95"][rows][np.isfinite(p["hd95"][rows])]
    both = rows[np.isfinite(p["mtv_reference_ml"][rows]) & np.isfinite(p["mtv_predicted_ml"][rows])]
    out = {"n": len(rows), "dice_median": float(np.median(dice)),
           "dice_q1": float(np.percentile(dice, 25)), "dice_q3": float(np.percentile(dice, 75)),
           "hd95_median": float(np.median(hd)) if len(hd) else None,
           "n_hd95_undefined": int(len(rows) - len(hd)), "dice": dice.tolist(),
           "hd95": hd.tolist(), "cases": {k: {"index": v, "patient_id": ids[v],
                                              "dice": float(p["dice"][v])}
                                          for k, v in cases.items()},
           "patients": table, "bland_altman": None}
    if len(both) >= 2:
        out["bland_altman"] = st.bland_altman(p["mtv_reference_ml"][both],
                                              p["mtv_predicted_ml"][both])
    return out


def _subgroup_rows(labels, avg, outcome: Outcome, options: dict) -> list:
    metric = primary_metric(outcome.survival)
    score = avg["petmtl"]["score"]
    out = []
    for level in sorted({str(v) for v in labels if v is not None}):
        rows = outcome.known & np.array([v is not None and str(v) == level for v in labels])
        entry = {"level": level, "n": int(rows.sum())}
        entry["n_events" if outcome.survival else "n_positive"] = int(
            outcome.strata[rows].sum())
        entry.update(_interval(metric, outcome.target(rows), score[rows],
                               outcome.strata[rows], options))
        out.append(entry)
    return out


def subgroups(run, avg: dict, outcome: Outcome, options: dict, covariates=None) -> dict:
    """The primary metric by pathology, by centre and by each categorical covariate of
    ``covariates`` (``{name: labels}``), and the centre-outcome association."""
    out = {}
    for key in ("pathology", "centre"):
        labels = run.cohort.get(key)
        if labels is None or all(v is None for v in labels):
            continue
        out[key] = _subgroup_rows(labels, avg, outcome, options)
    if covariates:
        out["covariates"] = [{"name": name, "rows": _subgroup_rows(labels, avg, outcome,
                                                                   options)}
                             for name, labels in covariates.items()]
    centre = run.cohort.get("centre")
    out["association"] = None
    if centre is not None and len({str(c) for c in centre if c is not None}) >= 2:
        rows = outcome.known & np.array([c is not None for c in centre])
        labels = [str(c) for c, k in zip(centre, rows, strict=True) if k]
        try:
            if outcome.survival:
                out["association"] = st.centre_outcome_association(
                    labels, time=outcome.time[rows], event=outcome.event[rows])
            else:
                out["association"] = st.centre_outcome_association(labels,
                                                                   outcome=outcome.y[rows])
        except ValueError:
            out["association"] = None
    return out


def covariate_groups(run, clinical) -> dict:
    """Each categorical covariate of the run with two to :data:`MAX_LEVELS` levels, as
    per-patient labels (None where missing), from the table ``clinical``.

    Parameters
    ----------
    run : CVRun
    clinical : pandas.DataFrame or None
        The run's covariates, one row per patient in the run's order (the run folder
        keeps none); checked against the digest the run recorded.

    Returns
    -------
    dict
        ``{name: labels}``; empty without covariates.

    Raises
    ------
    ValueError
        If ``clinical`` is given for a run without covariates, lacks one of the run's
        columns, or differs from the covariates the run used.
    """
    from ..clinical import as_levels
    from ..model_selection._clinical import digest_table

    recorded = run.cohort.get("clinical")
    if clinical is None:
        return {}
    if recorded is None:
        raise ValueError("clinical is given but the run used no clinical covariates")
    names = [c["name"] for c in recorded["columns"]]
    absent = [c for c in names if c not in getattr(clinical, "columns", [])]
    if absent:
        raise ValueError(f"clinical lacks the run's covariate(s) {absent}")
    table = clinical[names].reset_index(drop=True)
    if digest_table(table) != run.cohort["fingerprint"].get("clinical"):
        raise ValueError("clinical differs from the covariates the run used (its digest in "
                         "cv.json); pass the same table, rows in the run's order")
    out = {}
    for column in recorded["columns"]:
        if column["type"] != "categorical" or not 2 <= len(column["levels"]) <= MAX_LEVELS:
            continue
        levels = as_levels(np.asarray(table[column["name"]], dtype=object).reshape(-1, 1))
        out[column["name"]] = [None if isinstance(v, float) else str(v) for v in levels[:, 0]]
    return out
