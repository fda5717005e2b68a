"""Discrete time: time bins, and survival and risk from per-bin hazards.

Time is cut into ``K`` bins ``(cuts[k], cuts[k + 1]]``; a logistic-hazard model
(:func:`petmtl.survival.losses.logistic_hazard_loss`) predicts one logit per bin, the
conditional hazard ``h_k = sigmoid(logit_k)`` of an event in bin ``k`` given survival to
its start.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .target import _parse_event, _parse_time


def _labelled_numpy(event, time) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bool events, float times (NaN where unknown) and the known mask."""
    values, unknown = _parse_event(event.cpu() if torch.is_tensor(event) else event)
    times = _parse_time(time.cpu() if torch.is_tensor(time) else time)
    if len(values) != len(times):
        raise ValueError(f"event and time must have the same length; got {len(values)} and "
                         f"{len(times)}")
    known = ~unknown & ~np.isnan(times)
    return values & known, np.where(known, times, np.nan), known


def make_time_bins(event, time, n_bins: int) -> np.ndarray:
    """Cut points of ``n_bins`` time bins at quantiles of the event times.

    Parameters
    ----------
    event : array-like of shape (n_samples,)
        Event indicators (booleans or 0/1).
    time : array-like of shape (n_samples,)
        Event or censoring times; NaN (unlabelled) entries are ignored.
    n_bins : int
        Number of bins wanted, at least 1.

    Returns
    -------
    cuts : ndarray of float64, shape (K + 1,)
        Strictly increasing edges: 0, the event-time quantiles of levels
        ``1/n_bins, ..., (n_bins - 1)/n_bins`` and the largest known time.
        Duplicate edges (many tied event times) are merged, so ``K`` can be
        smaller than ``n_bins``.
    """
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    event, time, known = _labelled_numpy(event, time)
    if not event.any():
        raise ValueError("event: no event among the labelled samples; cannot place time bins")
    t_max = float(time[known].max())
    if t_max <= 0:
        raise ValueError("time: every known time is 0; time bins need a positive time")
    levels = np.arange(1, int(n_bins)) / int(n_bins)
    interior = np.quantile(time[event], levels) if len(levels) else np.empty(0)
    interior = interior[(interior > 0) & (interior < t_max)]
    return np.unique(np.concatenate([[0.0], interior, [t_max]]))


def discretize_times(event, time, cuts) -> tuple[np.ndarray, np.ndarray]:
    """Bin of each time, with bins ``(cuts[k], cuts[k + 1]]``.

    Parameters
    ----------
    event : array-like of shape (n_samples,)
        Event indicators.
    time : array-like of shape (n_samples,)
        Event or censoring times; NaN marks an unlabelled sample.
    cuts : array-like of shape (K + 1,)
        Strictly increasing edges, e.g. from :func:`make_time_bins`.

    Returns
    -------
    event : ndarray of bool
        Event indicators, False for unlabelled samples and times past the
        last edge.
    bin_index : ndarray of int64
        Bin of each sample: times at or below ``cuts[1]`` (including 0) are
        bin 0; times after ``cuts[-1]`` go to the last bin *as censored*
        (administrative censoring at the end of follow-up); unlabelled
        samples get -1.
    """
    cuts = np.asarray(cuts, dtype=np.float64)
    if cuts.ndim != 1 or len(cuts) < 2 or not np.isfinite(cuts).all() \
            or (np.diff(cuts) <= 0).any():
        raise ValueError(f"cuts must be at least 2 finite, strictly increasing edges; got {cuts}")
    event, time, known = _labelled_numpy(event, time)
    n_bins = len(cuts) - 1
    index = np.searchsorted(cuts, np.where(known, time, 0.0), side="left") - 1
    index = np.clip(index, 0, n_bins - 1)
    event = event & (np.where(known, time, 0.0) <= cuts[-1])
    return event, np.where(known, index, -1).astype(np.int64)


def hazard_to_survival(logits: torch.Tensor) -> torch.Tensor:
    """Survival at the end of each bin, ``prod_{j <= k} (1 - sigmoid(logit_j))``.

    Parameters
    ----------
    logits : torch.Tensor of shape (n, K)
        Hazard logits.

    Returns
    -------
    torch.Tensor of shape (n, K)
        Non-increasing in ``k``, in [0, 1]; computed in log space, in the dtype of
        ``logits`` (at least float32).
    """
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return torch.exp(torch.cumsum(F.logsigmoid(-logits), dim=1))


def logistic_hazard_risk(logits: torch.Tensor) -> torch.Tensor:
    """One risk score per sample: minus the sum of its survival curve over bins.

    The sum of the survival at the end of each bin (:func:`hazard_to_survival`
    of the (n, K) hazard ``logits``) is a restricted mean survival time in bin
    units; its negative, one value per sample, is higher for an earlier expected
    event, the convention of Cox log-risks and of the concordance index.
    """
    return -hazard_to_survival(logits).sum(dim=1)
