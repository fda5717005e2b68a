"""A TRIPOD+AI reporting checklist, pre-filled with what the run knows.

TRIPOD+AI (Collins et al., BMJ 2024;385:e078378) lists what a report of a prediction
model developed or evaluated with regression or machine learning should state. Items
are given here by number and topic in our own short words; the run fills in what it
recorded (data, outcome, missing labels, clinical covariates, model, validation,
performance) and marks the
rest for the authors. Always check the list against the published checklist.
"""

from __future__ import annotations

AUTHORS = "for the authors"
PREFILLED = "pre-filled"

# (item, topic, hint for the authors)
ITEMS = (
    ("1", "Title", "name the study as the development or evaluation of a prediction model, "
     "its target population and the outcome predicted"),
    ("2", "Abstract", "structured summary (see the TRIPOD+AI for Abstracts checklist)"),
    ("3a", "Background", "clinical context, the intended use and users of the model"),
    ("3b", "Background", "the care pathway the model would enter"),
    ("3c", "Background", "known health inequalities between groups"),
    ("4", "Objectives", "state whether the model is developed, evaluated or both"),
    ("5a", "Data source", "where the data come from and why they are suitable"),
    ("5b", "Data dates", "start and end of participant accrual and follow-up"),
    ("6a", "Participants", "setting and centres"),
    ("6b", "Participants", "eligibility criteria"),
    ("6c", "Participants", "treatments received"),
    ("7", "Data preparation", "pre-processing and quality checks of the images"),
    ("8a", "Outcome", "definition of the outcome and how and when it was assessed"),
    ("8b", "Outcome", "qualifications of the assessors and blinding"),
    ("8c", "Outcome", "consistency of outcome assessment across groups"),
    ("9a", "Predictors", "choice of the inputs"),
    ("9b", "Predictors", "how the inputs were acquired"),
    ("9c", "Predictors", "blinding of the input assessment to the outcome"),
    ("10", "Sample size", "how the sample size was arrived at"),
    ("11", "Missing data", "how missing data were handled"),
    ("12a", "Analytical methods", "how the data were used for development and evaluation"),
    ("12b", "Analytical methods", "how inputs were handled in the analyses"),
    ("12c", "Analytical methods", "model type, building, hyperparameters and internal "
     "validation"),
    ("12d", "Analytical methods", "heterogeneity across centres and its handling"),
    ("12e", "Analytical methods", "performance measures and their intervals"),
    ("12f", "Analytical methods", "model updating or recalibration"),
    ("12g", "Analytical methods", "how predictions were computed for evaluation"),
    ("13", "Class imbalance", "methods for class imbalance and recalibration after them"),
    ("14", "Fairness", "approaches to identify and address unfairness"),
    ("15", "Model output", "the output of the model and any thresholds"),
    ("16", "Training versus evaluation", "differences between development and evaluation "
     "data"),
    ("17", "Ethical approval", "ethics committee and consent"),
    ("18a", "Funding", "sources of funding and the role of funders"),
    ("18b", "Conflicts of interest", "declarations of the authors"),
    ("18c", "Protocol", "where the study protocol can be found"),
    ("18d", "Registration", "registration of the study"),
    ("18e", "Data sharing", "availability of the data"),
    ("18f", "Code sharing", "availability of the analytical code"),
    ("19", "Patient and public involvement", "their involvement in the study"),
    ("20a", "Participants", "flow of participants, with and without the outcome"),
    ("20b", "Participants", "characteristics of the participants, by centre"),
    ("20c", "Participants", "comparison with the development data (evaluation studies)"),
    ("21", "Model development", "participants and outcome events in each analysis"),
    ("22", "Model specification", "the full model, or how to access it"),
    ("23a", "Model performance", "performance with confidence intervals"),
    ("23b", "Model performance", "performance in key subgroups"),
    ("24", "Model updating", "results of any updating"),
    ("25", "Interpretation", "overall interpretation, with fairness"),
    ("26", "Limitations", "limitations of the study"),
    ("27a", "Usability", "how poor-quality or unavailable inputs are handled in practice"),
    ("27b", "Usability", "user interaction and the expertise needed"),
    ("27c", "Usability", "future research and generalisability"),
)


def _outcome_text(card: dict, survival: bool) -> tuple[str, dict]:
    data = card["data"]
    if survival:
        return ("time to event: {n_events} events and {n_censored} censored among "
                "{n_outcome_known} patients with a known outcome (median follow-up "
                "{follow_up_median})",
                {k: data[k] for k in ("n_events", "n_censored", "n_outcome_known",
                                      "follow_up_median")})
    return ("binary outcome, positive label {positive_label}: {n_positive} of "
            "{n_outcome_known} patients with a known outcome",
            {k: data[k] for k in ("positive_label", "n_positive", "n_outcome_known")})


def _preparation(card: dict, params: dict) -> tuple[str, dict]:
    values = {"intensity_scale": params.get("intensity_scale"), "suv": card["suv_provenance"]}
    if card["input"] == "NIfTI files":
        return ("NIfTI files reoriented to RAS+, resampled to {spacing} mm and read in a "
                "window of {input_shape} voxels; intensity scaling {intensity_scale}; SUV: "
                "{suv}", {"spacing": params.get("spacing"),
                          "input_shape": params.get("input_shape"), **values})
    return ("volumes given as arrays, voxel size {voxel_size} mm; intensity scaling "
            "{intensity_scale}; SUV: {suv}", {"voxel_size": card["voxel_size_mm"], **values})


