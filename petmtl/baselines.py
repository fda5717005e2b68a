"""What PET outcome studies use today, to compare petmtl against on the same folds.

Four hand-crafted numbers of the tumour mask (SUVmax, SUVmean, MTV and TLG), then a
logistic regression for a binary outcome or a Cox model for a time-to-event outcome.
scikit-learn has no Cox model, so :class:`CoxRegression` is a small L2-penalised one
(Efron ties) that scores with Harrell's C-index.

Examples
--------
>>> import numpy as np
>>> from petmtl.baselines import radiomic_features, radiomics_classifier
>>> from petmtl.datasets import make_pet_cohort
>>> cohort = make_pet_cohort(20, shape=(16, 16, 16), spacing=8.0, random_state=0)
>>> features = radiomic_features(cohort.X, cohort.masks, spacing=8.0)
>>> features.shape
(20, 4)
>>> radiomics_classifier().fit(features, cohort.y).predict(features).shape
(20,)
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted

from ._constraints import Interval, Options, check_params
from .pet import suv_stats
from .survival.losses import cox_ph_loss
from .survival.metrics import harrell_score
from .survival.target import check_survival_y

__all__ = ["RADIOMIC_FEATURES", "CoxRegression", "radiomic_features", "radiomics_classifier",
           "radiomics_cox"]

RADIOMIC_FEATURES = ("SUVmax", "SUVmean", "MTV_ml", "TLG")


def radiomic_features(volumes, masks, spacing) -> np.ndarray:
    """SUVmax, SUVmean, MTV (mL) and TLG (g) of each volume inside its tumour mask.

    Parameters
    ----------
    volumes : sequence of ndarray of shape (x, y, z)
        PET in SUV.
    masks : sequence of ndarray or None
        Binary tumour masks on the same grids; None (or an empty mask) gives NaN.
    spacing : float or sequence of 3 float
        Voxel size in mm.

    Returns
    -------
    ndarray of shape (n, 4)
        Columns as :data:`RADIOMIC_FEATURES`.
    """
    rows = []
    for volume, mask in zip(volumes, masks, strict=True):
        has = mask is not None and np.asarray(mask).any()
        stats = suv_stats(volume, np.asarray(mask) > 0, spacing) if has else {}
        rows.append([stats.get(name, np.nan) for name in RADIOMIC_FEATURES])
    return np.array(rows, dtype=np.float64)


def _radiomics_steps():
    return [SimpleImputer(strategy="median"), FunctionTransformer(np.log1p), StandardScaler()]


def radiomics_classifier(random_state=None) -> Pipeline:
    """Median imputation -> log1p -> StandardScaler -> LogisticRegression.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    return make_pipeline(*_radiomics_steps(), LogisticRegression(random_state=random_state))


def radiomics_cox(alpha: float = 1.0) -> Pipeline:
    """Median imputation -> log1p -> StandardScaler -> :class:`CoxRegression`.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    return make_pipeline(*_radiomics_steps(), CoxRegression(alpha=alpha))


class CoxRegression(BaseEstimator):
    """Linear Cox proportional-hazards model with an L2 penalty.

    Minimises the negative partial log-likelihood per event plus
    ``alpha / 2 * ||coef||^2`` with L-BFGS. ``predict`` returns the log-risk
    ``X @ coef_`` (higher = earlier event) and ``score`` Harrell's C-index, the
    scikit-survival convention, so it works in ``cross_val_score`` and
    ``GridSearchCV``.

    Parameters
    ----------
    alpha : float, default=1.0
        L2 penalty (standardise the features first, e.g. in a Pipeline).
    ties : {"efron", "breslow"}, default="efron"

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    n_features_in_ : int
    """

    def __init__(self, alpha: float = 1.0, ties: str = "efron"):
        self.alpha = alpha
        self.ties = ties

    def fit(self, X, y):
        """Fit on features ``X`` and a structured survival ``y`` (unknown outcomes left out).

        Returns
        -------
        self : CoxRegression
        """
        check_params({"alpha": self.alpha, "ties": self.ties},
                     {"alpha": [Interval(Real, 0, None)], "ties": [Options("efron", "breslow")]})
        X = check_array(X, dtype=np.float64)
        event, time, labelled = check_survival_y(y, len(X), name="y")
        x = torch.from_numpy(X[labelled])
        coef = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([coef], max_iter=500, tolerance_grad=1e-10,
                                      tolerance_change=1e-14, line_search_fn="strong_wolfe")
        t, e = time[labelled], event[labelled]

        def closure():
            optimizer.zero_grad()
            loss = cox_ph_loss(x @ coef, e, t, ties=self.ties).double()
            loss = loss + 0.5 * self.alpha * (coef**2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        self.coef_ = coef.detach().numpy().copy()
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Log-risk of each sample (higher = earlier event).

        Returns
        -------
        ndarray of shape (n,)
        """
        check_is_fitted(self)
        return check_array(X, dtype=np.float64) @ self.coef_

    def score(self, X, y) -> float:
        """Harrell's C-index of :meth:`predict` on the samples with a known outcome.

        Returns
        -------
        float
        """
        return harrell_score(y, self.predict(X))
