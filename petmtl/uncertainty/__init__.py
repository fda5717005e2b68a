"""Uncertainty of predictions: conformal prediction sets and the spread of views.

* :class:`ConformalClassifier` wraps any probabilistic classifier (a petmtl estimator,
  a scikit-learn pipeline) and gives each patient a set of outcomes that holds the true
  one with a stated probability (split-conformal prediction).
* :func:`conformal_quantile`, :func:`nonconformity_scores` and :func:`prediction_sets`
  are its building blocks, usable with any predicted probabilities.
* :func:`summarize_views` gives the mean and spread of predictions over ensemble members
  and test-time flips, per patient.

See the "Ensembles and uncertainty" page of the docs.
"""

from ._classifier import ConformalClassifier
from ._scores import conformal_quantile, nonconformity_scores, prediction_sets
from ._spread import ViewSummary, summarize_views

__all__ = ["ConformalClassifier", "ViewSummary", "conformal_quantile",
           "nonconformity_scores", "prediction_sets", "summarize_views"]
