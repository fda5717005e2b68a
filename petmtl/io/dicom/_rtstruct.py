"""RTSTRUCT contours rasterised onto a reference grid."""

from __future__ import annotations

import warnings

import numpy as np

from ._geometry import LPS_TO_RAS
from ._raster import fill_even_odd, nearest_planes

_CLOSED = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")
# A contour may wander this far (voxels) off its plane along the slice axis.
_PLANE_TOLERANCE = 0.25


def roi_table(ds) -> dict[int, str]:
    """``{ROINumber: ROIName}`` of an RTSTRUCT dataset."""
    return {int(item.ROINumber): str(item.get("ROIName", "") or "")
            for item in ds.get("StructureSetROISequence") or ()}


def frame_of_reference(ds) -> str | None:
    """The FrameOfReferenceUID the structure set's contours are in (the first listed)."""
    for item in ds.get("ReferencedFrameOfReferenceSequence") or ():
        uid = item.get("FrameOfReferenceUID")
        if uid:
            return str(uid)
    for item in ds.get("StructureSetROISequence") or ():
        uid = item.get("ReferencedFrameOfReferenceUID")
        if uid:
            return str(uid)
    return None


def referenced_series(ds) -> list[str]:
    """SeriesInstanceUIDs the structure set says its contours were drawn on."""
    out = []
    for frame in ds.get("ReferencedFrameOfReferenceSequence") or ():
        for study in frame.get("RTReferencedStudySequence") or ():
            for series in study.get("RTReferencedSeriesSequence") or ():
                if series.get("SeriesInstanceUID"):
                    out.append(str(series.SeriesInstanceUID))
    return out


def contour_points(ds, roi_number: int, where: str) -> list[np.ndarray]:
    """Closed planar contours of one ROI, as (m, 3) LPS millimetre arrays."""
    out, skipped = [], set()
    for item in ds.get("ROIContourSequence") or ():
        if int(item.get("ReferencedROINumber", -1)) != roi_number:
            continue
        for contour in item.get("ContourSequence") or ():
            kind = str(contour.get("ContourGeometricType", "") or "").upper()
            data = contour.get("ContourData")
            if kind not in _CLOSED:
                skipped.add(kind or "no ContourGeometricType")
                continue
            if not data or len(data) % 3:
                raise ValueError(f"{where}: ROI {roi_number} has a contour whose ContourData "
                                 f"holds {len(data or ())} numbers, not x, y, z triplets")
            out.append(np.asarray(data, dtype=np.float64).reshape(-1, 3))
    if skipped:
        warnings.warn(f"{where}: ROI {roi_number}: ignored {sorted(skipped)} contours (only "
                      "closed planar contours enclose a region)", UserWarning, stacklevel=3)
    return out


def rasterise(contours: list[np.ndarray], shape: tuple, affine: np.ndarray,
              where: str) -> np.ndarray:
    """Fill closed planar contours on the grid of ``shape`` and ``affine`` (RAS+).

    Contours are grouped by plane and each plane is filled with the even-odd rule, so
    holes (inner contours) stay empty. The planes must be parallel to one axis of the
    grid; each slice of the grid takes the nearest plane within half the planes' spacing
    (contours drawn on a finer or shifted grid, e.g. a CT's, fall between PET slices),
    and no plane beyond half a spacing from the outermost ones.

    Parameters
    ----------
    contours : list of ndarray of shape (m, 3)
        DICOM patient (LPS) coordinates in mm.
    shape : tuple of 3 int
    affine : ndarray of shape (4, 4)
        Voxel-to-RAS transform of the grid.
    where : str

    Returns
    -------
    ndarray of bool, shape ``shape``
    """
    out = np.zeros(shape, dtype=bool)
    if not contours:
        return out
    to_voxel = np.linalg.inv(affine) @ LPS_TO_RAS
    voxels = [(to_voxel[:3, :3] @ c.T + to_voxel[:3, 3:4]).T for c in contours]
    spread = np.array([[np.ptp(v[:, a]) for a in range(3)] for v in voxels])
    axis = int(np.argmin(spread.max(axis=0)))
    if spread[:, axis].max() > _PLANE_TOLERANCE:
        raise ValueError(f"{where}: contours are not parallel to the slices of the reference "
                         f"grid (a contour spans {spread[:, axis].max():.2f} voxels across "
                         "them)")
    planes: dict[float, list[np.ndarray]] = {}
    in_plane = [a for a in range(3) if a != axis]
    for v in voxels:
        key = round(float(v[:, axis].mean()), 3)
        planes.setdefault(key, []).append(v[:, in_plane])
    levels = np.array(sorted(planes))
    half = 0.5 * (float(np.median(np.diff(levels))) if len(levels) > 1 else 1.0)
    fills: dict[float, np.ndarray] = {}
    for s, level in enumerate(nearest_planes(levels, shape[axis], half)):
        if level is None:
            continue
        if level not in fills:
            fills[level] = fill_even_odd(planes[level], (shape[in_plane[0]],
                                                         shape[in_plane[1]]))
        index = [slice(None)] * 3
        index[axis] = s
        out[tuple(index)] = fills[level]
    return out
