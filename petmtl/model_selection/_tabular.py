"""The tabular baselines of a run: radiomics, clinical covariates, and both.

Each is a logistic regression (binary outcome) or an L2 Cox model with Breslow's baseline
survival (survival outcome) from :mod:`petmtl.baselines`, fitted on one fold's training
patients with a known outcome; all preprocessing (imputation, scaling, one-hot encoding)
is inside the scikit-learn pipeline, so it is learnt on those patients only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..survival import BreslowEstimator

if TYPE_CHECKING:
    from ._task import FoldTask

__all__ = ["fit_tabular", "prepare_radiomics", "run_clinical", "run_radiomics",
           "run_radiomics_clinical"]


def prepare_radiomics(estimator, cohort) -> dict:
    """SUVmax, SUVmean, MTV and TLG of every reference mask (NaN without a mask).

    Arrays are read at the run's ``spacing``; files on the network's grid (the
    estimator's ``spacing``, ``input_shape``, ``crop_center`` and ``interpolation``).
    """
    from ..baselines import RADIOMIC_FEATURES, radiomic_features

    if cohort.masks is None:
        raise ValueError("compare=('radiomics',) needs the reference masks (masks=None)")
    if not cohort.paths:
        masks = [None if m is None else np.asarray(m) for m in cohort.masks]
        features = radiomic_features(cohort.X, masks, cohort.spacing)
    else:
        from ..io import prepare_volume

        params = estimator.get_params()
        rows = []
        for pet, mask in zip(cohort.X, cohort.masks, strict=True):
            if mask is None:
                rows.append(np.full((1, len(RADIOMIC_FEATURES)), np.nan))
                continue
            volume, window, _ = prepare_volume(
                pet, mask, spacing=params["spacing"], shape=params["input_shape"],
                center=params["crop_center"], interpolation=params["interpolation"])
            rows.append(radiomic_features([volume], [window], params["spacing"]))
        features = np.concatenate(rows)
    return {"features": features,
            "table": {"columns": list(RADIOMIC_FEATURES), "rows": features.tolist()}}


def _rows(table, rows):
    return table.iloc[rows] if hasattr(table, "iloc") else table[rows]


def fit_tabular(task: FoldTask, table, classifier, cox) -> dict:
    """Fit a tabular model on the fold's training patients with a known outcome and
    predict its test patients.

    Parameters
    ----------
    task : FoldTask
    table : ndarray or pandas.DataFrame
        One row per patient of the cohort.
    classifier, cox : scikit-learn estimators
        The model of a binary outcome (``predict_proba``) and of a survival outcome
        (``predict`` gives log-risks; the baseline survival is Breslow's estimator on the
        training patients).

    Returns
    -------
    dict
        ``score`` and ``label`` (binary) or ``survival`` at ``task.times``.
    """
    cohort, train, test = task.cohort, task.train, task.test
    known = train[cohort.known[train]]
    if not cohort.survival:
        model = classifier.fit(_rows(table, known), np.asarray(cohort.y[known].tolist()))
        proba = model.predict_proba(_rows(table, test))[:, 1]
        labels = model.classes_[(proba > 0.5).astype(int)]
        return {"score": proba.tolist(), "label": [v.item() if isinstance(v, np.generic)
                                                   else v for v in labels]}
    y = cohort.y[known]
    model = cox.fit(_rows(table, known), y)
    baseline = BreslowEstimator().fit(log_risk=model.predict(_rows(table, known)),
                                      time=y["time"], event=y["event"])
    risk = model.predict(_rows(table, test))
    survival = baseline.get_survival_function(risk)
    return {"score": risk.tolist(),
            "survival": [np.atleast_1d(f(task.times)).tolist() for f in survival]}


def run_radiomics(task: FoldTask) -> dict:
    """Radiomics features -> log1p -> StandardScaler -> logistic regression or Cox model."""
    from ..baselines import radiomics_classifier, radiomics_cox

    return fit_tabular(task, task.prepared["features"],
                       radiomics_classifier(random_state=task.seed), radiomics_cox())


def _covariate_columns(task: FoldTask) -> dict:
    """``numeric`` and ``categorical`` columns as the estimator's preprocessing sees them
    (its ``clinical_categorical``; by dtype when None)."""
    categorical = task.estimator.get_params().get("clinical_categorical")
    if categorical is None:
        return {"numeric": None, "categorical": None}
    covariates = list(task.cohort.clinical.columns)
    categorical = [c for c in covariates if c in set(categorical)]
    return {"numeric": [c for c in covariates if c not in categorical],
            "categorical": categorical}


def run_clinical(task: FoldTask) -> dict:
    """Clinical preprocessing (learnt on the training patients) -> logistic regression or
    Cox model (:func:`petmtl.baselines.clinical_classifier`, ``clinical_cox``)."""
    from ..baselines import clinical_classifier, clinical_cox

    table = task.cohort.clinical
    columns = _covariate_columns(task)
    return fit_tabular(task, table, clinical_classifier(**columns, random_state=task.seed),
                       clinical_cox(**columns))


def _radiomic_names(covariates) -> list[str]:
    """Names of the radiomic columns beside the covariates, prefixed if a covariate has
    the same name."""
    from ..baselines import RADIOMIC_FEATURES

    names = list(RADIOMIC_FEATURES)
    while set(names) & set(covariates.columns):
        names = [f"radiomics_{n}" for n in names]
    return names


def run_radiomics_clinical(task: FoldTask) -> dict:
    """Radiomic features (:func:`prepare_radiomics`) and covariates preprocessed side by
    side -> logistic regression or Cox model
    (:func:`petmtl.baselines.radiomics_clinical_classifier`, ``radiomics_clinical_cox``)."""
    import pandas as pd

    from ..baselines import radiomics_clinical_classifier, radiomics_clinical_cox

    covariates = task.cohort.clinical
    names = _radiomic_names(covariates)
    table = pd.concat([pd.DataFrame(task.prepared["features"], columns=names,
                                    index=covariates.index), covariates], axis=1)
    columns = _covariate_columns(task)
    return fit_tabular(
        task, table,
        radiomics_clinical_classifier(names, **columns, random_state=task.seed),
        radiomics_clinical_cox(names, **columns))
