"""One model's work on one fold, as the runner hands it to a candidate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FoldTask"]


@dataclass
class FoldTask:
    """Everything one model needs to fit and predict one fold.

    Attributes
    ----------
    estimator : MultiTaskPETEstimator or MultiTaskPETSurvival
        The (unfitted) estimator of the run, to clone.
    cohort : Cohort
        The patients (``X``, ``y``, ``masks``, ``pathology``, ``ids``, ``survival``, and
        ``clinical``, the covariate table or None...).
    train, test : ndarray of int
        Row indices of the fold.
    seed : int
        The repeat's seed (networks get it as ``random_state``).
    times : ndarray
        Survival models: times at which S(t) is predicted.
    prepared : object
        What the candidate's ``prepare`` returned for this cohort (or None).
    model_path : str or None
        Where a network is saved (``save``); None for models that are not saved.
    """

    estimator: object
    cohort: object
    train: np.ndarray
    test: np.ndarray
    seed: int
    times: np.ndarray
    prepared: object = None
    model_path: str | None = None
