"""Discrete-time survival: time bins and the logistic-hazard (nnet-survival) likelihood.

Time is cut into ``K`` bins ``(cuts[k], cuts[k + 1]]``; the network predicts one
logit per bin, the conditional hazard ``h_k = sigmoid(logit_k)`` of an event
in bin ``k`` given survival to its start. The likelihood factorises over bins,
so it needs no risk set and works at any batch size, including 1.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ._survival_y import _parse_event, _parse_time


def _as_tensor(values, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    if not torch.is_tensor(values):
        values = torch.as_tensor(np.ascontiguousarray(values))  # structured-array fields
    return values.to(device=device, dtype=dtype).reshape(-1)


def _keep_mask(known: torch.Tensor, labelled) -> torch.Tensor:
    """Samples to use: ``known`` (a bool tensor) and, if given, ``labelled``."""
    if labelled is None:
        return known
    labelled = _as_tensor(labelled, known.device, torch.bool)
    if labelled.shape != known.shape:
        raise ValueError(f"labelled must have one entry per sample ({len(known)}); got "
                         f"{tuple(labelled.shape)}")
    return known & labelled


def _labelled_numpy(time, event) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bool events, float times (NaN where unknown) and the known mask."""
    values, unknown = _parse_event(event.cpu() if torch.is_tensor(event) else event)
    times = _parse_time(time.cpu() if torch.is_tensor(time) else time)
    if len(values) != len(times):
        raise ValueError(f"event and time must have the same length; got {len(values)} and "
                         f"{len(times)}")
    known = ~unknown & ~np.isnan(times)
    return values & known, np.where(known, times, np.nan), known


def make_time_bins(time, event, n_bins: int) -> np.ndarray:
    """Cut points of ``n_bins`` time bins at quantiles of the event times.

    Parameters
    ----------
    time : array-like of shape (n_samples,)
        Event or censoring times; NaN (unlabelled) entries are ignored.
    event : array-like of shape (n_samples,)
        Event indicators (booleans or 0/1).
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
    event, time, known = _labelled_numpy(time, event)
    if not event.any():
        raise ValueError("event: no event among the labelled samples; cannot place time bins")
    t_max = float(time[known].max())
    if t_max <= 0:
        raise ValueError("time: every known time is 0; time bins need a positive time")
    levels = np.arange(1, int(n_bins)) / int(n_bins)
    interior = np.quantile(time[event], levels) if len(levels) else np.empty(0)
    interior = interior[(interior > 0) & (interior < t_max)]
    return np.unique(np.concatenate([[0.0], interior, [t_max]]))


def discretize_times(time, event, cuts) -> tuple[np.ndarray, np.ndarray]:
    """Bin of each time, with bins ``(cuts[k], cuts[k + 1]]``.

    Parameters
    ----------
    time : array-like of shape (n_samples,)
        Event or censoring times; NaN marks an unlabelled sample.
    event : array-like of shape (n_samples,)
        Event indicators.
    cuts : array-like of shape (K + 1,)
        Strictly increasing edges, e.g. from :func:`make_time_bins`.

    Returns
    -------
    bin_index : ndarray of int64
        Bin of each sample: times at or below ``cuts[1]`` (including 0) are
        bin 0; times after ``cuts[-1]`` go to the last bin *as censored*
        (administrative censoring at the end of follow-up); unlabelled
        samples get -1.
    event : ndarray of bool
        Event indicators, False for unlabelled samples and times past the
        last edge.
    """
    cuts = np.asarray(cuts, dtype=np.float64)
    if cuts.ndim != 1 or len(cuts) < 2 or not np.isfinite(cuts).all() \
            or (np.diff(cuts) <= 0).any():
        raise ValueError(f"cuts must be at least 2 finite, strictly increasing edges; got {cuts}")
    event, time, known = _labelled_numpy(time, event)
    n_bins = len(cuts) - 1
    index = np.searchsorted(cuts, np.where(known, time, 0.0), side="left") - 1
    index = np.clip(index, 0, n_bins - 1)
    event = event & (np.where(known, time, 0.0) <= cuts[-1])
    return np.where(known, index, -1).astype(np.int64), event


def logistic_hazard_loss(logits: torch.Tensor, bin_index, event,
                         labelled=None) -> torch.Tensor:
    """Negative log-likelihood of the logistic-hazard (nnet-survival) model.

    For a sample in bin ``b``: binary cross-entropy with logits of target 0
    in every bin ``k < b`` (it survived them) and target ``event`` in bin
    ``b``; a censored sample contributes nothing at its own bin (it may not
    have survived all of it), and bins after ``b`` contribute nothing. The
    per-sample sums are averaged over the samples used.

    Parameters
    ----------
    logits : torch.Tensor of shape (n, K)
        Hazard logits.
    bin_index : tensor or array-like of int, shape (n,)
        Bin of each sample (:func:`discretize_times`); -1 = unlabelled.
    event : tensor or array-like of bool, shape (n,)
        Event indicators.
    labelled : tensor or array-like of bool, optional
        Samples to use; the others (and those with ``bin_index < 0``) are
        ignored.

    Returns
    -------
    torch.Tensor
        Scalar loss; an exact 0 with a gradient graph when no sample is used.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (n, K), got {tuple(logits.shape)}")
    n, n_bins = logits.shape
    bins = _as_tensor(bin_index, logits.device, torch.int64)
    event = _as_tensor(event, logits.device, torch.bool)
    if not (len(bins) == n == len(event)):
        raise ValueError(f"logits, bin_index and event lengths differ: {n}, {len(bins)}, "
                         f"{len(event)}")
    if (bins >= n_bins).any():
        raise ValueError(f"bin_index must be below the number of bins ({n_bins}); got "
                         f"{int(bins.max())}")
    keep = _keep_mask(bins >= 0, labelled)
    if not keep.any():
        return logits.sum() * 0
    logits = logits[keep].to(torch.promote_types(logits.dtype, torch.float32))
    bins, event = bins[keep], event[keep]
    k = torch.arange(n_bins, device=logits.device)[None, :]
    at_bin = k == bins[:, None]
    target = (at_bin & event[:, None]).float()
    used = (k < bins[:, None]) | (at_bin & event[:, None])
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (bce * used).sum(1).mean()


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
