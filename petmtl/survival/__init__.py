"""Time-to-event outcomes: the survival estimator and the survival-analysis tools it uses.

Laid out like scikit-survival, with ``event`` before ``time`` everywhere:

- :class:`MultiTaskPETSurvival` (:mod:`.estimator`), the W-Net with a survival T4;
- :mod:`.target`: the structured ``y`` (:func:`make_survival_y`, :func:`check_survival_y`);
- :mod:`.functions`: :class:`StepFunction`, :class:`BreslowEstimator`;
- :mod:`.nonparametric`: :func:`kaplan_meier`, :func:`logrank_test`;
- :mod:`.losses`: Cox (Efron/Breslow, with a risk-set memory) and logistic-hazard losses
  for any torch loop, and T4's survival tasks; :mod:`.time_bins`: discrete time;
- :mod:`.metrics` and :mod:`.scorers`: C-indices, time-dependent AUC, Brier scores and
  their scikit-learn scorers (also in :mod:`petmtl.metrics`).
"""

from .estimator import MultiTaskPETSurvival
from .functions import BreslowEstimator, StepFunction
from .losses import RiskSetMemory, cox_ph_loss, logistic_hazard_loss
from .nonparametric import kaplan_meier, logrank_test
from .target import SURVIVAL_DTYPE, check_survival_y, make_survival_y

__all__ = ["SURVIVAL_DTYPE", "BreslowEstimator", "MultiTaskPETSurvival", "RiskSetMemory",
           "StepFunction", "check_survival_y", "cox_ph_loss", "kaplan_meier",
           "logistic_hazard_loss", "logrank_test", "make_survival_y"]

