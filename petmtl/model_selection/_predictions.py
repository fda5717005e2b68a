"""What a fitted petmtl model says about held-out patients, head by head."""

from __future__ import annotations

import numpy as np

from ._clinical import model_table
from ._segmentation import mask_agreement


def _as_input(X: np.ndarray, rows: np.ndarray):
    """The volumes of ``rows``: an array, or a list of paths for file input."""
    return list(X[rows]) if X.dtype == object else X[rows]


def network_input(model, cohort, rows: np.ndarray):
    """What a petmtl estimator takes as X for ``rows``: the volumes (or paths) or, for a
    cohort with covariates, a table of them (the model's ``image_column``) and the
    covariates of those rows."""
    if cohort.clinical is None:
        return _as_input(cohort.X, rows)
    return model_table(list(cohort.X[rows]), cohort.clinical.iloc[rows],
                       model.get_params()["image_column"])


def _plain(values) -> list:
    """A list of JSON values (numpy scalars become Python ones)."""
    return [v.item() if isinstance(v, np.generic) else v for v in np.asarray(values).tolist()]


def survival_at(functions, times) -> np.ndarray:
    """Survival step functions evaluated at ``times``, shape (n, len(times))."""
    return np.array([np.atleast_1d(f(np.asarray(times, dtype=np.float64)))
                     for f in functions], dtype=np.float64).reshape(len(functions), len(times))


def outcome_predictions(model, X, *, survival: bool, times) -> dict:
    """Outcome of every volume: probability and label, or risk and survival at ``times``."""
    if survival:
        return {"score": _plain(np.asarray(model.predict(X), dtype=np.float64)),
                "survival": survival_at(model.predict_survival_function(X), times).tolist()}
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)[:, 1]
    return {"score": _plain(proba),
            "label": _plain(np.asarray(model.classes_)[(proba > 0.5).astype(int)])}


def _reference_and_spacing(cohort, i: int, predicted: np.ndarray):
    """Reference mask (or None) of patient ``i`` on the grid of ``predicted``, its spacing."""
    mask = cohort.masks[i]
    if not cohort.paths:
        return (None if mask is None else np.asarray(mask)), cohort.spacing
    import nibabel as nib

    from ..io import load_mask

    if mask is None:
        return None, tuple(float(z) for z in nib.load(cohort.X[i]).header.get_zooms()[:3])
    volume = load_mask(mask)
    if volume.shape != predicted.shape:
        raise ValueError(f"patient {cohort.ids[i]!r}: the mask {mask} has shape "
                         f"{volume.shape}, the predicted mask {predicted.shape}")
    return volume.data, volume.spacing


def segmentation_agreement(model, cohort, test: np.ndarray) -> dict:
    """Dice, HD95 and MTVs of the predicted masks of ``test`` against the reference masks."""
    predicted = model.segment(_as_input(cohort.X, test))
    rows = []
    for j, i in enumerate(test):
        pred = np.asarray(predicted[j])
        reference, spacing = _reference_and_spacing(cohort, int(i), pred)
        rows.append(mask_agreement(reference, pred, spacing))
    return {key: [row[key] for row in rows] for key in rows[0]}


def network_predictions(model, cohort, test: np.ndarray, times) -> dict:
    """Every head of a fitted petmtl estimator on the patients ``test``.

    Uses only the public methods (``predict_proba`` or ``predict`` and
    ``predict_survival_function``, ``predict_pathology``, ``segment``); a cohort with
    covariates is given as a table (:func:`network_input`).

    Returns
    -------
    dict
        ``score`` (probability of the positive class, or risk), ``label`` (binary) or
        ``survival`` (rows of S(t) at ``times``), ``pathology`` (predicted class or None
        without the task) and, with the segmentation task and reference masks, ``dice``,
        ``hd95``, ``mtv_reference_ml`` and ``mtv_predicted_ml`` (None where unknown).
    """
    X = network_input(model, cohort, test)
    out = outcome_predictions(model, X, survival=cohort.survival, times=times)
    tasks = tuple(model.get_params()["tasks"])
    out["pathology"] = _plain(model.predict_pathology(X)) if "pathology" in tasks else None
    if "segmentation" in tasks and cohort.masks is not None:
        out.update(segmentation_agreement(model, cohort, test))
    return out
