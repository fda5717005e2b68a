"""The outcome side of :func:`make_pet_cohort`: binary outcome, survival times, censoring."""

from __future__ import annotations

import numpy as np

from ..survival.target import make_survival_y


def binary_outcome(eta, uniform, outcome_noise: float) -> np.ndarray:
    """``y = [uniform < sigmoid(eta / outcome_noise)]`` (``[eta > 0]`` without noise)."""
    if outcome_noise > 0:
        return (uniform < 1.0 / (1.0 + np.exp(-eta / outcome_noise))).astype(np.int64)
    return (eta > 0).astype(np.int64)


def _censoring_rate(times: np.ndarray, follow_up: float, target: float) -> float:
    """Exponential drop-out rate that censors a ``target`` fraction with the follow-up."""
    def censored(rate):
        return np.mean(np.where(times > follow_up, 1.0, 1.0 - np.exp(-rate * times)))

    if censored(0.0) >= target:
        return 0.0
    low, high = 0.0, 1.0
    while censored(high) < target:
        high *= 2.0
    for _ in range(60):
        mid = (low + high) / 2.0
        low, high = (mid, high) if censored(mid) < target else (low, mid)
    return high


def _survival_outcome(eta, outcome_noise, censoring_rate, follow_up, rs, missing):
    """Weibull event times (shape 1.5, median 24 months at eta = 0), censored."""
    log_hazard_ratio = 0.6 / max(outcome_noise, 0.05) * eta
    scale = 24.0 / np.log(2.0) ** (1 / 1.5)
    times = scale * (-np.log(rs.random_sample(len(eta))) * np.exp(-log_hazard_ratio)) ** (
        1 / 1.5)
    rate = _censoring_rate(times, follow_up, censoring_rate)
    drop_out = rs.exponential(1.0 / rate, len(eta)) if rate > 0 else np.full(len(eta), np.inf)
    observed = np.minimum(np.minimum(times, drop_out), follow_up)
    event = (times <= drop_out) & (times <= follow_up)
    return make_survival_y(event=np.where(missing, None, event).tolist(),
                           time=np.where(missing, np.nan, observed))
