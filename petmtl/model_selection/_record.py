"""What ``cv.json`` records of a run: its settings, its patients and its software."""

from __future__ import annotations

import numpy as np

from ._clinical import settings_entry, summarize
from ._data import Cohort

__all__ = ["describe", "environment", "run_settings", "survival_times"]


def survival_times(cohort: Cohort, horizons) -> tuple[list, list]:
    """Horizons (default: quartiles of the event times) and the evaluation grid.

    The grid holds the horizons and ten times evenly spaced from the 10th to the 90th
    percentile of the event times, where the time-dependent AUC and the integrated Brier
    score are evaluated.
    """
    known = cohort.known
    time, event = cohort.y["time"][known], cohort.y["event"][known]
    if not event.any():
        raise ValueError("y has no event among the known outcomes; survival metrics are "
                         "undefined")
    events = time[event]
    if horizons is None:
        horizons = np.quantile(events, [0.25, 0.5, 0.75])
    horizons = np.unique(np.asarray(horizons, dtype=np.float64).ravel())
    if (not len(horizons) or not np.isfinite(horizons).all() or horizons.min() < time.min()
            or horizons.max() >= time.max()):
        raise ValueError(f"horizons must be finite times within the follow-up [{time.min():g}, "
                         f"{time.max():g}[; got {horizons.tolist()}")
    grid = np.linspace(*np.quantile(events, [0.1, 0.9]), 10)
    times = np.unique(np.concatenate([horizons, grid]))
    return [float(h) for h in horizons], [float(t) for t in times]


def _labels(values) -> list | None:
    if values is None:
        return None
    return [None if v is None else (v.item() if isinstance(v, np.generic) else v)
            for v in values]


def describe(cohort: Cohort, manifest=None, suv_provenance=None, kinds=None) -> dict:
    """The patients as ``cv.json`` keeps them (what the report reads back).

    With covariates, ``clinical`` holds their summary (:func:`._clinical.summarize`, by the
    column types ``kinds``): no patient's covariate value.
    """
    out = {"ids": list(cohort.ids), "n": len(cohort), "fingerprint": cohort.fingerprint(),
           "X": list(cohort.X) if cohort.paths else None, "spacing": list(cohort.spacing),
           "masks": (_labels(cohort.masks) if cohort.paths and cohort.masks is not None
                     else None),
           "has_masks": cohort.masks is not None,
           "mask_known": (None if cohort.masks is None
                          else [m is not None for m in cohort.masks]),
           "pathology": _labels(cohort.pathology), "centre": _labels(cohort.centre),
           "groups": _labels(cohort.groups), "manifest": manifest,
           "suv_provenance": suv_provenance}
    if cohort.clinical is not None:
        out["clinical"] = summarize(cohort.clinical, kinds)
    if cohort.survival:
        known = cohort.known
        out["time"] = [float(t) if k else None for t, k in zip(cohort.y["time"], known,
                                                               strict=True)]
        out["event"] = [bool(e) if k else None for e, k in zip(cohort.y["event"], known,
                                                               strict=True)]
    else:
        out["classes"] = _labels(cohort.classes)
        out["outcome"] = [v if k else None for v, k in zip(_labels(cohort.y), cohort.known,
                                                           strict=True)]
    return out


def run_settings(estimator, cohort, candidates, n_splits, n_repeats, random_state, times,
                 horizons, n_resamples, grouped, kinds=None) -> dict:
    """The settings a resumed run must share; the covariates (``name:type``) only when
    given, so that runs without them keep their keys."""
    import petmtl

    out = {"estimator": type(estimator).__name__,
           "params": {k: repr(v) for k, v in sorted(estimator.get_params(deep=False).items())
                      if k not in ("verbose", "num_workers", "random_state")},
           "survival": cohort.survival, "n_splits": n_splits, "n_repeats": n_repeats,
           "random_state": random_state, "compare": [c.name for c in candidates[1:]],
           "grouped": grouped, "horizons": horizons, "times": times,
           "n_resamples": n_resamples, "spacing": list(cohort.spacing),
           "petmtl_version": petmtl.__version__}
    if cohort.clinical is not None:
        out["clinical"] = settings_entry(kinds)
    return out


def environment() -> dict:
    """Versions of the software that produced a run."""
    import platform

    import nibabel
    import scipy
    import sklearn
    import torch

    import petmtl

    return {"python": platform.python_version(), "platform": platform.platform(),
            "petmtl": petmtl.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "scipy": scipy.__version__,
            "nibabel": nibabel.__version__}
