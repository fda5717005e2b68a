"""Whole-body lesion burden: count, TMTV, TLG, dissemination and the disease beyond the primary.

These are the lesion-level PET biomarkers of the burden literature: total metabolic tumour
volume (TMTV) and total lesion glycolysis (TLG, here ``TTLG``) summed over all lesions,
the number of lesions, and the dissemination ``Dmax``, the largest distance between two
lesion centroids (Cottereau et al., J Nucl Med 2020), normalised by body size (``SDmax``
= Dmax / body-surface area, Cottereau et al., Ann Oncol 2021). With a primary tumour
mask, the hottest lesion outside the primary and the distance of the nearest one to it
describe the nodal and distant disease.

Units: SUV in g/ml, spacing and distances in mm, volumes in ml, TLG in g (SUV x ml).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import numpy as np
from scipy.spatial.distance import cdist, pdist

from .._constraints import Interval, check_param, check_params
from .lesions import _mask, _volume, label_lesions
from .suv import _spacing

__all__ = ["BURDEN_FEATURES", "body_extent", "body_surface_area", "lesion_burden"]

BURDEN_FEATURES = ("n_lesions", "TMTV_ml", "TTLG", "Dmax_mm", "Dmax_body",
                   "hottest_nonprimary_SUVmax", "hottest_nonprimary_ml",
                   "nearest_nonprimary_mm")
"""Names of the image-only measures of :func:`lesion_burden`, in order."""

_BODY_FRACTION = 0.01  # slices with less body than this fraction of the fullest are ignored
_POSITIVE = Interval(Real, 0, None, closed="neither", description="a positive number")
_CONSTRAINTS = {"body_suv": [_POSITIVE], "height_cm": [_POSITIVE], "weight_kg": [_POSITIVE]}


def body_surface_area(height_cm: float, weight_kg: float) -> float:
    """Body-surface area in m² by Mosteller's formula, ``sqrt(height_cm * weight_kg / 3600)``.

    Parameters
    ----------
    height_cm : float
        Height in cm (> 0).
    weight_kg : float
        Weight in kg (> 0).

    Returns
    -------
    float

    Examples
    --------
    >>> round(body_surface_area(180.0, 80.0), 3)
    2.0
    """
    check_params({"height_cm": height_cm, "weight_kg": weight_kg}, _CONSTRAINTS)
    return math.sqrt(float(height_cm) * float(weight_kg) / 3600.0)


def body_extent(suv, spacing: float | Sequence[float], *, body_suv: float = 0.3) -> float:
    """Diagonal (mm) of the bounding box of the body seen in the image.

    The body is the voxels with SUV >= ``body_suv`` (air and the background are near 0,
    soft tissue 0.5-1 g/ml). Along each axis, the slices holding at least 1 % of the
    body voxels of the fullest slice span the body (isolated noise specks do not count);
    the result is ``sqrt(ex**2 + ey**2 + ez**2)`` of those spans. It is the body size
    :func:`lesion_burden` divides Dmax by when height and weight are unknown; it measures
    the *imaged* body, so it depends on the field of view (head to thigh, or a thoracic
    crop).

    Parameters
    ----------
    suv : array_like of shape (I, J, K)
        SUV image (g/ml).
    spacing : float or sequence of 3 float
        Voxel size in mm.
    body_suv : float, default=0.3
        SUV threshold separating the body from air (the body threshold of petmtl's PET
        descriptors).

    Returns
    -------
    float
        0.0 when no voxel reaches ``body_suv``.
    """
    suv = _volume(suv)
    sp = _spacing(spacing)
    check_param("body_suv", body_suv, *_CONSTRAINTS["body_suv"])
    body = suv >= body_suv
    per_x = body.sum(axis=(1, 2))
    if per_x.max() == 0:
        return 0.0
    spans = []
    for axis, counts in enumerate((per_x, body.sum(axis=(0, 2)), body.sum(axis=(0, 1)))):
        kept = np.flatnonzero(counts >= _BODY_FRACTION * counts.max())
        spans.append((kept[-1] - kept[0] + 1) * sp[axis])
    return float(np.sqrt(np.sum(np.square(spans))))


def _label_map(lesions, shape, spacing, connectivity) -> np.ndarray:
    """Integer labels of ``lesions``: components of a binary mask, or a label map as given."""
    lesions = np.asarray(lesions)
    if lesions.shape != tuple(shape):
        raise ValueError(f"lesions must have the shape of suv {tuple(shape)}, got "
                         f"{lesions.shape}")
    if lesions.dtype == bool:
        return label_lesions(lesions, spacing, connectivity=connectivity)
    if not np.issubdtype(lesions.dtype, np.number):
        raise TypeError(f"lesions must be a binary mask or an integer label map, got dtype "
                        f"{lesions.dtype}")
    if np.issubdtype(lesions.dtype, np.floating) and not np.all(np.mod(lesions, 1) == 0):
        raise ValueError("lesions holds non-integer values (a probability map?); threshold "
                         "it first, e.g. proba >= 0.5")
    if lesions.min(initial=0) < 0:
        raise ValueError(f"lesions must be >= 0 (0 = background), got {lesions.min()}")
    if lesions.max(initial=0) <= 1:
        return label_lesions(lesions, spacing, connectivity=connectivity)
    return lesions


def _groups(labels, primary, order):
    """Voxel indices and lesion index per voxel; lesion 0 is the primary when there is one."""
    flat_labels = labels.ravel(order)
    inside = flat_labels != 0
    if primary is not None:
        inside |= primary.ravel(order)
    flat = np.flatnonzero(inside)
    lab = flat_labels[flat]
    has_primary = primary is not None and bool(primary.any())
    if has_primary:
        in_primary = primary.ravel(order)[flat]
        touching = np.unique(lab[in_primary & (lab != 0)])
        lab = np.where(in_primary | np.isin(lab, touching), 0, lab)
    _, group = np.unique(lab, return_inverse=True)
    return flat, group.ravel(), has_primary


def _per_lesion(suv, flat, group, sp, order):
    """Voxel count, SUV sum, SUVmax and centroid (mm) of every lesion."""
    n = int(group.max()) + 1
    values = suv.ravel(order)[flat].astype(np.float64)
    count = np.bincount(group, minlength=n)
    total = np.bincount(group, weights=values, minlength=n)
    by_lesion = np.argsort(group, kind="stable")
    starts = np.r_[0, np.cumsum(count)[:-1]]
    peak = np.maximum.reduceat(values[by_lesion], starts)
    coords = np.unravel_index(flat, suv.shape, order=order)
    centroid = np.column_stack([np.bincount(group, weights=c * s, minlength=n) / count
                                for c, s in zip(coords, sp, strict=True)])
    return count, total, peak, centroid


def lesion_burden(
    suv,
    lesions,
    spacing: float | Sequence[float],
    *,
    primary=None,
    connectivity: int = 26,
    body_suv: float = 0.3,
    height_cm: float | None = None,
    weight_kg: float | None = None,
) -> dict[str, float]:
    """Whole-body lesion-burden measures of one PET image.

    Parameters
    ----------
    suv : array_like of shape (I, J, K)
        SUV image (g/ml).
    lesions : array_like of the same shape
        The lesions: a binary mask (bool, or 0/1), whose connected components are the
        lesions, or an integer label map whose every positive value is one lesion
        (:func:`detect_lesions`, or a reader's or a network's labelled segmentation).
    spacing : float or sequence of 3 float
        Voxel size in mm along each array axis (anisotropic voxels are handled).
    primary : array_like of the same shape, optional
        Primary tumour mask. The primary and every lesion touching it form one lesion,
        "the primary"; the others are the non-primary lesions (nodes, metastases). An
        empty mask counts as no primary.
    connectivity : {6, 18, 26}, default=26
        Neighbourhood of the components of a binary ``lesions`` mask.
    body_suv : float, default=0.3
        Body threshold of :func:`body_extent`.
    height_cm, weight_kg : float, optional
        Patient height and weight, for ``SDmax``.

    Returns
    -------
    dict
        ``n_lesions`` (int, the primary counting as one), ``TMTV_ml`` (total volume),
        ``TTLG`` (total lesion glycolysis, the sum of SUVmean x volume over lesions, g),
        ``Dmax_mm`` (largest distance between two lesion centroids; 0 with fewer than
        two lesions), ``Dmax_body`` (Dmax / :func:`body_extent`, dimensionless),
        ``hottest_nonprimary_SUVmax`` and ``hottest_nonprimary_ml`` (SUVmax and volume of
        the non-primary lesion of highest SUVmax; 0 when there is none),
        ``nearest_nonprimary_mm`` (centroid distance from the primary to the nearest
        non-primary lesion; NaN without a primary or without a non-primary lesion, to be
        imputed downstream, e.g. by ``SimpleImputer(add_indicator=True)``), and ``SDmax``
        (Dmax in m / :func:`body_surface_area` in m², in 1/m; NaN unless height and
        weight are given). Without lesions the counts, volumes and Dmax are 0.

    Raises
    ------
    ValueError
        If a mask has another shape, ``lesions`` holds negative or non-integer values, or
        an argument is out of range.

    Notes
    -----
    A lesion's centroid is the mean position (mm) of its voxels. Without a primary every
    lesion is non-primary, so ``hottest_nonprimary_*`` describe the hottest lesion.

    Examples
    --------
    >>> import numpy as np
    >>> suv = np.zeros((20, 20, 20)); suv[1:3, 1:3, 1:3] = 5.0; suv[11:13, 1:3, 1:3] = 8.0
    >>> burden = lesion_burden(suv, suv > 0, spacing=2.0)
    >>> burden["n_lesions"], burden["TMTV_ml"], burden["Dmax_mm"]
    (2, 0.128, 20.0)
    """
    suv = _volume(suv)
    sp = _spacing(spacing)
    check_params({"body_suv": body_suv}, _CONSTRAINTS)
    labels = _label_map(lesions, suv.shape, sp, connectivity)
    primary = None if primary is None else _mask(primary, suv.shape, "primary")
    bsa = None
    if height_cm is not None or weight_kg is not None:
        if height_cm is None or weight_kg is None:
            raise ValueError("give both height_cm and weight_kg for SDmax, or neither")
        bsa = body_surface_area(height_cm, weight_kg)
    out = dict.fromkeys(BURDEN_FEATURES, 0.0)
    out.update(n_lesions=0, nearest_nonprimary_mm=float("nan"),
               SDmax=0.0 if bsa else float("nan"))
    # NIfTI data are often in Fortran order: flatten every array in the image's own order
    order = "F" if suv.flags.f_contiguous and not suv.flags.c_contiguous else "C"
    flat, group, has_primary = _groups(labels, primary, order)
    if flat.size == 0:
        return out
    voxel_ml = float(np.prod(sp)) / 1000.0
    count, total, peak, centroid = _per_lesion(suv, flat, group, sp, order)
    dmax = float(pdist(centroid).max()) if len(count) > 1 else 0.0
    extent = body_extent(suv, sp, body_suv=body_suv)
    out.update(n_lesions=len(count), TMTV_ml=float(count.sum()) * voxel_ml,
               TTLG=float(total.sum()) * voxel_ml, Dmax_mm=dmax,
               Dmax_body=dmax / extent if extent > 0 else float("nan"))
    if bsa:
        out["SDmax"] = dmax / 1000.0 / bsa
    others = np.arange(1 if has_primary else 0, len(count))
    if others.size:
        hottest = others[np.argmax(peak[others])]
        out.update(hottest_nonprimary_SUVmax=float(peak[hottest]),
                   hottest_nonprimary_ml=float(count[hottest]) * voxel_ml)
        if has_primary:
            out["nearest_nonprimary_mm"] = float(cdist(centroid[:1], centroid[others]).min())
    return out
