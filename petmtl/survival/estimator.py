"""Time-to-event outcomes: :class:`MultiTaskPETSurvival`, the W-Net with a survival T4."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.utils import _safe_indexing

from .. import serialization
from .._base import MultiTaskPETBase, extend_parameters
from .._constraints import Interval, Options
from .._input import OutcomeData
from .functions import BreslowEstimator, step_functions
from .losses import CoxOutcome, DiscreteTimeOutcome
from .metrics import harrell_score
from .target import check_survival_y, make_survival_y
from .time_bins import discretize_times, hazard_to_survival, logistic_hazard_risk, make_time_bins


@serialization.register_model_class
class MultiTaskPETSurvival(MultiTaskPETBase):
    """The multi-task W-Net with a time-to-event outcome (overall or progression-free survival).

    Everything but T4 is the :class:`~petmtl.MultiTaskPETEstimator`'s: the shared
    encoder, the reconstruction and segmentation decoders, the pathology head, partly
    annotated cohorts, NIfTI paths, checkpoints, Grad-CAM and the command line, with the
    same parameters. T4 outputs a log-risk trained with the Cox partial likelihood, or
    one hazard per time bin (logistic hazard). ``y`` is a structured array with a boolean
    event field and a float time field, as :func:`petmtl.survival.make_survival_y` and
    ``sksurv.util.Surv.from_arrays(event, time)`` build it; a NaN time marks a patient
    whose outcome is unknown (left out of the survival loss, like ``y=-1`` of the binary
    estimator).

    Parameters
    ----------
    lam : float, default=0.3
        Weight of the survival loss (see :class:`~petmtl.MultiTaskPETEstimator`).
    loss : {"cox", "logistic_hazard"}, default="cox"
        ``"cox"``: negative Cox partial log-likelihood of a log-risk, over risk sets
        enlarged by ``risk_set_memory``. ``"logistic_hazard"``: discrete-time
        likelihood of ``n_time_bins`` hazards (works at any batch size).
    ties : {"efron", "breslow"}, default="efron"
        Cox only: how tied event times enter the partial likelihood.
    risk_set_memory : int, default=64
        Cox only: the last ``risk_set_memory`` detached risk scores (with their times and
        events) join each batch's risk sets. A batch of 4 volumes alone compares each
        event with at most 3 others (a batch of 1 gives no gradient at all); see the
        user guide ("Survival outcomes") for the measurements. 0 uses the batch alone.
    n_time_bins : int, default=10
        Logistic hazard only: bins at quantiles of the training event times.
    **shared
        Every other parameter of :class:`~petmtl.MultiTaskPETEstimator` (``tasks``,
        ``base_width``, ``max_epochs``, ``early_stopping_score`` with "cindex" in place
        of "auc", clinical covariates, ensembles, test-time flips, ...), with the same
        meaning and default. An ensemble averages the members' log-risks (Cox) or survival
        curves (logistic hazard); Breslow's baseline is fitted on the combined risk.

    Attributes
    ----------
    survival_train_ : structured ndarray
        The labelled training outcomes (for IPCW metrics: Uno's C, time-dependent AUC,
        Brier score).
    unique_times_ : ndarray
        Times at which ``return_array=True`` evaluates the survival functions: the
        training event times (Cox) or the ends of the time bins (logistic hazard).
    event_times_ : ndarray
        The distinct event times of the labelled training samples.
    cum_baseline_hazard_ : StepFunction or None
        Cox only: Breslow's baseline cumulative hazard, jumping at ``unique_times_``,
        fitted on the training samples' predicted log-risks
        (:class:`petmtl.survival.BreslowEstimator`; scikit-survival's name).
    baseline_survival_ : StepFunction or None
        Cox only: ``exp(-cum_baseline_hazard_)``.
    time_bins_ : ndarray or None
        Logistic hazard only: the bin edges.
    oof_risk_ : ndarray
        Ensembles (``n_members > 1``) only: each labelled training sample's risk from the
        member that held it out (rows ``oof_index_``).
    module_, history_, best_epoch_, device_, ...
        As for :class:`~petmtl.MultiTaskPETEstimator`.

    Examples
    --------
    >>> from petmtl import MultiTaskPETSurvival
    >>> from petmtl.datasets import make_pet_cohort
    >>> cohort = make_pet_cohort(16, shape=(16, 16, 16), spacing=8.0, outcome="survival",
    ...                          random_state=0)
    >>> est = MultiTaskPETSurvival(base_width=2, depth=2, max_epochs=1, random_state=0)
    >>> est.fit(cohort.X, cohort.y, masks=cohort.masks, pathology=cohort.pathology)
    MultiTaskPETSurvival(base_width=2, depth=2, max_epochs=1, random_state=0)
    >>> est.predict(cohort.X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **MultiTaskPETBase._parameter_constraints,
        "loss": [Options("cox", "logistic_hazard")],
        "ties": [Options("efron", "breslow")],
        "risk_set_memory": [Interval(Integral, 0, None)],
        "n_time_bins": [Interval(Integral, 2, None)],
        "early_stopping_score": [Options("loss", "outcome", "cindex")],
    }
    _outcome_file_outputs = ("risk", "survival")
    _default_file_outputs = ("risk",)

    @extend_parameters
    def __init__(self, lam=0.3, *, loss="cox", ties="efron", risk_set_memory=64,
                 n_time_bins=10, **shared):
        super().__init__(lam, **shared)
        self.loss = loss
        self.ties = ties
        self.risk_set_memory = risk_set_memory
        self.n_time_bins = n_time_bins

    # ------------------------------------------------------------------ fit
    def _read_outcome(self, y, n_samples: int) -> OutcomeData:
        if y is None:
            raise ValueError("y is None; MultiTaskPETSurvival requires y to be passed, but "
                             "the target y is None")
        event, time, labelled = check_survival_y(y, n_samples, name="y")
        if labelled.sum() < 2:
            raise ValueError(f"y has {int(labelled.sum())} sample(s) with a known outcome "
                             f"(n_samples={n_samples}); a survival model needs at least 2")
        attributes = {"survival_train_": make_survival_y(event[labelled], time[labelled]),
                      "event_times_": np.unique(time[event]), "time_bins_": None,
                      "cum_baseline_hazard_": None, "baseline_survival_": None}
        targets = {"outcome": (np.where(labelled, time, 0.0), labelled),
                   "event": (event & labelled, labelled)}
        strata = np.where(labelled, event.astype(np.int64), -1)
        if self.loss == "cox":
            ties, memory = self.ties, self.risk_set_memory
            return OutcomeData(targets, strata,
                               make_task=lambda index: CoxOutcome(ties, memory),
                               attributes={**attributes, "unique_times_": None,
                                           "n_outcome_outputs_": 1})
        known_time = np.where(labelled, time, np.nan)
        cuts = make_time_bins(event, known_time, self.n_time_bins)
        binned_event, bins = discretize_times(event, known_time, cuts)
        targets["time_bin"] = (np.maximum(bins, 0), labelled)
        targets["event"] = (binned_event, labelled)
        n_bins = len(cuts) - 1
        return OutcomeData(targets, strata, make_task=lambda index: DiscreteTimeOutcome(n_bins),
                           attributes={**attributes, "time_bins_": cuts,
                                       "unique_times_": cuts[1:], "n_outcome_outputs_": n_bins})

    def fit(self, X, y, *, masks=None, pathology=None):
        """Train on PET volumes, survival outcomes and the auxiliary labels.

        Parameters
        ----------
        X : array-like of shape (n, x, y, z) or sequence of NIfTI paths
        y : structured ndarray of shape (n,)
            Event indicator and time fields (:func:`petmtl.survival.make_survival_y`);
            NaN times for unknown outcomes.
        masks, pathology
            As for :meth:`petmtl.MultiTaskPETEstimator.fit`.

        Returns
        -------
        self : MultiTaskPETSurvival
        """
        super().fit(X, y, masks=masks, pathology=pathology)
        if self.loss == "cox":
            event, time, labelled = check_survival_y(y, name="y")
            known = X if labelled.all() else _safe_indexing(X, np.flatnonzero(labelled))
            baseline = BreslowEstimator().fit(self.predict(known), event[labelled],
                                              time[labelled])
            self.unique_times_ = baseline.unique_times_
            self.cum_baseline_hazard_ = baseline.cum_baseline_hazard_
            self.baseline_survival_ = baseline.baseline_survival_
        return self

    @property
    def baseline_cumulative_hazard_(self) -> np.ndarray | None:
        """Deprecated: ``cum_baseline_hazard_.y`` (scikit-survival's name)."""
        warnings.warn("baseline_cumulative_hazard_ is now cum_baseline_hazard_, a StepFunction "
                      "(scikit-survival's name); the old name goes in petmtl 0.3",
                      FutureWarning, stacklevel=2)
        hazard = self.cum_baseline_hazard_
        return None if hazard is None else hazard.y

    # -------------------------------------------------------------- predict
    _oof_output = "risk"

    def _combine_outcomes(self, views: np.ndarray) -> np.ndarray:
        """One T4 output from several views: the mean log-risk (Cox), or the hazards of
        the mean survival curve (logistic hazard)."""
        views = np.asarray(views, dtype=np.float64)
        if len(views) == 1 or self.loss == "cox":
            return views.mean(axis=0)
        survival = np.mean([hazard_to_survival(torch.from_numpy(np.atleast_2d(v)).float())
                            .double().numpy() for v in views], axis=0)
        before = np.column_stack([np.ones(len(survival)), survival[:, :-1]])
        hazard = np.clip(1.0 - survival / np.clip(before, 1e-12, None), 1e-9, 1.0 - 1e-9)
        return np.log(hazard / (1.0 - hazard))

    def predict(self, X, return_std: bool = False):
        """Risk score of each volume: higher means an earlier event.

        Parameters
        ----------
        X : array-like of shape (n, x, y, z), paths, or a table with covariates
            As for :meth:`fit`.
        return_std : bool, default=False
            Also return each patient's spread: the standard deviation of the risk over
            the views of the prediction, the members of an ensemble (``n_members``) and
            the test-time flips (``tta``); 0 for a single network without flips.

        Returns
        -------
        risk : ndarray of shape (n,)
            The Cox log-risk, or minus the expected number of time bins survived (of the
            views combined: the mean log-risk, or the mean survival curve).
        std : ndarray of shape (n,)
            Only with ``return_std``.
        """
        if not return_std:
            return self._risk(self._network_outputs(X, ("outcome",))["outcome"])
        views = self._network_views(X, ("outcome",))["outcome"]
        risks = np.stack([self._risk(view) for view in views])
        return self._risk(self._combine_outcomes(views)), risks.std(axis=0)

    def _risk(self, output: np.ndarray) -> np.ndarray:
        """Risk scores from T4's raw output (log-risks, or hazard logits per bin)."""
        output = np.asarray(output)
        if self.loss == "logistic_hazard":
            logits = torch.from_numpy(np.atleast_2d(output).astype(np.float32))
            return logistic_hazard_risk(logits).numpy().astype(np.float64)
        return np.atleast_1d(output).astype(np.float64)

    def _cumulative_hazard(self, output: np.ndarray) -> np.ndarray:
        """``H(t | x)`` at :attr:`unique_times_` from T4's raw output, shape (n, n_times)."""
        if self.loss == "cox":
            return np.outer(np.exp(self._risk(output)), self.cum_baseline_hazard_.y)
        logits = torch.from_numpy(np.atleast_2d(np.asarray(output)).astype(np.float32))
        survival = hazard_to_survival(logits).numpy().astype(np.float64)
        return -np.log(np.clip(survival, 1e-12, 1.0))

    def score(self, X, y) -> float:
        """Harrell's concordance index of :meth:`predict` (scikit-survival's convention).

        Patients with an unknown outcome (NaN time) are left out.

        Returns
        -------
        float
        """
        return harrell_score(y, self.predict(X))

    def predict_cumulative_hazard_function(self, X, return_array: bool = False):
        """Cumulative hazard ``H(t | x)`` of each volume.

        Parameters
        ----------
        X : array-like or sequence of NIfTI paths
        return_array : bool, default=False
            Values at :attr:`unique_times_` instead of step functions.

        Returns
        -------
        ndarray
            Object array of :class:`~petmtl.survival.StepFunction` (n,), or floats
            (n, ``len(unique_times_)``).
        """
        hazard = self._cumulative_hazard(self._network_outputs(X, ("outcome",))["outcome"])
        return hazard if return_array else step_functions(self.unique_times_, hazard,
                                                          initial=0.0)

    def predict_survival_function(self, X, return_array: bool = False):
        """Survival ``S(t | x)`` of each volume (forms as the cumulative hazard's).

        Cox: ``exp(-H0(t) exp(risk))`` with Breslow's baseline from the training set;
        logistic hazard: the product of ``1 - hazard`` over the bins up to ``t``.
        """
        survival = np.exp(-self.predict_cumulative_hazard_function(X, return_array=True))
        return survival if return_array else step_functions(self.unique_times_, survival,
                                                            initial=1.0)

    def _outcome_values(self, raw: np.ndarray, name: str, times=None) -> np.ndarray:
        """``"risk"`` (n,), or ``"survival"``: ``S(t | x)`` at ``times``, (n, len(times))."""
        if name == "risk":
            return self._risk(raw)
        if times is None:
            raise ValueError("the 'survival' output needs times (e.g. times=[12, 24])")
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
        if times.ndim != 1 or not np.isfinite(times).all():
            raise ValueError(f"times must be a 1-D array of finite times; got {times!r}")
        survival = np.exp(-self._cumulative_hazard(raw))
        columns = np.searchsorted(self.unique_times_, times, side="right")
        padded = np.column_stack([np.ones(len(survival)), survival])
        return padded[:, columns]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

