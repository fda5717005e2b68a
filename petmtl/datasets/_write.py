"""Saving a cohort of :func:`make_pet_cohort` as NIfTI files and a manifest."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..io import write_manifest, write_nifti

__all__ = ["write_cohort"]


def write_cohort(cohort: Mapping, folder: str | os.PathLike) -> Path:
    """Write a cohort as NIfTI files plus a ``manifest.csv``; return the manifest path.

    For each subject ``<id>_pet.nii.gz`` (float32 SUV) and, when its mask is available,
    ``<id>_mask.nii.gz`` (uint8) are written into ``folder`` (created if needed). The NIfTI
    voxel axes are the array axes (x, y, z), i.e. ``X[n]`` unchanged, with the affine
    ``diag(spacing, spacing, spacing, 1)`` translated so that the volume centre is at the
    origin: RAS+ millimetres, sform/qform code 1. Files are written under a temporary name
    and then renamed, so a reader never sees a partial file.

    Parameters
    ----------
    cohort : Mapping
        A result of :func:`make_pet_cohort` (needs ``X``, ``masks``, ``spacing``, ``y``,
        ``pathology``; ``mask_available``, ``patient_id`` and ``clinical`` are used when
        present).
    folder : str or path-like
        Output directory.

    Returns
    -------
    manifest : pathlib.Path
        Path of ``manifest.csv`` with columns ``patient_id,pet_path,mask_path,pathology,
        outcome`` (``time,event`` in place of ``outcome`` for a survival cohort): paths
        relative to the manifest's folder, empty cells for a missing mask, pathology or
        outcome (``y == -1``, or a NaN time). The covariates of a cohort drawn with
        ``clinical=True`` follow as extra columns (``age,sex,ecog,t_stage,marker``, empty
        cells where missing); read them back with
        ``petmtl.io.read_manifest(path, extra_columns=[...])`` or
        :func:`petmtl.clinical.covariates_from_manifest`.

    Raises
    ------
    KeyError
        If ``cohort`` lacks a required key.
    ValueError
        If the arrays have inconsistent lengths or ``X`` is not 4-D.

    Examples
    --------
    >>> import tempfile
    >>> from petmtl.datasets import make_pet_cohort, write_cohort
    >>> cohort = make_pet_cohort(2, shape=(16, 16, 16), random_state=0)
    >>> write_cohort(cohort, tempfile.mkdtemp()).name
    'manifest.csv'
    """
    for key in ("X", "masks", "spacing", "y", "pathology"):
        if key not in cohort:
            raise KeyError(f"cohort must have a {key!r} entry (as made by make_pet_cohort).")
    X = np.asarray(cohort["X"])
    n = len(X)
    if X.ndim != 4:
        raise ValueError(f"cohort['X'] must have shape (n, nx, ny, nz); got {X.shape}.")
    avail = np.asarray(cohort.get("mask_available", np.ones(n, bool)), bool)
    ids = cohort.get("patient_id")
    if ids is None:
        ids = [f"sub-{i + 1:0{max(3, len(str(n)))}d}" for i in range(n)]
    y, pathology = np.asarray(cohort["y"]), np.asarray(cohort["pathology"], object)
    if not len(cohort["masks"]) == len(avail) == len(ids) == len(y) == len(pathology) == n:
        raise ValueError("cohort arrays X, masks, mask_available, patient_id, y and pathology "
                         "must all have the same length.")
    spacing = np.broadcast_to(np.asarray(cohort["spacing"], float), (3,))  # (x, y, z)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -(np.array(X.shape[1:]) - 1) / 2.0 * spacing
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pets, masks = [], []
    for i in range(n):
        pets.append(write_nifti(np.asarray(X[i], np.float32), affine,
                                folder / f"{ids[i]}_pet.nii.gz"))
        masks.append(write_nifti(np.asarray(cohort["masks"][i], np.uint8), affine,
                                 folder / f"{ids[i]}_mask.nii.gz") if avail[i] else None)
    manifest = folder / "manifest.csv"
    if y.dtype.names is not None:  # a survival cohort: time and event columns
        labels = {"time": y["time"].tolist(),
                  "event": [None if np.isnan(t) else bool(e) for e, t in zip(
                      y["event"], y["time"], strict=True)]}
    else:
        labels = {"outcome": [int(v) for v in y]}
    clinical = cohort.get("clinical")
    extra = None
    if clinical is not None:
        if len(clinical) != n:
            raise ValueError(f"cohort['clinical'] must have one row per subject ({n}), got "
                             f"{len(clinical)}.")
        extra = {str(c): list(clinical[c]) for c in clinical.columns}
    write_manifest(manifest, [str(i) for i in ids], pets, masks,
                   [None if p is None else str(p) for p in pathology], **labels, extra=extra)
    return manifest
