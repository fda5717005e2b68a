"""Sliding-window inference over volumes larger than the network input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral, Real

import numpy as np
import torch

from .._constraints import Interval, Options, Satisfies, check_params
from ._resample import _as_shape

DEFAULT_OVERLAP = 0.25
"""Fraction of a window that the next one overlaps, everywhere petmtl slides windows."""

_CONSTRAINTS = {
    "overlap": [Interval(Real, 0, 1, closed="left", description="a number in [0, 1)")],
    "blend": [Options("gaussian", "constant", description="'gaussian' or 'constant'")],
    "batch_size": [Interval(Integral, 1, None, description="a positive int")],
    "predict_fn": [Satisfies(callable, "callable", type_error=True)],
}


def _starts(size: int, window: int, step: int) -> list[int]:
    if size <= window:
        return [0]
    starts = list(range(0, size - window, step))
    starts.append(size - window)
    return starts


def _axis_weights(n: int, blend: str) -> torch.Tensor:
    """One axis of the separable window weight (centre 1), float64."""
    if blend == "constant":
        return torch.ones(n, dtype=torch.float64)
    x = torch.arange(n, dtype=torch.float64) - (n - 1) / 2.0
    g = torch.exp(-0.5 * (x / (n / 8.0)) ** 2)
    # keep the window borders from vanishing (where a voxel is covered by one window only)
    return torch.clamp(g / g.max(), min=1e-3)


def _axis_norm(size: int, starts: list, weights: torch.Tensor) -> torch.Tensor:
    """Sum over the windows along one axis of their weight at each voxel."""
    norm = torch.zeros(size, dtype=torch.float64)
    for start in starts:
        norm[start : start + len(weights)] += weights
    return norm


def sliding_window_predict(
    volume,
    predict_fn: Callable,
    window: Sequence[int] = (64, 64, 64),
    *,
    overlap: float = DEFAULT_OVERLAP,
    blend: str = "gaussian",
    batch_size: int = 4,
):
    """Apply a window-wise predictor to a whole volume and blend the overlapping outputs.

    Windows of ``window`` voxels are placed every ``window * (1 - overlap)`` voxels along each
    axis, the last one flush with the volume's end, so every voxel is covered. Sides shorter
    than the window are zero-padded at the end (and the padding is cut off again). Each
    window's prediction is weighted by a product of one Gaussian per axis (sigma = window /
    8, centre weight 1, floor 1e-3 per axis) or a constant, and the weighted average is
    returned. The windows form a grid and the weight is separable, so the sum of weights
    at each voxel is a product of three 1-D sums: memory is one float32 array of the
    (padded) volume's size plus one batch of windows.

    A torch tensor is processed where it lies (e.g. on the GPU: windows, predictions and
    the blended result never leave the device); a NumPy array on the CPU. This is the one
    sliding-window routine of petmtl: the estimators' ``segment`` of whole files uses it.

    Parameters
    ----------
    volume : ndarray or torch.Tensor of shape (x, y, z)
        Input image on the network grid (e.g. SUV at 2 mm).
    predict_fn : callable
        Maps a float32 batch of windows of shape ``(b, *window)`` to an array of the same
        shape (e.g. tumour probabilities): NumPy arrays for a NumPy ``volume``, tensors on
        its device for a tensor.
    window : sequence of 3 int, default=(64, 64, 64)
        Network input shape.
    overlap : float in [0, 1), default=0.25
        Fraction of a window shared by neighbouring windows (:data:`DEFAULT_OVERLAP`, as
        MONAI; 0.5 as nnU-Net runs about 2.4 times the windows).
    blend : {'gaussian', 'constant'}, default='gaussian'
        Weighting of overlapping predictions.
    batch_size : int, default=4
        Number of windows passed to ``predict_fn`` at once.

    Returns
    -------
    ndarray or torch.Tensor of float32, shape (x, y, z)
        Of the input's kind (and device).
    """
    as_numpy = not torch.is_tensor(volume)
    volume = torch.from_numpy(np.ascontiguousarray(volume)) if as_numpy else volume
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise ValueError(f"volume must be a non-empty 3-D array, got shape {tuple(volume.shape)}")
    window = _as_shape(window, "window")
    check_params({"overlap": overlap, "blend": blend, "batch_size": batch_size,
                  "predict_fn": predict_fn}, _CONSTRAINTS)
    device = volume.device
    orig_shape = tuple(volume.shape)
    padded_shape = tuple(max(s, w) for s, w in zip(orig_shape, window, strict=True))
    if padded_shape != orig_shape:
        padded = torch.zeros(padded_shape, dtype=torch.float32, device=device)
        padded[tuple(slice(0, s) for s in orig_shape)] = volume
        volume = padded
    steps = [max(1, int(w * (1.0 - overlap))) for w in window]
    grids = [_starts(s, w, st) for s, w, st in zip(padded_shape, window, steps, strict=True)]
    positions = [(i, j, k) for i in grids[0] for j in grids[1] for k in grids[2]]

    axis_weights = [_axis_weights(w, blend) for w in window]
    weight = torch.einsum("i,j,k->ijk", *axis_weights).to(device, torch.float32)
    acc = torch.zeros(padded_shape, dtype=torch.float32, device=device)
    for b0 in range(0, len(positions), batch_size):
        chunk = positions[b0 : b0 + batch_size]
        slices = [tuple(slice(p, p + w) for p, w in zip(pos, window, strict=True)) for pos in chunk]
        batch = torch.stack([volume[sl] for sl in slices]).to(torch.float32)
        pred = predict_fn(batch.numpy() if as_numpy else batch)
        pred = torch.as_tensor(np.asarray(pred) if as_numpy else pred, device=device)
        if tuple(pred.shape) != tuple(batch.shape):
            raise ValueError(
                f"predict_fn must return an array of shape {tuple(batch.shape)} (one "
                f"prediction per window), got {tuple(pred.shape)}"
            )
        for sl, p in zip(slices, pred, strict=True):
            acc[sl] += weight * p
    for axis, (size, starts, weights) in enumerate(zip(padded_shape, grids, axis_weights,
                                                       strict=True)):
        shape = [1, 1, 1]
        shape[axis] = size
        acc /= _axis_norm(size, starts, weights).to(device, torch.float32).reshape(shape)
    out = acc[tuple(slice(0, s) for s in orig_shape)]
    if padded_shape != orig_shape:
        out = out.clone()
    return out.cpu().numpy() if as_numpy else out
