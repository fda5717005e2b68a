"""The model card: what was fitted, on which data, how it was trained and validated."""

from __future__ import annotations

import numpy as np

NOT_RECORDED = "not recorded"


def _counts(values) -> list[dict]:
    labels = [str(v) for v in values if v is not None]
    return [{"label": k, "n": labels.count(k)} for k in sorted(set(labels))]


def data_summary(cohort: dict, survival: bool) -> dict:
    """Patients, outcomes, censoring and missing labels."""
    n = cohort["n"]
    out = {"n_patients": n}
    if survival:
        known = [t is not None for t in cohort["time"]]
        events = [bool(e) for e, k in zip(cohort["event"], known, strict=True) if k]
        times = [t for t in cohort["time"] if t is not None]
        out.update(n_outcome_known=sum(known), n_events=sum(events),
                   n_censored=len(events) - sum(events),
                   censored_fraction=(len(events) - sum(events)) / max(len(events), 1),
                   follow_up_median=float(np.median(times)) if times else None,
                   follow_up_max=float(max(times)) if times else None)
    else:
        known = [v is not None for v in cohort["outcome"]]
        positive = cohort["classes"][1]
        out.update(n_outcome_known=sum(known), positive_label=str(positive),
                   n_positive=sum(v == positive for v in cohort["outcome"]))
    out["n_outcome_missing"] = n - out["n_outcome_known"]
    mask_known = cohort.get("mask_known")
    out["n_masks"] = None if mask_known is None else int(sum(mask_known))
    out["n_masks_missing"] = None if mask_known is None else n - int(sum(mask_known))
    pathology = cohort.get("pathology")
    out["pathology"] = None if pathology is None else _counts(pathology)
    out["n_pathology_missing"] = (None if pathology is None
                                  else sum(v is None for v in pathology))
    centre = cohort.get("centre")
    out["centres"] = None if centre is None else _counts(centre)
    return out


HANDLING = {
    "numeric": "median imputation with a missing indicator, then standardisation",
    "categorical": "one-hot encoding, a missing value as a level of its own, a level "
                   "unseen in training as none of the levels",
}
"""How the estimators and the clinical baselines preprocess each type of covariate."""


def clinical_summary(run) -> dict | None:
    """The covariates of the run: names, types, missingness, distribution, handling.

    Returns
    -------
    dict or None
        None for a run without covariates; else ``columns`` (one entry per covariate:
        ``name``, ``type``, ``n_missing``, ``missing_fraction``, ``handling`` and the
        ``median``/``q1``/``q3`` or the ``levels`` with counts), ``learnt_on`` and
        ``fusion`` (the estimator's ``clinical_fusion``).
    """
    recorded = run.cohort.get("clinical")
    if recorded is None:
        return None
    n = max(int(recorded["n"]), 1)
    columns = [{**c, "missing_fraction": c["n_missing"] / n, "handling": HANDLING[c["type"]]}
               for c in recorded["columns"]]
    learnt_on = ("the training patients of each fold" if run.kind == "cross-validation"
                 else "the training patients of the fitted model")
    fusion = run.settings["params"].get("clinical_fusion")
    return {"columns": columns, "learnt_on": learnt_on,
            "fusion": None if fusion is None else fusion.strip("'\""),
            "n_missing": sum(c["n_missing"] for c in columns)}


def training_summary(run) -> dict:
    """Epochs, best epochs and time of the networks of the first repeat."""
    folds = [run.folds["petmtl"][(0, k)] for k in range(run.settings["n_splits"])]
    return {"epochs": [len(f.get("history") or []) for f in folds],
            "best_epochs": [f.get("best_epoch") for f in folds],
            "seconds": [f.get("seconds") for f in folds],
            "has_history": any(f.get("history") for f in folds)}


def model_card(run, *, plotting_version: str | None = None) -> dict:
    """Everything the model card shows (see :func:`petmtl.report.build_report`).

    Returns
    -------
    dict
    """
    survival = bool(run.settings["survival"])
    software = dict(run.environment)
    if plotting_version is not None:
        software["matplotlib (report)"] = plotting_version
    params = run.settings["params"]
    validation = {"kind": run.kind, "n_splits": run.settings["n_splits"],
                  "n_repeats": run.settings["n_repeats"],
                  "grouped": bool(run.settings.get("grouped")),
                  "random_state": run.settings["random_state"],
                  "n_resamples": run.settings["n_resamples"],
                  "compare": list(run.settings["compare"])}
    if survival:
        validation["horizons"] = list(run.settings["horizons"])
    return {"estimator": run.settings["estimator"],
            "parameters": [{"name": k, "value": v} for k, v in sorted(params.items())],
            "data": data_summary(run.cohort, survival),
            "training": training_summary(run), "validation": validation,
            "software": [{"name": k, "version": str(v)} for k, v in software.items()],
            "suv_provenance": run.cohort.get("suv_provenance") or NOT_RECORDED,
            "manifest": run.cohort.get("manifest"),
            "input": "NIfTI files" if run.cohort.get("X") is not None else "arrays",
            "voxel_size_mm": list(run.cohort["spacing"]),
            "clinical": clinical_summary(run)}
