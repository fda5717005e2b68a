"""PET quantification helpers: SUV conversion, MTV ground truth, peritumoral region, SUV stats.

Units: activity concentration in Bq/ml, body weight in kg, injected dose in Bq, times in
seconds, SUV in g/ml, voxel spacing in mm, volumes in ml.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from numbers import Real

import numpy as np
from scipy import ndimage

from .._constraints import Interval, Spacing, check_param, check_params

F18_HALF_LIFE_S = 6586.2

__all__ = [
    "F18_HALF_LIFE_S",
    "mtv_mask",
    "peritumoral_region",
    "suv_body_weight",
    "suv_stats",
]


_POSITIVE = Interval(Real, 0, None, closed="neither", description="a positive finite number",
                     type_description="a positive number")
_CONSTRAINTS = {
    "weight_kg": [_POSITIVE], "injected_dose_bq": [_POSITIVE], "half_life_s": [_POSITIVE],
    "spacing": [Spacing(description="a positive number or 3 positive numbers (mm)")],
    "fraction": [Interval(Real, 0, 1, closed="right")],
    "margin_mm": [Interval(Real, 0, None, description=">= 0")],
}


def _spacing(spacing) -> np.ndarray:
    check_param("spacing", spacing, *_CONSTRAINTS["spacing"])
    return np.broadcast_to(np.asarray(spacing, dtype=np.float64), (3,)).copy()


def _decay_seconds(injection_time, scan_time, decay_seconds) -> float:
    if decay_seconds is not None:
        if injection_time is not None or scan_time is not None:
            raise ValueError(
                "Give either decay_seconds or injection_time and scan_time, not both"
            )
        t = float(decay_seconds)
    else:
        if injection_time is None or scan_time is None:
            raise ValueError(
                "Give decay_seconds, or both injection_time and scan_time (datetime or seconds)"
            )
        both_dt = isinstance(injection_time, _dt.datetime) and isinstance(scan_time, _dt.datetime)
        if both_dt:
            try:
                t = (scan_time - injection_time).total_seconds()
            except TypeError as exc:  # naive vs aware datetimes
                raise TypeError(f"injection_time and scan_time are incompatible: {exc}") from exc
        elif isinstance(injection_time, _dt.datetime) or isinstance(scan_time, _dt.datetime):
            raise TypeError(
                "injection_time and scan_time must both be datetimes or both be seconds, got "
                f"{type(injection_time).__name__} and {type(scan_time).__name__}"
            )
        else:
            t = float(scan_time) - float(injection_time)
    if not np.isfinite(t) or t < 0:
        raise ValueError(
            f"The decay time (scan - injection) must be >= 0 seconds, got {t} s; "
            "was the scan time before the injection?"
        )
    return t


def suv_body_weight(
    activity_bq_ml,
    *,
    weight_kg: float,
    injected_dose_bq: float,
    injection_time: _dt.datetime | float | None = None,
    scan_time: _dt.datetime | float | None = None,
    decay_seconds: float | None = None,
    half_life_s: float = F18_HALF_LIFE_S,
):
    """Convert PET activity concentration to body-weight SUV.

    ``SUVbw = activity * weight_g / (dose * 2 ** (-t / half_life))``, with the injected dose
    decay-corrected to the scan (acquisition) start ``t`` seconds after injection.

    Parameters
    ----------
    activity_bq_ml : float or array_like
        Activity concentration in Bq/ml.
    weight_kg : float
        Patient body weight in kg (> 0).
    injected_dose_bq : float
        Injected activity in Bq (> 0), at ``injection_time``.
    injection_time, scan_time : datetime.datetime or float, optional
        Injection and scan-start times, both datetimes or both seconds.
    decay_seconds : float, optional
        Time from injection to scan start in seconds (instead of the two times).
    half_life_s : float, default=6586.2
        Radionuclide half-life in seconds (F-18 by default).

    Returns
    -------
    float or ndarray
        SUV in g/ml; float arrays keep their dtype, other input becomes float64.

    Raises
    ------
    ValueError
        If weight, dose or half-life is not positive, or the decay time is negative or
        ambiguous.
    """
    check_params({"weight_kg": weight_kg, "injected_dose_bq": injected_dose_bq,
                  "half_life_s": half_life_s}, _CONSTRAINTS)
    weight_g, dose, half = float(weight_kg) * 1000.0, float(injected_dose_bq), float(half_life_s)
    t = _decay_seconds(injection_time, scan_time, decay_seconds)
    factor = weight_g / (dose * 2.0 ** (-t / half))
    activity = np.asarray(activity_bq_ml)
    if activity.ndim == 0:
        return float(activity) * factor
    if not np.issubdtype(activity.dtype, np.floating):
        activity = activity.astype(np.float64)
    return activity * activity.dtype.type(factor)


def mtv_mask(suv, region=None, *, fraction: float = 0.4) -> np.ndarray:
    """Metabolic tumour volume by relative thresholding (the paper's ground truth).

    Voxels inside ``region`` whose SUV is at least ``fraction`` times the SUVmax of the
    region.

    Parameters
    ----------
    suv : array_like of shape (I, J, K)
        SUV image (g/ml).
    region : array_like of bool, same shape, optional
        Where to search (e.g. a manual box or contour); default the whole image.
    fraction : float in (0, 1], default=0.4
        Threshold as a fraction of SUVmax (40 %).

    Returns
    -------
    ndarray of bool, same shape as ``suv``
    """
    suv = np.asarray(suv)
    check_param("fraction", fraction, *_CONSTRAINTS["fraction"])
    if region is None:
        region = np.ones(suv.shape, dtype=bool)
    else:
        region = np.asarray(region).astype(bool)
        if region.shape != suv.shape:
            raise ValueError(f"region shape {region.shape} differs from suv shape {suv.shape}")
    if not region.any():
        raise ValueError("region is empty: no voxel to threshold")
    suv_max = float(suv[region].max())
    if not np.isfinite(suv_max) or suv_max <= 0:
        raise ValueError(f"SUVmax inside the region must be positive and finite, got {suv_max}")
    return region & (suv >= fraction * suv_max)


def peritumoral_region(
    mask, spacing: float | Sequence[float], margin_mm: float = 30.0, *,
    exclude_tumor: bool = False,
) -> np.ndarray:
    """Grow a tumour mask by an isotropic margin in millimetres.

    A voxel is in the region if its centre is within ``margin_mm`` (Euclidean, in mm, so
    anisotropic voxels are handled) of the centre of a tumour voxel.

    Parameters
    ----------
    mask : array_like of shape (I, J, K)
        Tumour mask (non-zero = tumour).
    spacing : float or sequence of 3 float
        Voxel size in mm along each array axis.
    margin_mm : float, default=30.0
        Margin in mm (3 cm).
    exclude_tumor : bool, default=False
        Return only the shell around the tumour.

    Returns
    -------
    ndarray of bool, same shape as ``mask``
    """
    mask = np.asarray(mask).astype(bool)
    if mask.ndim != 3:
        raise ValueError(f"mask must be 3-D, got shape {mask.shape}")
    sp = _spacing(spacing)
    margin = float(check_param("margin_mm", margin_mm, *_CONSTRAINTS["margin_mm"]))
    if not mask.any():
        raise ValueError("mask is empty: cannot grow a peritumoral region")
    # work in the tumour's bounding box plus the margin only
    reach = np.ceil(margin / sp).astype(int) + 1
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - reach, 0)
    hi = np.minimum(idx.max(axis=0) + reach + 1, mask.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    dist = ndimage.distance_transform_edt(~mask[box], sampling=sp)
    out = np.zeros(mask.shape, dtype=bool)
    out[box] = dist <= margin + 1e-9
    if exclude_tumor:
        out &= ~mask
    return out


def suv_stats(suv, mask, spacing: float | Sequence[float]) -> dict[str, float]:
    """SUV statistics of a region.

    Parameters
    ----------
    suv : array_like of shape (I, J, K)
        SUV image (g/ml).
    mask : array_like of the same shape
        Region (non-zero = inside).
    spacing : float or sequence of 3 float
        Voxel size in mm.

    Returns
    -------
    dict
        ``SUVmax`` and ``SUVmean`` (g/ml; NaN for an empty mask), ``MTV_ml`` (region volume,
        ml), ``TLG`` (total lesion glycolysis = SUVmean x MTV, g) and ``n_voxels``.
        SUVpeak is not computed.
    """
    suv = np.asarray(suv)
    mask = np.asarray(mask).astype(bool)
    if mask.shape != suv.shape:
        raise ValueError(f"mask shape {mask.shape} differs from suv shape {suv.shape}")
    sp = _spacing(spacing)
    n = int(np.count_nonzero(mask))
    voxel_ml = float(np.prod(sp)) / 1000.0
    mtv = n * voxel_ml
    if n == 0:
        return {"SUVmax": float("nan"), "SUVmean": float("nan"), "MTV_ml": 0.0, "TLG": 0.0,
                "n_voxels": 0}
    values = suv[mask].astype(np.float64)
    mean = float(values.mean())
    return {"SUVmax": float(values.max()), "SUVmean": mean, "MTV_ml": mtv, "TLG": mean * mtv,
            "n_voxels": n}
