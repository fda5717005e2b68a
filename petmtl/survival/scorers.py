"""scikit-learn scorers of survival estimators (``scoring=`` of GridSearchCV, cross_validate).

Each scorer is a callable ``scorer(estimator, X, y) -> float`` (greater is
better) with a ``get_metadata_routing()`` that requests nothing, so it works
whether ``sklearn.set_config(enable_metadata_routing=True)`` is on or off.
``y`` is a structured survival array (:func:`petmtl.survival.make_survival_y`);
test samples whose time is unknown (NaN) are left out of the score.

The IPCW scorers need the censoring distribution of the *training* data:
they take it from the fitted estimator's ``survival_train_`` attribute (the
structured ``y`` a survival estimator stores in ``fit``; for a Pipeline, its
last step's), and fall back to the test ``y`` when the estimator has none.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.metadata_routing import MetadataRequest

from .metrics import (
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from .target import SURVIVAL_DTYPE, check_survival_y

__all__ = [
    "ConcordanceIPCWScorer",
    "ConcordanceIndexScorer",
    "CumulativeAUCScorer",
    "IntegratedBrierScorer",
    "concordance_index_scorer",
]


def _labelled_y(y, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """The labelled part of ``y`` as a clean structured array, and the labelled mask."""
    event, time, labelled = check_survival_y(y, name=name, allow_unknown=True)
    clean = np.empty(int(labelled.sum()), dtype=SURVIVAL_DTYPE)
    clean["event"], clean["time"] = event[labelled], time[labelled]
    return clean, labelled


def _train_y(estimator, y_test: np.ndarray) -> np.ndarray:
    """Training outcomes stored by the estimator, else the test outcomes."""
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    stored = getattr(final, "survival_train_", None)
    if stored is None:
        return y_test
    return _labelled_y(stored, name="survival_train_")[0]


class _SurvivalScorer:
    """Base: routing request and the labelled test outcomes."""

    def __call__(self, estimator, X, y) -> float:
        """Score a fitted estimator on test data.

        Parameters
        ----------
        estimator : object
            Fitted survival estimator.
        X : array-like
            Test inputs, passed to the estimator's prediction method.
        y : structured ndarray of shape (n_samples,)
            Test outcomes; samples with an unknown (NaN) time are left out.

        Returns
        -------
        float
            The score; greater is better.
        """
        return self._score(estimator, X, y)

    def get_metadata_routing(self) -> MetadataRequest:
        """An empty metadata request: the scorer needs no routed metadata.

        Returns
        -------
        MetadataRequest
        """
        return MetadataRequest(owner=self)

    def _prediction(self, estimator, X, y):
        y_test, labelled = _labelled_y(y)
        return y_test, labelled, self._predict(estimator, X)

    def _predict(self, estimator, X) -> np.ndarray:
        risk = np.asarray(estimator.predict(X), dtype=np.float64)
        return risk.reshape(-1) if risk.ndim == 2 and risk.shape[1] == 1 else risk


class ConcordanceIndexScorer(_SurvivalScorer):
    """Harrell's concordance index of ``estimator.predict(X)`` (risk scores)."""

    def _score(self, estimator, X, y) -> float:
        y_test, labelled, risk = self._prediction(estimator, X, y)
        return float(concordance_index_censored(y_test["event"], y_test["time"],
                                                risk[labelled])[0])

    def __repr__(self) -> str:
        return "ConcordanceIndexScorer()"


concordance_index_scorer = ConcordanceIndexScorer()
"""Ready-made :class:`ConcordanceIndexScorer`."""


class ConcordanceIPCWScorer(_SurvivalScorer):
    """Uno's concordance index of ``estimator.predict(X)``, truncated at ``tau``.

    Parameters
    ----------
    tau : float, optional
        Truncation time (see :func:`concordance_index_ipcw`).
    """

    def __init__(self, tau: float | None = None):
        self.tau = tau

    def _score(self, estimator, X, y) -> float:
        y_test, labelled, risk = self._prediction(estimator, X, y)
        return float(concordance_index_ipcw(_train_y(estimator, y_test), y_test,
                                            risk[labelled], tau=self.tau)[0])

    def __repr__(self) -> str:
        return f"ConcordanceIPCWScorer(tau={self.tau!r})"


class CumulativeAUCScorer(_SurvivalScorer):
    """Mean cumulative/dynamic AUC of ``estimator.predict(X)`` over ``times``.

    Parameters
    ----------
    times : array-like of shape (n_times,)
        Times within the follow-up of every test fold.
    """

    def __init__(self, times):
        self.times = times

    def _score(self, estimator, X, y) -> float:
        y_test, labelled, risk = self._prediction(estimator, X, y)
        return float(cumulative_dynamic_auc(_train_y(estimator, y_test), y_test,
                                            risk[labelled], self.times)[1])

    def __repr__(self) -> str:
        return f"CumulativeAUCScorer(times={self.times!r})"


class IntegratedBrierScorer(_SurvivalScorer):
    """Negative integrated Brier score of ``estimator.predict_survival_function(X)``.

    The estimator returns one callable survival function per sample, each
    evaluated at ``times``; the score is minus :func:`integrated_brier_score`
    so that greater is better.

    Parameters
    ----------
    times : array-like of shape (n_times,)
        At least two strictly increasing times within the follow-up of every
        test fold.
    """

    def __init__(self, times):
        self.times = times

    def _predict(self, estimator, X) -> np.ndarray:
        times = np.asarray(self.times, dtype=np.float64)
        functions = estimator.predict_survival_function(X)
        rows = []
        for i, fn in enumerate(functions):
            if not callable(fn):
                raise TypeError(f"predict_survival_function must return callables; got "
                                f"{type(fn).__name__} at index {i}")
            rows.append(np.asarray(fn(times), dtype=np.float64).reshape(len(times)))
        return np.array(rows).reshape(len(rows), len(times))

    def _score(self, estimator, X, y) -> float:
        y_test, labelled, survival = self._prediction(estimator, X, y)
        return -integrated_brier_score(_train_y(estimator, y_test), y_test,
                                       survival[labelled], self.times)

    def __repr__(self) -> str:
        return f"IntegratedBrierScorer(times={self.times!r})"
