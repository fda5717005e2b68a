"""Whole-body lesion detection by the standard threshold rules of FDG-PET burden studies.

Every rule returns a label map (0 = background, 1..n = lesions) of the connected
components of a thresholded SUV image, with lesions smaller than a minimum volume
removed. The rules are those compared for total metabolic tumour volume (TMTV) by
Ilyas et al. (2018) and used in the lymphoma and solid-tumour literature:

* ``"suv2.5"``, ``"suv4.0"`` or a number: a fixed SUV threshold;
* ``"percist"``: SUV >= 1.5 x mean + 2 x SD of the liver reference (PERCIST 1.0, Wahl et
  al. 2009), measured in a 3-cm spherical VOI (:func:`liver_reference`);
* ``"reference"``: SUV >= mean + 2 x SD of any reference region (e.g. the blood pool);
* ``"suvmax41"``: 41 % of each lesion's SUVmax, each lesion seeded by a fixed threshold.

Units: SUV in g/ml, spacing and distances in mm, volumes in ml.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np
from scipy import ndimage

from .._constraints import Interval, NoneOr, Options, check_param, check_params
from .suv import _spacing

__all__ = ["RULES", "detect_lesions", "label_lesions", "lesion_threshold", "liver_reference"]

RULES = ("suv2.5", "suv4.0", "percist", "reference", "suvmax41")
"""Names of the threshold rules of :func:`detect_lesions`."""

_FIXED = {"suv2.5": 2.5, "suv4.0": 4.0}
_STRUCTURES = {6: 1, 18: 2, 26: 3}  # neighbours -> scipy's connectivity rank
_POSITIVE = Interval(Real, 0, None, closed="neither", description="a positive number")
_CONSTRAINTS = {
    "rule": [Options(*RULES), _POSITIVE],
    "connectivity": [Options(6, 18, 26)],
    "min_volume_ml": [Interval(Real, 0, None, description="a number >= 0")],
    "seed_suv": [_POSITIVE],
    "fraction": [Interval(Real, 0, 1, closed="neither", description="in (0, 1)")],
    "margin_mm": [Interval(Real, 0, None, description="a number >= 0")],
    "diameter_mm": [NoneOr(_POSITIVE)],
}


def _volume(suv) -> np.ndarray:
    suv = np.asarray(suv)
    if suv.ndim != 3:
        raise ValueError(f"suv must be a 3-D array (x, y, z), got shape {suv.shape}")
    if not np.issubdtype(suv.dtype, np.number) or np.issubdtype(suv.dtype, np.complexfloating):
        raise TypeError(f"suv must hold real numbers, got dtype {suv.dtype}")
    return suv


def _mask(mask, shape, name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of suv {tuple(shape)}, got {mask.shape}")
    return mask != 0


def _structure(connectivity: int) -> np.ndarray:
    """Neighbourhood of ``connectivity`` (6, 18 or 26 neighbours) for :func:`ndimage.label`."""
    check_param("connectivity", connectivity, *_CONSTRAINTS["connectivity"])
    return ndimage.generate_binary_structure(3, _STRUCTURES[connectivity])


def label_lesions(mask, spacing: float | Sequence[float], *, connectivity: int = 26,
                  min_volume_ml: float = 0.0) -> np.ndarray:
    """Connected components of a binary mask, without those under a minimum volume.

    Parameters
    ----------
    mask : array_like of shape (I, J, K)
        Binary lesion mask (non-zero = lesion), e.g. a network's segmentation.
    spacing : float or sequence of 3 float
        Voxel size in mm along each array axis.
    connectivity : {6, 18, 26}, default=26
        Voxels sharing a face (6), a face or an edge (18), or any corner (26) belong to
        the same lesion.
    min_volume_ml : float, default=0.0
        Components smaller than this volume (ml) are removed.

    Returns
    -------
    ndarray of int32, same shape
        0 = background, 1..n = lesions, numbered in scan order of their first voxel.
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must be a 3-D array, got shape {mask.shape}")
    sp = _spacing(spacing)
    check_param("min_volume_ml", min_volume_ml, *_CONSTRAINTS["min_volume_ml"])
    labels, n = ndimage.label(mask != 0, _structure(connectivity))
    labels = labels.astype(np.int32, copy=False)
    if n == 0 or min_volume_ml <= 0:
        return labels
    flat = np.flatnonzero(labels)
    voxels = np.bincount(labels.ravel()[flat], minlength=n + 1)
    keep = voxels * float(np.prod(sp)) / 1000.0 >= min_volume_ml
    keep[0] = False
    new = np.zeros(n + 1, np.int32)
    new[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return new[labels]


def liver_reference(suv, liver, spacing: float | Sequence[float], *,
                    diameter_mm: float | None = 30.0) -> tuple[float, float]:
    """Mean and standard deviation of the SUV in PERCIST's liver reference VOI.

    PERCIST measures the liver in a 3-cm-diameter spherical VOI in the normal right lobe.
    Given a whole-liver mask, the sphere is centred on the liver voxel farthest from the
    liver's boundary (the thickest part of the organ, in the right lobe in adults) and
    intersected with the mask, so it stays in the liver when the organ is thinner than
    the sphere.

    Parameters
    ----------
    suv : array_like of shape (I, J, K)
        SUV image (g/ml).
    liver : array_like of the same shape
        Liver mask (non-zero = liver), e.g. from an organ segmentation.
    spacing : float or sequence of 3 float
        Voxel size in mm.
    diameter_mm : float or None, default=30.0
        Diameter of the spherical VOI; None uses the whole mask.

    Returns
    -------
    mean, sd : float
        SUV mean and (population) standard deviation in the VOI.

    Raises
    ------
    ValueError
        If the liver mask is empty.
    """
    suv = _volume(suv)
    liver = _mask(liver, suv.shape, "liver")
    sp = _spacing(spacing)
    check_param("diameter_mm", diameter_mm, *_CONSTRAINTS["diameter_mm"])
    if not liver.any():
        raise ValueError("liver is an empty mask: no reference region to measure")
    if diameter_mm is None:
        values = suv[liver].astype(np.float64)
        return float(values.mean()), float(values.std())
    # the sphere intersected with the liver lies in the liver's bounding box
    idx = np.argwhere(liver)
    lo, hi = idx.min(0), idx.max(0) + 1
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    organ = liver[box]
    depth = ndimage.distance_transform_edt(np.pad(organ, 1), sampling=sp)[1:-1, 1:-1, 1:-1]
    centre = np.array(np.unravel_index(int(np.argmax(depth)), depth.shape)) * sp
    grids = np.ogrid[tuple(slice(0, n) for n in organ.shape)]
    d2 = sum((g * s - c) ** 2 for g, s, c in zip(grids, sp, centre, strict=True))
    values = suv[box][organ & (d2 <= (diameter_mm / 2.0) ** 2)].astype(np.float64)
    return float(values.mean()), float(values.std())


def _reference_statistics(suv, reference, spacing, rule) -> tuple[float, float]:
    if reference is None:
        raise ValueError(f"rule={rule!r} needs reference= (a mask of the reference region, "
                         "or its (mean, sd))")
    ref = np.asarray(reference)
    if ref.shape == (2,) and ref.dtype != bool:
        mean, sd = (float(v) for v in ref)
        if not (np.isfinite(mean) and np.isfinite(sd) and sd >= 0):
            raise ValueError(f"reference (mean, sd) must be finite with sd >= 0, got "
                             f"{tuple(ref.tolist())}")
        return mean, sd
    if ref.shape != suv.shape:
        raise ValueError(f"reference must be a mask of shape {suv.shape} or a pair "
                         f"(mean, sd), got an array of shape {ref.shape}")
    if rule == "percist":
        return liver_reference(suv, ref, spacing)
    values = suv[ref != 0].astype(np.float64)
    if values.size == 0:
        raise ValueError("reference is an empty mask: no reference region to measure")
    return float(values.mean()), float(values.std())


def lesion_threshold(suv, rule: str | float = "suv2.5", *, reference=None,
                     spacing: float | Sequence[float] = 1.0, seed_suv: float = 2.5) -> float:
    """The SUV threshold of a rule (the seed threshold for ``"suvmax41"``).

    Parameters
    ----------
    suv : array_like of shape (I, J, K)
        SUV image (g/ml).
    rule : {"suv2.5", "suv4.0", "percist", "reference", "suvmax41"} or float
        See :func:`detect_lesions`.
    reference : array_like, optional
        For ``"percist"``: a liver mask (measured in PERCIST's 3-cm VOI, see
        :func:`liver_reference`) or the (mean, sd) of such a VOI. For ``"reference"``: a
        mask of the reference region (measured whole) or its (mean, sd).
    spacing : float or sequence of 3 float, default=1.0
        Voxel size in mm (used to place PERCIST's liver VOI).
    seed_suv : float, default=2.5
        The seed threshold of ``"suvmax41"``.

    Returns
    -------
    float
        ``1.5 mean + 2 sd`` for ``"percist"``, ``mean + 2 sd`` for ``"reference"``,
        ``seed_suv`` for ``"suvmax41"``, the fixed value otherwise.
    """
    suv = _volume(suv)
    check_params({"rule": rule, "seed_suv": seed_suv}, _CONSTRAINTS)
    if not isinstance(rule, str):
        return float(rule)
    if rule in _FIXED:
        return _FIXED[rule]
    if rule == "suvmax41":
        return float(seed_suv)
    mean, sd = _reference_statistics(suv, reference, spacing, rule)
    return (1.5 if rule == "percist" else 1.0) * mean + 2.0 * sd


def _grow_relative(suv, seeds, n_seeds, region, sp, fraction, margin_mm, struct):
    """Union of the ``fraction`` x SUVmax regions grown from each seed within a margin."""
    out = np.zeros(suv.shape, bool)
    reach = np.ceil(margin_mm / sp).astype(int)
    for label, box in enumerate(ndimage.find_objects(seeds, n_seeds), start=1):
        if box is None:
            continue
        grown = tuple(slice(max(b.start - r, 0), min(b.stop + r, n))
                      for b, r, n in zip(box, reach, suv.shape, strict=True))
        local = suv[grown]
        own = seeds[grown] == label
        peak = np.unravel_index(int(np.argmax(np.where(own, local, -np.inf))), local.shape)
        candidate = (local >= fraction * local[peak]) & region[grown]
        components, _ = ndimage.label(candidate, struct)
        out[grown] |= components == components[peak]
    return out


def detect_lesions(
    suv,
    spacing: float | Sequence[float],
    *,
    rule: str | float = "suv2.5",
    reference=None,
    region=None,
    min_volume_ml: float = 0.5,
    connectivity: int = 26,
    seed_suv: float = 2.5,
    fraction: float = 0.41,
    margin_mm: float = 10.0,
) -> np.ndarray:
    """Label the lesions of a PET image by a standard threshold rule.

    Parameters
    ----------
    suv : array_like of shape (I, J, K)
        SUV image (g/ml).
    spacing : float or sequence of 3 float
        Voxel size in mm along each array axis (anisotropic voxels are handled).
    rule : {"suv2.5", "suv4.0", "percist", "reference", "suvmax41"} or float, \
default="suv2.5"
        ``"suv2.5"``/``"suv4.0"``/a number: voxels at or above that SUV.
        ``"percist"``: at or above ``1.5 x mean + 2 x SD`` of the liver (PERCIST 1.0),
        ``reference`` being a liver mask or the liver VOI's (mean, sd).
        ``"reference"``: at or above ``mean + 2 x SD`` of ``reference`` (a mask or
        (mean, sd)). ``"suvmax41"``: every component of SUV >= ``seed_suv`` of at least
        ``min_volume_ml`` seeds a lesion, grown as the voxels at or above ``fraction`` x
        its SUVmax connected to its maximum, within ``margin_mm`` of the seed's bounding
        box (the box a reader would draw around it).
    reference : array_like, optional
        Reference region for ``"percist"`` and ``"reference"`` (see
        :func:`lesion_threshold`).
    region : array_like of bool, same shape, optional
        Where lesions may lie; e.g. the body without the brain, heart and bladder, whose
        physiological uptake exceeds every threshold. Default: the whole image.
    min_volume_ml : float, default=0.5
        Lesions (and ``"suvmax41"`` seeds) smaller than this are removed; the default is
        about the volume of a 1-cm sphere, the smallest lesion a clinical scanner
        measures reliably (the lymphoma TMTV benchmark of Boellaard et al. 2024 uses
        3 ml for bulky disease).
    connectivity : {6, 18, 26}, default=26
        Neighbourhood joining voxels into one lesion (faces, edges, corners).
    seed_suv : float, default=2.5
        Seed threshold of ``"suvmax41"``.
    fraction : float in (0, 1), default=0.41
        Relative threshold of ``"suvmax41"``.
    margin_mm : float, default=10.0
        How far ``"suvmax41"`` may grow beyond a seed's bounding box.

    Returns
    -------
    ndarray of int32, same shape as ``suv``
        0 = background, 1..n = lesions.

    Raises
    ------
    ValueError
        If an argument is out of range, a mask has another shape, or the rule needs a
        reference that is missing or empty.

    See Also
    --------
    lesion_burden : Measures of the lesions found here.

    Examples
    --------
    >>> import numpy as np
    >>> suv = np.ones((20, 20, 20)); suv[2:6, 2:6, 2:6] = 6.0; suv[12:16, 12:16, 12:16] = 3.0
    >>> labels = detect_lesions(suv, 4.0, rule="suv4.0")
    >>> int(labels.max())
    1
    """
    suv = _volume(suv)
    sp = _spacing(spacing)
    check_params({"rule": rule, "connectivity": connectivity, "min_volume_ml": min_volume_ml,
                  "seed_suv": seed_suv, "fraction": fraction, "margin_mm": margin_mm},
                 _CONSTRAINTS)
    region = np.ones(suv.shape, bool) if region is None else _mask(region, suv.shape, "region")
    struct = _structure(connectivity)
    threshold = lesion_threshold(suv, rule, reference=reference, spacing=sp,
                                 seed_suv=seed_suv)
    candidate = (suv >= threshold) & region
    if rule == "suvmax41":
        seeds = label_lesions(candidate, sp, connectivity=connectivity,
                              min_volume_ml=min_volume_ml)
        candidate = _grow_relative(suv, seeds, int(seeds.max()), region, sp, float(fraction),
                                   float(margin_mm), struct)
    return label_lesions(candidate, sp, connectivity=connectivity, min_volume_ml=min_volume_ml)
