"""Sliding-window inference over volumes larger than the network input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral, Real

import numpy as np

from .._constraints import Interval, Options, Satisfies, check_params
from ._resample import _as_shape

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


def _axis_weights(n: int, blend: str) -> np.ndarray:
    """One axis of the separable window weight (centre 1)."""
    if blend == "constant":
        return np.ones(n, dtype=np.float64)
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    g = np.exp(-0.5 * (x / (n / 8.0)) ** 2)
    # keep the window borders from vanishing (where a voxel is covered by one window only)
    return np.maximum(g / g.max(), 1e-3)


def _axis_norm(size: int, starts: list, weights: np.ndarray) -> np.ndarray:
    """Sum over the windows along one axis of their weight at each voxel."""
    norm = np.zeros(size, dtype=np.float64)
    for start in starts:
        norm[start : start + len(weights)] += weights
    return norm


def sliding_window_predict(
    volume: np.ndarray,
    predict_fn: Callable[[np.ndarray], np.ndarray],
    window: Sequence[int] = (64, 64, 64),
    *,
    overlap: float = 0.5,
    blend: str = "gaussian",
    batch_size: int = 4,
) -> np.ndarray:
    """Apply a window-wise predictor to a whole volume and blend the overlapping outputs.

    Windows of ``window`` voxels are placed every ``window * (1 - overlap)`` voxels along each
    axis, the last one flush with the volume's end, so every voxel is covered. Sides shorter
    than the window are zero-padded at the end (and the padding is cut off again). Each
    window's prediction is weighted by a product of one Gaussian per axis (sigma = window /
    8, centre weight 1, floor 1e-3 per axis) or a constant, and the weighted average is
    returned. The windows form a grid and the weight is separable, so the sum of weights
    at each voxel is a product of three 1-D sums: memory is one float32 array of the
    (padded) volume's size plus one batch of windows.

    Parameters
    ----------
    volume : ndarray of shape (D, H, W)
        Input image on the network grid (e.g. SUV at 2 mm).
    predict_fn : callable
        Maps a float32 array of shape ``(b, *window)`` to an array of the same shape
        (e.g. tumour probabilities).
    window : sequence of 3 int, default=(64, 64, 64)
        Network input shape.
    overlap : float in [0, 1), default=0.5
        Fraction of a window shared by neighbouring windows.
    blend : {'gaussian', 'constant'}, default='gaussian'
        Weighting of overlapping predictions.
    batch_size : int, default=4
        Number of windows passed to ``predict_fn`` at once.

    Returns
    -------
    ndarray of float32, shape (D, H, W)
    """
    volume = np.asarray(volume)
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise ValueError(f"volume must be a non-empty 3-D array, got shape {volume.shape}")
    window = _as_shape(window, "window")
    check_params({"overlap": overlap, "blend": blend, "batch_size": batch_size,
                  "predict_fn": predict_fn}, _CONSTRAINTS)

    orig_shape = volume.shape
    padded_shape = tuple(max(s, w) for s, w in zip(orig_shape, window, strict=True))
    if padded_shape != orig_shape:
        padded = np.zeros(padded_shape, dtype=np.float32)
        padded[tuple(slice(0, s) for s in orig_shape)] = volume
        volume = padded
    steps = [max(1, int(w * (1.0 - overlap))) for w in window]
    grids = [_starts(s, w, st) for s, w, st in zip(padded_shape, window, steps, strict=True)]
    positions = [(i, j, k) for i in grids[0] for j in grids[1] for k in grids[2]]

    axis_weights = [_axis_weights(w, blend) for w in window]
    weight = np.einsum("i,j,k->ijk", *axis_weights).astype(np.float32)
    acc = np.zeros(padded_shape, dtype=np.float32)
    for b0 in range(0, len(positions), batch_size):
        chunk = positions[b0 : b0 + batch_size]
        slices = [tuple(slice(p, p + w) for p, w in zip(pos, window, strict=True)) for pos in chunk]
        batch = np.stack([volume[sl] for sl in slices]).astype(np.float32, copy=False)
        pred = np.asarray(predict_fn(batch))
        if pred.shape != batch.shape:
            raise ValueError(
                f"predict_fn must return an array of shape {batch.shape} (one prediction per "
                f"window), got {pred.shape}"
            )
        for sl, p in zip(slices, pred, strict=True):
            acc[sl] += weight * p
    out = acc
    for axis, (size, starts, weights) in enumerate(zip(padded_shape, grids, axis_weights,
                                                       strict=True)):
        shape = [1, 1, 1]
        shape[axis] = size
        out /= _axis_norm(size, starts, weights).astype(np.float32).reshape(shape)
    return out[tuple(slice(0, s) for s in orig_shape)].copy() if padded_shape != orig_shape \
        else out
