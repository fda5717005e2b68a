"""What PET outcome studies use today, to compare petmtl against on the same folds.

Four hand-crafted numbers of the tumour mask (SUVmax, SUVmean, MTV and TLG), optionally
with the whole-body lesion burden (:class:`petmtl.pet.LesionBurden`) and clinical
covariates (:mod:`petmtl.clinical`), then a logistic regression for a binary outcome or a
Cox model for a time-to-event outcome. scikit-learn has no Cox model, so
:class:`CoxRegression` is a small L2-penalised one (Efron ties) that scores with Harrell's
C-index.

The clinical baselines take a pandas DataFrame, one row per patient: the covariate
columns (numbers and categories, NaN where missing) and, for the radiomics + clinical
models, the radiomic feature columns beside them (``radiomic_features(...,
as_frame=True)`` joined to the covariates, e.g. ``pd.concat([radiomics, covariates],
axis=1)`` on the same row order).

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
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted

from ._constraints import Interval, Options, check_params
from ._optional import import_optional
from .clinical import clinical_preprocessor
from .pet import BURDEN_FEATURES, LesionBurden, suv_stats
from .survival.losses import cox_ph_loss
from .survival.metrics import harrell_score
from .survival.target import check_survival_y

__all__ = ["RADIOMIC_FEATURES", "CoxRegression", "clinical_classifier", "clinical_cox",
           "radiomic_features", "radiomics_classifier", "radiomics_clinical_classifier",
           "radiomics_clinical_cox", "radiomics_cox"]

RADIOMIC_FEATURES = ("SUVmax", "SUVmean", "MTV_ml", "TLG")


def radiomic_features(volumes, masks, spacing, *, burden=None, as_frame: bool = False):
    """SUVmax, SUVmean, MTV (mL) and TLG (g) of each volume inside its tumour mask.

    Parameters
    ----------
    volumes : sequence of ndarray of shape (x, y, z)
        PET in SUV.
    masks : sequence of ndarray or None
        Binary tumour masks on the same grids; None (or an empty mask) gives NaN.
    spacing : float or sequence of 3 float
        Voxel size in mm.
    burden : str, float or LesionBurden, optional
        Also the whole-body lesion burden (:data:`petmtl.pet.BURDEN_FEATURES`), with the
        masks as primaries: a rule of :func:`petmtl.pet.detect_lesions` (e.g.
        ``"suv4.0"``, with the defaults of :class:`~petmtl.pet.LesionBurden`) or a
        :class:`~petmtl.pet.LesionBurden` (its own spacing is used).
    as_frame : bool, default=False
        Return a pandas DataFrame with named columns (needs pandas).

    Returns
    -------
    ndarray of shape (n, 4) or (n, 12), or DataFrame
        Columns as :data:`RADIOMIC_FEATURES`, then :data:`petmtl.pet.BURDEN_FEATURES`.
    """
    rows = []
    for volume, mask in zip(volumes, masks, strict=True):
        has = mask is not None and np.asarray(mask).any()
        stats = suv_stats(volume, np.asarray(mask) > 0, spacing) if has else {}
        rows.append([stats.get(name, np.nan) for name in RADIOMIC_FEATURES])
    features, names = np.array(rows, dtype=np.float64), list(RADIOMIC_FEATURES)
    if burden is not None:
        transformer = clone(burden) if isinstance(burden, LesionBurden) else LesionBurden(
            spacing, rule=burden)
        masks = [None if m is None else np.asarray(m) > 0 for m in masks]
        features = np.column_stack([features, transformer.fit_transform(volumes, masks=masks)])
        names += list(BURDEN_FEATURES)
    if as_frame:
        pd = import_optional("pandas", "clinical", "radiomic_features(as_frame=True)")
        return pd.DataFrame(features, columns=names)
    return features


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


def _radiomics_and_clinical(radiomic_columns, numeric, categorical, handle_unknown):
    radiomics = make_pipeline(*_radiomics_steps())
    return ColumnTransformer(
        [("radiomics", radiomics, list(radiomic_columns))],
        remainder=clinical_preprocessor(numeric, categorical, handle_unknown=handle_unknown))


def clinical_classifier(numeric=None, categorical=None, *, handle_unknown="ignore",
                        C=1.0, random_state=None) -> Pipeline:
    """Clinical-only baseline: clinical preprocessing -> LogisticRegression.

    Parameters
    ----------
    numeric, categorical : sequence of str, optional
        Covariate columns (default: numeric dtypes numeric, the rest categorical).
    handle_unknown : {"ignore", "error"}, default="ignore"
        Categories unseen in training (see :func:`~petmtl.clinical.clinical_preprocessor`).
    C : float, default=1.0
        Inverse L2 penalty of the logistic regression.
    random_state : int or None, default=None

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fit and predict on a DataFrame of covariates.
    """
    return make_pipeline(clinical_preprocessor(numeric, categorical,
                                               handle_unknown=handle_unknown),
                         LogisticRegression(C=C, max_iter=1000, random_state=random_state))


def radiomics_clinical_classifier(radiomic_columns=RADIOMIC_FEATURES, numeric=None,
                                  categorical=None, *, handle_unknown="ignore", C=1.0,
                                  random_state=None) -> Pipeline:
    """Radiomics + clinical: both blocks preprocessed side by side -> LogisticRegression.

    The radiomic columns get the steps of :func:`radiomics_classifier` (median imputation,
    log1p, standardisation); every other column goes to
    :func:`~petmtl.clinical.clinical_preprocessor`.

    Parameters
    ----------
    radiomic_columns : sequence of str, default=RADIOMIC_FEATURES
        Columns holding radiomic (and lesion-burden) features, all >= 0.
    numeric, categorical : sequence of str, optional
        Covariate columns among the others (default: by dtype).
    handle_unknown : {"ignore", "error"}, default="ignore"
    C : float, default=1.0
    random_state : int or None, default=None

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fit and predict on a DataFrame with the radiomic and the covariate columns.
    """
    return make_pipeline(
        _radiomics_and_clinical(radiomic_columns, numeric, categorical, handle_unknown),
        LogisticRegression(C=C, max_iter=1000, random_state=random_state))


def clinical_cox(numeric=None, categorical=None, *, handle_unknown="ignore",
                 alpha=1.0) -> Pipeline:
    """Clinical-only Cox model: clinical preprocessing -> :class:`CoxRegression`.

    Parameters
    ----------
    numeric, categorical, handle_unknown
        As in :func:`clinical_classifier`.
    alpha : float, default=1.0
        L2 penalty of the Cox model.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fit on a DataFrame of covariates and a survival ``y``; ``predict`` gives log-risks.
    """
    return make_pipeline(clinical_preprocessor(numeric, categorical,
                                               handle_unknown=handle_unknown),
                         CoxRegression(alpha=alpha))


def radiomics_clinical_cox(radiomic_columns=RADIOMIC_FEATURES, numeric=None,
                           categorical=None, *, handle_unknown="ignore",
                           alpha=1.0) -> Pipeline:
    """Radiomics + clinical Cox model (preprocessing as :func:`radiomics_clinical_classifier`).

    Parameters
    ----------
    radiomic_columns, numeric, categorical, handle_unknown
        As in :func:`radiomics_clinical_classifier`.
    alpha : float, default=1.0
        L2 penalty of the Cox model.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Fit on a DataFrame and a survival ``y``; ``predict`` gives log-risks.
    """
    return make_pipeline(
        _radiomics_and_clinical(radiomic_columns, numeric, categorical, handle_unknown),
        CoxRegression(alpha=alpha))


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
