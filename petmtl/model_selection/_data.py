"""The patients of a cross-validation run: volumes, outcomes and labels, checked once."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..survival import check_survival_y, make_survival_y
from ._clinical import check_clinical, digest_table
from ._files import digest_labels, digest_volumes


def _is_unknown(value) -> bool:
    """None, NaN, "" and -1 mark an unknown label (petmtl's convention)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)):
        return math.isnan(value) or value == -1
    return False


def _object_array(values) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _is_path(value) -> bool:
    return isinstance(value, (str, os.PathLike))


def _check_length(name: str, values, n: int):
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a sequence with one entry per patient ({n}), got "
                        f"{type(values).__name__}")
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but X has {n} patients; they "
                         "must match")
    return values


def _check_volumes(X) -> np.ndarray:
    if X is None:
        raise TypeError("X must be PET volumes (n, x, y, z) or a sequence of NIfTI paths, "
                        "got None")
    if not isinstance(X, np.ndarray) and len(X) and all(_is_path(v) for v in X):
        return _object_array([os.path.abspath(os.fspath(v)) for v in X])
    if isinstance(X, np.ndarray) and X.dtype == object and all(_is_path(v) for v in X):
        return _object_array([os.path.abspath(os.fspath(v)) for v in X])
    array = np.asarray(X)
    if array.ndim == 5 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 4 or array.dtype.kind not in "fiub":
        raise ValueError(f"X must be PET volumes of shape (n, x, y, z) or a sequence of "
                         f"NIfTI paths; got an array of shape {array.shape} and dtype "
                         f"{array.dtype}")
    return array


def _check_masks(masks, X: np.ndarray):
    if masks is None:
        return None
    paths = X.dtype == object
    if isinstance(masks, np.ndarray) and masks.dtype != object:
        if paths:
            raise TypeError("masks are arrays but X holds NIfTI paths; pass the mask paths")
        if masks.shape != X.shape:
            raise ValueError(f"masks must have the shape of X {X.shape}, got {masks.shape}")
        return masks
    masks = _check_length("masks", masks, len(X))
    out = _object_array([None if m is None or (isinstance(m, str) and m == "") else m
                         for m in masks])
    for i, m in enumerate(out):
        if m is not None and paths != _is_path(m):
            kind = "NIfTI paths" if paths else "arrays"
            raise TypeError(f"masks[{i}] is a {type(m).__name__} but X holds {kind}; masks "
                            "must be of the same kind as X (or None)")
        if paths and m is not None:
            out[i] = os.path.abspath(os.fspath(m))
    return out


@dataclass(eq=False)
class Cohort:
    """The checked patients of a cross-validation run.

    Attributes
    ----------
    X : ndarray
        Volumes ``(n, x, y, z)``, or an object array of absolute NIfTI paths.
    y : ndarray
        Binary labels (unknown: -1) or a structured survival array (unknown: NaN time).
    masks : ndarray or None
        Mask arrays, or an object array of arrays or paths with None where unknown.
    pathology, groups, centre : ndarray of object or None
    ids : ndarray of object (str)
    survival : bool
    spacing : tuple of 3 float
        Voxel size (mm) of volumes given as arrays (for MTV, HD95 and radiomics).
    clinical : pandas.DataFrame or None
        Covariates, one row per patient (index 0..n-1), or None.
    """

    X: np.ndarray
    y: np.ndarray
    masks: np.ndarray | None
    pathology: np.ndarray | None
    groups: np.ndarray | None
    centre: np.ndarray | None
    ids: np.ndarray
    survival: bool
    spacing: tuple
    clinical: object = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def paths(self) -> bool:
        """Whether the volumes are NIfTI paths."""
        return self.X.dtype == object

    @property
    def known(self) -> np.ndarray:
        """Patients whose outcome is known."""
        if self.survival:
            return np.isfinite(self.y["time"])
        return np.array([not _is_unknown(v) for v in self.y.tolist()])

    @property
    def classes(self) -> list:
        """The two outcome labels, sorted (binary outcomes only)."""
        return sorted({v for v, k in zip(self.y.tolist(), self.known, strict=True) if k})

    def strata(self) -> np.ndarray:
        """Outcome class (binary) or event indicator (survival) per patient; -1 unknown."""
        known = self.known
        if self.survival:
            codes = self.y["event"].astype(np.int64)
        else:
            lookup = {c: k for k, c in enumerate(self.classes)}
            codes = np.array([lookup.get(v, -1) if k else -1
                              for v, k in zip(self.y.tolist(), known, strict=True)])
        return np.where(known, codes, -1)

    def fingerprint(self) -> dict:
        """Digests of every input, to recognise the same data in a rerun (the covariates
        only when given, so that runs without them keep their keys)."""
        out = {"X": digest_volumes(self.X), "y": digest_labels(self.y),
               "masks": digest_volumes(self.masks),
               "pathology": digest_labels(self.pathology), "groups": digest_labels(self.groups),
               "centre": digest_labels(self.centre), "ids": digest_labels(self.ids)}
        if self.clinical is not None:
            out["clinical"] = digest_table(self.clinical)
        return out


def _check_binary(y, n: int) -> np.ndarray:
    y = _check_length("y", y, n)
    if y is None:
        raise ValueError("y is None; the outcome of every patient is needed (-1 for unknown)")
    values = y.tolist() if isinstance(y, np.ndarray) else list(y)
    classes = {v for v in values if not _is_unknown(v)}
    if len(classes) != 2:
        raise ValueError(f"y must hold exactly two known outcome labels (-1/None for unknown); "
                         f"got {len(classes)}: {sorted(map(str, classes))[:5]}")
    array = np.asarray(y)
    return array if array.dtype != object else _object_array(values)


def check_cohort(X, y, *, survival: bool, masks=None, pathology=None, groups=None,
                 centre=None, patient_ids=None, spacing=2.0, clinical=None,
                 image_column: str = "image") -> Cohort:
    """Check the inputs of :func:`cross_validate_cohort` and gather them.

    Returns
    -------
    Cohort
    """
    X = _check_volumes(X)
    n = len(X)
    if survival:
        event, time, labelled = check_survival_y(y, n, name="y")
        y = make_survival_y(event=np.where(labelled, event, None).tolist(),
                            time=np.where(labelled, time, np.nan))
    else:
        y = _check_binary(y, n)
    ids = patient_ids if patient_ids is not None else [f"patient-{i:04d}" for i in range(n)]
    ids = _object_array([str(v) for v in _check_length("patient_ids", ids, n)])
    if len(set(ids)) != n:
        raise ValueError("patient_ids must be unique")
    extra = {}
    for name, values in (("pathology", pathology), ("groups", groups), ("centre", centre)):
        values = _check_length(name, values, n)
        extra[name] = None if values is None else _object_array(
            [None if _is_unknown(v) else v for v in values])
    spacing = tuple(float(s) for s in np.broadcast_to(np.asarray(spacing, float), (3,)))
    clinical = check_clinical(clinical, n, image_column=image_column, patient_ids=patient_ids)
    return Cohort(X=X, y=y, masks=_check_masks(masks, X), ids=ids, survival=survival,
                  spacing=spacing, clinical=clinical, **extra)
