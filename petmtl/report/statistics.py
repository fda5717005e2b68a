"""The statistics of a validation report, each a small function of per-patient predictions.

Binary outcomes: :func:`roc_band` (ROC curve with a bootstrap band),
:func:`calibration_slope_intercept`, :func:`reliability_curve` (with Wilson intervals,
:func:`wilson_interval`), :func:`net_benefit` and :func:`decision_curve`.
Survival outcomes: :func:`kaplan_meier_curve` (with Greenwood's log-log interval),
:func:`numbers_at_risk`, :func:`risk_groups` and :func:`risk_group_curves` (with the
log-rank test), :func:`survival_calibration` (predicted against observed survival at a
horizon), :func:`survival_net_benefit` and :func:`time_dependent_auc`.
Both: :func:`bland_altman` (agreement of predicted and reference tumour volumes) and
:func:`centre_outcome_association` (is the centre confounded with the outcome?).

Every function is plain numpy/scipy/scikit-learn and returns JSON-ready dicts or arrays;
each docstring gives its definition and a reference.
"""

from ._agreement_stats import bland_altman, centre_outcome_association
from ._binary_stats import (
    calibration_slope_intercept,
    decision_curve,
    net_benefit,
    reliability_curve,
    roc_band,
    wilson_interval,
)
from ._survival_stats import (
    kaplan_meier_curve,
    numbers_at_risk,
    risk_group_curves,
    risk_groups,
    survival_at,
    survival_calibration,
    survival_net_benefit,
    time_dependent_auc,
)

__all__ = [
    "bland_altman", "calibration_slope_intercept", "centre_outcome_association",
    "decision_curve", "kaplan_meier_curve", "net_benefit", "numbers_at_risk",
    "reliability_curve", "risk_group_curves", "risk_groups", "roc_band", "survival_at",
    "survival_calibration", "survival_net_benefit", "time_dependent_auc", "wilson_interval",
]
