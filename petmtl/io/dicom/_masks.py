"""RTSTRUCT and DICOM SEG masks on a reference PET grid."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence

import nibabel as nib
import numpy as np

from . import _rtstruct, _seg_read
from ._files import (
    RTSTRUCT_STORAGE,
    SEG_STORAGE,
    is_dicom_file,
    read_dataset,
    read_series,
    select_series,
)
from ._geometry import slice_geometry
from ._provenance import read_suv_provenance

_LABEL_MARKER = b"petmtl-mask-labels "


def _reference_grid(reference, preferred: Sequence[str], where: str):
    """``(shape, affine, FrameOfReferenceUID or None)`` of the reference image."""
    if hasattr(reference, "affine") and hasattr(reference, "shape"):
        for_uid = None
        if isinstance(reference, nib.Nifti1Image):
            try:
                for_uid = read_suv_provenance(reference).get("frame_of_reference_uid") or None
            except ValueError:
                pass
        return tuple(int(s) for s in reference.shape[:3]), np.asarray(
            reference.affine, dtype=np.float64), for_uid
    if not isinstance(reference, (str, os.PathLike)):
        raise TypeError("reference must be a Nifti1Image (e.g. from read_pet_dicom), a NIfTI "
                        f"file or a DICOM series folder, got {type(reference).__name__}")
    reference = os.fspath(reference)
    if os.path.isdir(reference):
        series = select_series(read_series(reference), series_uid=None, where=reference,
                               pet=False, preferred=preferred)
        geometry = slice_geometry(series.datasets, reference)
        if geometry.tilted or geometry.uneven:
            raise ValueError(f"{reference}: {geometry.tilted or geometry.uneven}; pass "
                             "read_pet_dicom(..., irregular='resample') as reference")
        for_uid = str(series.datasets[0].get("FrameOfReferenceUID", "") or "") or None
        return geometry.shape, geometry.affine, for_uid
    if not os.path.isfile(reference):
        raise FileNotFoundError(f"reference not found: {reference}")
    img = nib.load(reference)
    return tuple(int(s) for s in img.shape[:3]), np.asarray(img.affine, dtype=np.float64), None


def _select(table: dict[int, str], roi, where: str) -> list[int]:
    """ROI/segment numbers chosen by ``roi`` (number, name or a sequence of them)."""
    listing = ", ".join(f"{k}: {v!r}" for k, v in table.items()) or "none"
    if roi is None:
        return list(table)
    wanted = [roi] if isinstance(roi, (str, int, np.integer)) else list(roi)
    chosen = []
    for item in wanted:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if int(item) not in table:
                raise ValueError(f"{where}: no ROI/segment number {item}; available: {listing}")
            chosen.append(int(item))
            continue
        if not isinstance(item, str):
            raise TypeError(f"roi must be a number, a name or a sequence of them, got {item!r}")
        exact = [k for k, v in table.items() if v == item]
        loose = [k for k, v in table.items() if v.strip().lower() == item.strip().lower()]
        found = exact or loose
        if len(found) != 1:
            problem = "several ROIs/segments are" if found else "no ROI/segment is"
            raise ValueError(f"{where}: {problem} named {item!r}; available: {listing}")
        chosen.append(found[0])
    return list(dict.fromkeys(chosen))


def _assemble(masks: dict[int, np.ndarray], table, union: bool,
              where) -> tuple[np.ndarray, dict]:
    if union or len(masks) == 1:
        merged = np.zeros(next(iter(masks.values())).shape, dtype=bool)
        for m in masks.values():
            merged |= m
        return merged.astype(np.uint8), {"1": "+".join(table[k] for k in masks)}
    numbers = sorted(masks)
    dtype = np.uint8 if max(numbers, default=0) < 256 else np.uint16
    out = np.zeros(next(iter(masks.values())).shape, dtype=dtype)
    for k in numbers:
        clash = out[masks[k]]
        if clash.any():
            other = int(clash[clash > 0][0])
            raise ValueError(f"{where}: ROIs/segments {other} ({table[other]!r}) and {k} "
                             f"({table[k]!r}) overlap, so one label map cannot hold them; "
                             "choose with roi=")
        out[masks[k]] = k
    return out, {str(k): table[k] for k in numbers}


def read_dicom_mask(path: str | os.PathLike, reference, *, roi=None,
                    threshold: float = 0.5) -> nib.Nifti1Image:
    """Read an RTSTRUCT or DICOM SEG as a mask on a reference PET grid.

    RTSTRUCT contours are filled slice by slice with the even-odd rule (a contour inside
    another is a hole), voxels counting when their centre is inside; contours drawn on
    planes between the reference's slices (e.g. on the CT) give each slice the nearest
    plane within half the planes' spacing. DICOM SEG frames (binary or fractional, any
    frame size: bit-packed frames need not fill whole bytes) are sampled at the voxel
    centres of each slice's nearest frame plane. Patient (LPS) coordinates are mapped
    through the reference's RAS+ affine.

    Parameters
    ----------
    path : str or path-like
        The RTSTRUCT or SEG file.
    reference : nibabel.Nifti1Image or str or path-like
        The PET grid: the image from :func:`read_pet_dicom`, a NIfTI file or a DICOM
        series folder (only its geometry is read).
    roi : int, str or sequence, optional
        ROI (RTSTRUCT ROINumber or ROIName) or segment (SegmentNumber or SegmentLabel) to
        read; a sequence reads their union. Default: all of them.
    threshold : float, default=0.5
        A fractional SEG's voxels count from this fraction on.

    Returns
    -------
    nibabel.Nifti1Image
        On the reference's grid (shape and affine). With one ROI/segment, or ``roi``
        given: uint8 0/1. With several and no ``roi``: a label map whose values are the
        ROI/segment numbers (overlapping ones are refused); the names are in
        ``header['descrip']`` and a header extension.

    Raises
    ------
    ImportError
        If pydicom is not installed.
    ValueError
        If the file is not an RTSTRUCT or SEG, ``roi`` names nothing in it, the mask's
        FrameOfReferenceUID differs from the reference's, or the planes are oblique to
        the reference's slices.
    """
    return read_mask_union(path, reference, roi=roi, threshold=threshold, union=False)


def read_mask_union(path, reference, *, roi=None, threshold: float = 0.5,
                    union: bool = True) -> nib.Nifti1Image:
    """:func:`read_dicom_mask`, with ``union=True`` the union of the ROIs as 0/1.

    Parameters
    ----------
    path, reference, roi, threshold
        As for :func:`read_dicom_mask`.
    union : bool, default=True
        Return the union of the chosen ROIs (all by default) as 0/1 instead of a label map.

    Returns
    -------
    nibabel.Nifti1Image
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"mask file not found: {path}")
    if not is_dicom_file(path):
        raise ValueError(f"{path} is not a DICOM file (no DICM preamble)")
    ds = read_dataset(path, defer=False)
    sop = str(ds.get("SOPClassUID", "") or "")
    if sop == RTSTRUCT_STORAGE or ds.get("Modality") == "RTSTRUCT":
        table, refs = _rtstruct.roi_table(ds), _rtstruct.referenced_series(ds)
        mask_for = _rtstruct.frame_of_reference(ds)
    elif sop == SEG_STORAGE or ds.get("Modality") == "SEG":
        table, refs = _seg_read.segment_table(ds), _seg_read.referenced_series(ds)
        mask_for = str(ds.get("FrameOfReferenceUID", "") or "") or None
    else:
        raise ValueError(f"{path} is neither an RTSTRUCT nor a SEG (Modality "
                         f"{ds.get('Modality')!r}, SOPClassUID {sop!r})")
    if not table:
        raise ValueError(f"{path} defines no ROI/segment")
    shape, affine, ref_for = _reference_grid(reference, refs, path)
    if mask_for and ref_for and mask_for != ref_for:
        raise ValueError(f"{path} is in FrameOfReferenceUID {mask_for}, the reference in "
                         f"{ref_for}: the mask was not drawn on this PET's coordinates")
    chosen = _select(table, roi, path)
    masks = {}
    if "ROIContourSequence" in ds or sop == RTSTRUCT_STORAGE:
        for k in chosen:
            masks[k] = _rtstruct.rasterise(_rtstruct.contour_points(ds, k, path), shape,
                                           affine, path)
    else:
        frames = _seg_read.seg_frames(ds, path)
        for k in chosen:
            masks[k] = _seg_read.sample_segment(frames, k, shape, affine, path) >= threshold
    for k, m in masks.items():
        if not m.any():
            warnings.warn(f"{path}: ROI/segment {k} ({table[k]!r}) covers no voxel of the "
                          "reference grid", UserWarning, stacklevel=3)
    data, labels = _assemble(masks, table, union or roi is not None, path)
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    text = json.dumps({"source": path, "labels": labels}).encode("utf-8")
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, _LABEL_MARKER + text))
    names = "; ".join(f"{k}={v}" for k, v in labels.items())
    img.header["descrip"] = names.encode("ascii", "replace")[:79]
    return img