def _prefilled(card: dict, survival: bool) -> dict:
    """Item -> (text with {placeholders}, values) for what the run recorded."""
    data, validation = card["data"], card["validation"]
    params = {p["name"]: p["value"] for p in card["parameters"]}
    scheme = ("{n_repeats} repeat(s) of {n_splits}-fold cross-validation"
              + (", folds grouped by centre" if validation["grouped"] else ", stratified")
              if validation["kind"] == "cross-validation" else "evaluation of a fitted model "
              "on a test cohort")
    out = {
        "7": _preparation(card, params),
        "8a": _outcome_text(card, survival),
        "9a": ("the PET volume; tumour masks and pathology as auxiliary tasks where known "
               "(tasks {tasks})", {"tasks": params.get("tasks")}),
        "10": ("{n_patients} patients", {"n_patients": data["n_patients"]}),
        "11": ("{n_outcome_missing} patients without an outcome (used by the auxiliary "
               "tasks, not scored), {n_masks_missing} without a mask, "
               "{n_pathology_missing} without pathology; each task is trained on the "
               "patients that have its label" + (
                   "; the radiomics baseline imputes medians"
                   if "radiomics" in validation["compare"] else ""),
               {k: data[k] for k in ("n_outcome_missing", "n_masks_missing",
                                     "n_pathology_missing")}),
        "12a": (scheme, {k: validation[k] for k in ("n_repeats", "n_splits")}),
        "12c": ("{estimator} with the parameters of the model card; every fold model is "
                "saved in the run folder", {"estimator": card["estimator"]}),
        "12e": ("discrimination, calibration, Brier score and decision curves with "
                "percentile bootstrap intervals over patients ({n_resamples} resamples)",
                {"n_resamples": validation["n_resamples"]}),
        "12g": ("out-of-fold predictions: every patient is predicted by models that did "
                "not see it, averaged over the repeats for the figures", {}),
        "13": ("class weights: {class_weight}", {"class_weight": params.get("class_weight")}),
        "14": ("metrics by pathology and by centre are in the Subgroups section", {}),
        "15": (("risk score and survival probability at the horizons {horizons}"
                if survival else "probability of the positive outcome (labelled positive "
                "above one half)"),
               {"horizons": validation.get("horizons")}),
        "18f": ("petmtl {version}", {"version": next(
            (s["version"] for s in card["software"] if s["name"] == "petmtl"), None)}),
        "20a": ("{n_patients} patients, {n_outcome_known} with a known outcome",
                {k: data[k] for k in ("n_patients", "n_outcome_known")}),
        "22": ("fold models: models/ of the run folder (petmtl model files)", {}),
        "23a": ("see the Performance, Discrimination and Calibration sections", {}),
        "23b": ("see the Subgroups section", {}),
    }
    if data.get("centres"):
        out["6a"] = ("{n_centres} centres (see the Subgroups section)",
                     {"n_centres": len(data["centres"])})
    if card.get("clinical") is not None:
        out.update(_clinical_items(card["clinical"], out, params))
    return out


def _clinical_items(clinical: dict, prefilled: dict, params: dict) -> dict:
    """Items 9a, 11 and 12b for a run with clinical covariates."""
    names = ", ".join(c["name"] for c in clinical["columns"])
    missing = ", ".join(f"{c['name']} {c['n_missing']}" for c in clinical["columns"])
    text, values = prefilled["11"]
    how = ("numeric covariates imputed by the training median with a missing indicator, "
           "categorical ones given a level of their own, learnt on {learnt_on}")
    return {
        "9a": ("the PET volume and the clinical covariates {covariates}; tumour masks and "
               "pathology as auxiliary tasks where known (tasks {tasks})",
               {"covariates": names, "tasks": params.get("tasks")}),
        "11": (text + "; missing covariate values per column: {covariate_missing}; " + how,
               {**values, "covariate_missing": missing, "learnt_on": clinical["learnt_on"]}),
        "12b": ("clinical covariates: numeric ones standardised after median imputation "
                "with a missing indicator, categorical ones one-hot encoded, learnt on "
                "{learnt_on}; the network reads them beside its image features in the "
                "outcome head ({fusion} fusion); the PET as in item {item}",
                {"learnt_on": clinical["learnt_on"], "fusion": clinical["fusion"],
                 "item": "7"}),
    }


def checklist(card: dict, survival: bool) -> list[dict]:
    """The checklist: one entry per item with its status, text and values.

    Returns
    -------
    list of dict
        ``item``, ``topic``, ``status`` ("pre-filled" or "for the authors"), ``text``
        (with ``{name}`` placeholders for ``values``) and ``values``.
    """
    known = _prefilled(card, survival)
    out = []
    for item, topic, hint in ITEMS:
        if item in known:
            text, values = known[item]
            values = {k: (None if v is None else (v if isinstance(v, (int, float)) and
                                                   not isinstance(v, bool) else str(v)))
                      for k, v in values.items()}
            out.append({"item": item, "topic": topic, "status": PREFILLED, "text": text,
                        "values": values})
        else:
            out.append({"item": item, "topic": topic, "status": AUTHORS,
                        "text": f"to be completed by the authors: {hint}", "values": {}})
    return out
