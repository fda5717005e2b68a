"""Even-odd filling of planar polygons on a voxel grid (RTSTRUCT contours)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fill_even_odd(polygons: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Voxels whose centre lies inside an odd number of the polygons' boundaries.

    All polygons of one plane are filled together with the even-odd rule, so a polygon
    inside another is a hole (and an island inside a hole is filled again). A voxel
    centre ``(a, b)`` (integer coordinates) is inside when a ray from it towards ``+a``
    crosses the boundary an odd number of times; edges are half-open along ``b``, so
    voxels on a shared edge are counted once.

    Parameters
    ----------
    polygons : sequence of ndarray of shape (m, 2)
        Vertices ``(a, b)`` in voxel coordinates of the plane; each is closed implicitly.
    shape : tuple of 2 int
        Size of the plane ``(n_a, n_b)``.

    Returns
    -------
    ndarray of bool, shape ``shape``
    """
    n_a, n_b = shape
    crossings = np.zeros((n_a + 1, n_b), dtype=np.int32)
    rows = np.arange(n_b, dtype=np.float64)
    for poly in polygons:
        poly = np.asarray(poly, dtype=np.float64)
        if len(poly) < 3:
            continue
        a1, b1 = poly[:, 0], poly[:, 1]
        a2, b2 = np.roll(a1, -1), np.roll(b1, -1)
        lo = np.clip(np.ceil(np.minimum(b1, b2)).astype(np.int64), 0, n_b)
        hi = np.clip(np.ceil(np.maximum(b1, b2)).astype(np.int64), 0, n_b)
        counts = hi - lo  # rows b with min <= b < max: crossed by the half-open edge
        if counts.sum() == 0:
            continue
        edge = np.repeat(np.arange(len(poly)), counts)
        row = np.concatenate([np.arange(s, e) for s, e in zip(lo, hi, strict=True) if e > s])
        t = (rows[row] - b1[edge]) / (b2[edge] - b1[edge])
        a_cross = a1[edge] + t * (a2[edge] - a1[edge])
        # the crossing toggles every voxel centre a > a_cross of its row
        first = np.clip(np.floor(a_cross).astype(np.int64) + 1, 0, n_a)
        np.add.at(crossings, (first, row), 1)
    return (np.cumsum(crossings, axis=0)[:n_a] % 2).astype(bool)


def nearest_planes(levels: np.ndarray, n_slices: int, half: float) -> list:
    """For each slice index ``0 .. n_slices - 1``, the nearest of ``levels`` (plane positions
    in slice units) within ``half``, or None.

    Parameters
    ----------
    levels : ndarray of float
        Sorted plane positions, in (fractional) slice indices of the grid.
    n_slices : int
    half : float
        Half the planes' spacing: how far a plane reaches.

    Returns
    -------
    list of (float or None)
    """
    levels = np.asarray(levels, dtype=np.float64)
    out = []
    for s in range(n_slices):
        nearest = levels[int(np.argmin(np.abs(levels - s)))]
        out.append(float(nearest) if abs(nearest - s) <= half + 1e-6 else None)
    return out
