"""``ConformalClassifier``: split-conformal prediction sets around any probabilistic classifier."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _num_samples, check_is_fitted, column_or_1d, indexable

from .._constraints import Interval, NoneOr, Options, Satisfies, check_params
from ._scores import METHODS, conformal_quantile, nonconformity_scores, prediction_sets

CALIBRATIONS = ("split", "prefit", "oof")


def _inner_has(name: str):
    def check(self) -> bool:
        inner = getattr(self, "estimator_", self.estimator)
        return hasattr(inner, name)
    return check


class ConformalClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Split-conformal prediction sets for a probabilistic classifier.

    Wraps a classifier (e.g. :class:`~petmtl.MultiTaskPETEstimator`) so that, besides its
    probabilities, it gives for each patient a *set* of outcomes that contains the true
    one with probability at least ``1 - alpha`` (Vovk et al. 2005; Angelopoulos and Bates
    2021). ``fit`` trains the classifier on a stratified ``1 - calibration_size`` share of
    the samples and scores how well the true outcome of each of the others (the
    calibration samples) conforms to its predicted probabilities; a new patient's set
    holds the outcomes that conform at least as well as all but an ``alpha`` share of the
    calibration samples.

    **The guarantee** (``calibration="split"`` and ``"prefit"``): if the calibration
    samples and the new patient are exchangeable (drawn from the same population, e.g.
    a random split of one cohort), ``P(y in set) >= 1 - alpha`` over the draw of both;
    with continuous scores also ``< 1 - alpha + 1 / (n_calibration + 1)``. It is
    *marginal*: an average over patients, not a promise for each patient or subgroup, and
    it does not hold for another centre, scanner or case mix than the calibration
    samples came from.

    Parameters
    ----------
    estimator : classifier
        Has ``fit``, ``predict_proba`` and ``classes_``; cloned unless
        ``calibration="prefit"``.
    alpha : float in (0, 1), default=0.1
        Miscoverage level: sets contain the truth at least ``1 - alpha`` of the time.
    method : {"lac", "aps"}, default="lac"
        The non-conformity score (:func:`~petmtl.uncertainty.nonconformity_scores`).
        ``"lac"`` (``1 - p_true``; deterministic) gives the smallest sets on average; a
        set is empty when every class has a probability below ``1 - quantile_`` (with
        a binary outcome: when both are; the model is unsure in a way the calibration
        patients rarely were). ``"aps"`` (randomised adaptive prediction sets, Romano et
        al. 2020) adds classes by decreasing probability and keeps the one that crosses
        the threshold at random, in proportion to how far the threshold reaches into
        it; its sets adapt their size to how spread the probabilities are (useful with
        several classes) and may be empty. Each calibration and each predicted sample
        draws a uniform number from ``random_state``. The non-randomised APS (in
        :func:`~petmtl.uncertainty.prediction_sets`) is not offered here: its
        threshold is pulled towards 1 by confident correct predictions, so its sets
        hold nearly every class.
    calibration : {"split", "prefit", "oof"}, default="split"
        Where the calibration scores come from.

        * ``"split"``: a stratified split of the samples given to ``fit``, as above.
        * ``"prefit"``: ``estimator`` is already fitted (on other samples); ``fit(X, y)``
          only calibrates it, on all of ``X``. Same guarantee.
        * ``"oof"``: ``estimator`` is fitted on all samples and must then expose
          out-of-fold probabilities ``oof_proba_`` (n, n_classes) of the training samples
          listed in ``oof_index_`` (e.g. a petmtl k-fold ensemble, each sample predicted
          by the member that did not train on it); they are the calibration scores. This
          is cross-conformal in spirit (Vovk 2015; CV+ of Barber et al. 2021), using
          every sample for training and calibration, with a weaker guarantee: CV+ and
          cross-conformal sets cover at least ``1 - 2 alpha`` in the worst case (close to
          ``1 - alpha`` in practice), and scoring a new patient with the averaged
          ensemble rather than the fold members, as here, is not covered by that proof.
          Check the coverage on held-out patients.
    calibration_size : float in (0, 1) or int, default=0.25
        ``calibration="split"`` only: the share (or number) of samples held out for
        calibration. More calibration samples make the coverage less variable (its
        spread across splits is about ``sqrt(alpha (1 - alpha) / n_calibration)``), fewer
        leave more to train on.
    random_state : int, RandomState or None, default=None
        Seeds the calibration split and the uniform draws of ``method="aps"``. With an
        int, :meth:`predict_set` draws the same numbers at every call (the i-th row of
        ``X`` gets the i-th), so the same ``X`` gives the same sets; a RandomState or
        None draws new numbers at every call.

    Attributes
    ----------
    estimator_ : classifier
        The fitted classifier (``estimator`` itself with ``calibration="prefit"``).
    classes_ : ndarray of shape (n_classes,)
        ``estimator_.classes_``; the columns of :meth:`predict_set`.
    conformity_scores_ : ndarray of shape (n_calibration,)
        Non-conformity scores of the calibration samples.
    quantile_ : float
        The threshold at ``alpha`` (:func:`~petmtl.uncertainty.conformal_quantile`);
        ``inf`` when there are fewer than ``1 / alpha - 1`` calibration samples.
    calibration_index_ : ndarray of int
        Positions (in the ``X`` given to ``fit``) of the calibration samples used;
        samples whose label is not one of ``classes_`` (an unknown outcome such as -1
        for a petmtl estimator) are not used.
    n_calibration_ : int
        Number of calibration samples used.

    See Also
    --------
    petmtl.uncertainty.summarize_views : Spread of predictions over members and flips.

    Notes
    -----
    Fit parameters (e.g. ``masks=``, ``pathology=``) go to the classifier's ``fit``; with
    ``calibration="split"`` those with one entry per sample are split with the samples.
    With ``sklearn.set_config(enable_metadata_routing=True)``, request them on the
    classifier (``estimator.set_fit_request(masks=True)``) as for any scikit-learn
    meta-estimator.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from petmtl.uncertainty import ConformalClassifier
    >>> X, y = make_classification(400, random_state=0)
    >>> model = ConformalClassifier(LogisticRegression(), alpha=0.1, random_state=0)
    >>> sets = model.fit(X[:300], y[:300]).predict_set(X[300:])
    >>> sets.shape, sets.dtype
    ((100, 2), dtype('bool'))
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "method": [Options(*METHODS)],
        "calibration": [Options(*CALIBRATIONS)],
        "calibration_size": [Interval(Real, 0, 1, closed="neither"),
                             Interval(Integral, 1, None)],
        "random_state": [NoneOr(Interval(Integral, 0, 2**32 - 1)),
                         Satisfies(lambda v: isinstance(v, np.random.RandomState),
                                   "a numpy RandomState")],
    }

    def __init__(self, estimator, *, alpha=0.1, method="lac", calibration="split",
                 calibration_size=0.25, random_state=None):
        self.estimator = estimator
        self.alpha = alpha
        self.method = method
        self.calibration = calibration
        self.calibration_size = calibration_size
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, **fit_params):
        """Fit (or take) the classifier and calibrate its prediction sets.

        Parameters
        ----------
        X : array-like or sequence
            Samples in any form the classifier takes (arrays, NIfTI paths, tables).
        y : array-like of shape (n,)
            Labels; those not among the fitted classifier's ``classes_`` (e.g. -1, an
            unknown outcome for petmtl) are left out of calibration.
        **fit_params : dict
            Passed to the classifier's ``fit`` (see the class Notes); not allowed with
            ``calibration="prefit"``, which fits nothing.

        Returns
        -------
        self : ConformalClassifier

        Raises
        ------
        ValueError
            For invalid parameters, a split that cannot be stratified, no labelled
            calibration sample, or ``calibration="oof"`` with a classifier that has no
            out-of-fold probabilities.
        """
        check_params(self.get_params(deep=False), self._parameter_constraints)
        X, y = _check_X_y(X, y, type(self).__name__)
        fit_params = self._route(fit_params)
        n_samples = _num_samples(X)
        if self.calibration == "prefit":
            estimator, index = self._prefit(fit_params), np.arange(n_samples)
            proba = estimator.predict_proba(X)
        elif self.calibration == "split":
            train, index = self._split(y, n_samples)
            estimator = clone(self.estimator).fit(
                _safe_indexing(X, train), _safe_indexing(y, train),
                **_rows(fit_params, train, n_samples))
            proba = estimator.predict_proba(_safe_indexing(X, index))
        else:
            estimator = clone(self.estimator).fit(X, y, **fit_params)
            proba, index = _out_of_fold(estimator, n_samples)
        self.estimator_, self.classes_ = estimator, np.asarray(estimator.classes_)
        self._calibrate(proba, _safe_indexing(y, index), index)
        return self

    def _route(self, fit_params: dict) -> dict:
        if get_config().get("enable_metadata_routing", False):
            return dict(process_routing(self, "fit", **fit_params).estimator.fit)
        return dict(fit_params)

    def _prefit(self, fit_params: dict):
        if fit_params:
            raise ValueError(f"calibration='prefit' does not fit the estimator, so fit "
                             f"parameters {sorted(fit_params)} would not be used; fit the "
                             "estimator with them first")
        try:
            check_is_fitted(self.estimator)
        except NotFittedError:
            raise NotFittedError(f"calibration='prefit' needs a fitted estimator; "
                                 f"{type(self.estimator).__name__} is not fitted") from None
        return self.estimator

    def _split(self, y, n_samples: int):
        strata = np.array([repr(v) for v in np.asarray(y, dtype=object).tolist()])
        if len(strata) != n_samples:
            raise ValueError(f"y has {len(strata)} entries but X has {n_samples} samples")
        try:
            return train_test_split(np.arange(n_samples), test_size=self.calibration_size,
                                    stratify=strata, random_state=self.random_state)
        except ValueError as exc:
            labels, counts = np.unique(strata, return_counts=True)
            raise ValueError(f"calibration_size={self.calibration_size!r} cannot split the "
                             f"{n_samples} samples stratified by y (counts "
                             f"{dict(zip(labels.tolist(), counts.tolist(), strict=True))}): "
                             f"{exc}") from None

    def _calibrate(self, proba, labels, index) -> None:
        lookup = {c: i for i, c in enumerate(self.classes_.tolist())}
        codes = np.array([lookup.get(v, -1) for v in np.asarray(labels, dtype=object)
                          .tolist()], dtype=np.int64)
        keep = codes >= 0
        if not keep.any():
            raise ValueError(f"no calibration sample has a label among the classes "
                             f"{self.classes_.tolist()}; calibration needs known labels")
        self.conformity_scores_ = nonconformity_scores(
            np.asarray(proba)[keep], codes[keep], method=self.method,
            u=self._uniforms(int(keep.sum()), stream=1))
        self.calibration_index_ = np.asarray(index)[keep]
        self.n_calibration_ = int(keep.sum())
        self.quantile_ = conformal_quantile(self.conformity_scores_, self.alpha)
        if math.isinf(self.quantile_):
            warnings.warn(f"{self.n_calibration_} calibration samples are too few for "
                          f"alpha={self.alpha} (at least {math.ceil(1 / self.alpha) - 1} "
                          "are needed); every prediction set holds every class",
                          UserWarning, stacklevel=3)

    # -------------------------------------------------------------- predict
    def predict_set(self, X, *, alpha: float | None = None) -> np.ndarray:
        """The conformal prediction set of each sample.

        Parameters
        ----------
        X : array-like or sequence
            Samples as in :meth:`fit`.
        alpha : float in (0, 1), optional
            Another miscoverage level than the fitted ``alpha`` (the threshold is
            recomputed from ``conformity_scores_``).

        Returns
        -------
        sets : ndarray of bool, shape (n, n_classes)
            True where ``classes_[j]`` is in the set of sample i. A row may be all
            False (an empty set) or, for a binary outcome, all True.
        """
        check_is_fitted(self, "quantile_")
        threshold = self.quantile_
        if alpha is not None:
            check_params({"alpha": alpha}, self._parameter_constraints)
            threshold = conformal_quantile(self.conformity_scores_, alpha)
        proba = self.estimator_.predict_proba(X)
        return prediction_sets(proba, threshold, method=self.method,
                               u=self._uniforms(len(proba), stream=2))

    def _uniforms(self, n: int, *, stream: int) -> np.ndarray | None:
        """Uniform draws of randomised APS: ``stream`` 1 calibrates, 2 predicts."""
        if self.method != "aps":
            return None
        if isinstance(self.random_state, np.random.RandomState):
            return self.random_state.random_sample(n)
        seed = None if self.random_state is None else [self.random_state, stream]
        return np.random.default_rng(seed).random(n)

    def predict_proba(self, X) -> np.ndarray:
        """The classifier's probabilities, unchanged (columns ordered as ``classes_``)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """The classifier's predicted labels, unchanged."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X) -> np.ndarray:
        """The classifier's decision function, unchanged (when it has one)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    @property
    def n_features_in_(self) -> int:
        """Number of features seen by the fitted classifier (when it records it)."""
        return self.estimator_.n_features_in_

    # ------------------------------------------------------- scikit-learn API
    def get_metadata_routing(self) -> MetadataRouter:
        """The routing of fit parameters: ``fit`` to the classifier's ``fit``.

        Returns
        -------
        sklearn.utils.metadata_routing.MetadataRouter
        """
        return MetadataRouter(owner=self).add(
            estimator=self.estimator, method_mapping=MethodMapping().add(caller="fit",
                                                                         callee="fit"))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags = inner.input_tags
        tags.classifier_tags = inner.classifier_tags
        return tags


def _check_X_y(X, y, name: str):
    """X and y indexable by rows (sparse as CSR), of the same length; y 1-D labels."""
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None")
    X, y = indexable(X, y)
    y = column_or_1d(y, warn=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN cast when probing ints
            kind = type_of_target(y)
    except ValueError:  # e.g. NaN marking unknown outcomes: the estimator judges them
        kind = None
    if kind in ("continuous", "continuous-multioutput"):
        raise ValueError(f"y must hold class labels, got a continuous target (Unknown label "
                         f"type: {kind}); {name} is a classifier")
    return X, y


def _rows(params: dict, index: np.ndarray, n_samples: int) -> dict:
    """The fit parameters for the samples ``index``: those with one entry per sample."""
    out = {}
    for name, value in params.items():
        per_sample = (value is not None and not isinstance(value, (str, bytes, dict))
                      and hasattr(value, "__len__") and len(value) == n_samples)
        out[name] = _safe_indexing(value, index) if per_sample else value
    return out


def _out_of_fold(estimator, n_samples: int):
    proba, index = getattr(estimator, "oof_proba_", None), getattr(estimator, "oof_index_",
                                                                  None)
    if proba is None or index is None:
        raise ValueError(f"calibration='oof' needs a classifier that exposes oof_proba_ and "
                         f"oof_index_ after fit (e.g. a petmtl k-fold ensemble); the fitted "
                         f"{type(estimator).__name__} has "
                         f"{'neither' if proba is None and index is None else 'only one'}")
    proba, index = np.asarray(proba, dtype=np.float64), np.asarray(index)
    if index.ndim != 1 or index.dtype.kind not in "iu" or len(index) != len(proba) or (
            len(index) and (index.min() < 0 or index.max() >= n_samples)):
        raise ValueError(f"oof_index_ must hold {len(proba)} sample positions in [0, "
                         f"{n_samples}) matching oof_proba_'s rows, got shape {index.shape}")
    return proba, index
