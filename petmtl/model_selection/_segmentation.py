"""Per-patient agreement of a predicted tumour mask with the reference mask."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..metrics import dice_score

_FACES = ndimage.generate_binary_structure(3, 1)


def _surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a face neighbour outside it (the volume's edge is outside)."""
    return mask & ~ndimage.binary_erosion(mask, structure=_FACES, border_value=0)


def surface_distances(a: np.ndarray, b: np.ndarray, spacing) -> np.ndarray:
    """Distance (mm) from every surface voxel of ``a`` to the nearest surface voxel of ``b``.

    Parameters
    ----------
    a, b : ndarray of bool, shape (x, y, z)
        Non-empty masks on the same grid.
    spacing : sequence of 3 float
        Voxel size in mm.

    Returns
    -------
    ndarray of float64
    """
    to_b = ndimage.distance_transform_edt(~_surface(b), sampling=spacing)
    return to_b[_surface(a)]


def hausdorff_distance(a, b, spacing, percentile: float = 95.0) -> float:
    """Symmetric percentile Hausdorff distance between two masks, in mm.

    ``max(P(d(A, B)), P(d(B, A)))`` where ``d(A, B)`` are the distances from the surface
    voxels of A to the surface of B and ``P`` the ``percentile`` (95: the HD95 of the
    segmentation literature, e.g. Taha & Hanbury 2015; 100: the Hausdorff distance).

    Returns
    -------
    float
        NaN when either mask is empty.
    """
    a = np.asarray(a).astype(bool)
    b = np.asarray(b).astype(bool)
    if a.shape != b.shape:
        raise ValueError(f"masks must have the same shape, got {a.shape} and {b.shape}")
    if not a.any() or not b.any():
        return float("nan")
    return float(max(np.percentile(surface_distances(a, b, spacing), percentile),
                     np.percentile(surface_distances(b, a, spacing), percentile)))


def mask_agreement(reference, predicted, spacing) -> dict:
    """Dice, HD95 and the metabolic tumour volumes (ml) of one patient.

    Parameters
    ----------
    reference : ndarray or None
        Reference mask (None: only the predicted volume is known).
    predicted : ndarray
        Predicted mask on the same grid.
    spacing : sequence of 3 float
        Voxel size in mm.

    Returns
    -------
    dict
        ``dice``, ``hd95`` (mm), ``mtv_reference_ml`` and ``mtv_predicted_ml``; None for
        what needs the missing reference.
    """
    voxel_ml = float(np.prod(spacing)) / 1000.0
    predicted = np.asarray(predicted).astype(bool)
    out = {"dice": None, "hd95": None, "mtv_reference_ml": None,
           "mtv_predicted_ml": float(predicted.sum()) * voxel_ml}
    if reference is None:
        return out
    reference = np.asarray(reference).astype(bool)
    hd95 = hausdorff_distance(reference, predicted, spacing)
    dice = float(dice_score(reference[None], predicted[None]))
    out.update(dice=dice, hd95=None if np.isnan(hd95) else hd95,
               mtv_reference_ml=float(reference.sum()) * voxel_ml)
    return out
