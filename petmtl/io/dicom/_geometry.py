"""Slice order and voxel-to-world transform of a single-frame image series.

DICOM patient coordinates are LPS (x to the patient's left, y posterior, z head); NIfTI's
world is RAS, so the affine returned here flips the signs of x and y. Voxel axes are
(column, row, slice): ``data[i, j, k]`` is column ``i`` of row ``j`` of the ``k``-th slice
along the slice normal, which is how nibabel and dcm2niix-style converters lay out DICOM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._raw import element_value

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_ORIENTATION_ATOL = 1e-4


@dataclass(eq=False)
class SliceGeometry:
    """Where the slices of a series lie.

    Parameters
    ----------
    order : ndarray of int
        Indices of the input slices sorted along the slice normal.
    shape : tuple of 3 int
        ``(columns, rows, slices)``.
    affine : ndarray of shape (4, 4)
        RAS+ voxel-to-world transform of the regular grid (first slice, median spacing).
    positions : ndarray of float
        Sorted slice positions along the normal (mm).
    offsets : ndarray of shape (n, 2)
        In-plane shift (columns, rows) of each sorted slice from the line along the normal
        through the first slice; non-zero for a tilted gantry.
    spacing : float
        Slice spacing of the regular grid (mm).
    uneven : str or None
        Why the spacing is irregular, or None.
    tilted : str or None
        Why the slices are sheared, or None.
    """

    order: np.ndarray
    shape: tuple
    affine: np.ndarray
    positions: np.ndarray
    offsets: np.ndarray
    spacing: float
    uneven: str | None = None
    tilted: str | None = None


def _floats(ds, keyword: str, n: int, where: str) -> np.ndarray:
    value = element_value(ds, keyword)
    if isinstance(value, str):
        value = [value]
    if value is None or len(value) != n:
        raise ValueError(f"{where}: {keyword} is missing or malformed in a slice (SOP "
                         f"instance {ds.get('SOPInstanceUID', '?')}); it is needed to place "
                         "the slices")
    try:
        return np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {keyword} = {value!r} is not numeric") from None


def _same(datasets, keyword, values, where) -> None:
    first = values[0]
    for ds, v in zip(datasets, values, strict=True):
        if v.shape != first.shape or not np.allclose(v, first, atol=_ORIENTATION_ATOL, rtol=0):
            raise ValueError(f"{where}: {keyword} differs between slices ({first.tolist()} vs "
                             f"{v.tolist()} in SOP instance {ds.get('SOPInstanceUID', '?')})")


def _single_slice_spacing(ds, where) -> float:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = ds.get(keyword)
        if value not in (None, "") and float(value) > 0:
            return float(value)
    raise ValueError(f"{where}: a single slice without SpacingBetweenSlices or SliceThickness "
                     "has no slice spacing")


def slice_geometry(datasets: Sequence, where: str) -> SliceGeometry:
    """Sort the slices along their normal and build the RAS+ affine.

    Parameters
    ----------
    datasets : sequence of pydicom.Dataset
        One image per dataset, all of one series.
    where : str
        The series, named in errors.

    Returns
    -------
    SliceGeometry

    Raises
    ------
    ValueError
        If slices differ in orientation, size or pixel spacing, or two lie at one position.
    """
    n = len(datasets)
    orient = [_floats(ds, "ImageOrientationPatient", 6, where) for ds in datasets]
    spacing2 = [_floats(ds, "PixelSpacing", 2, where) for ds in datasets]
    sizes = [np.array([int(element_value(ds, "Columns") or 0),
                       int(element_value(ds, "Rows") or 0)]) for ds in datasets]
    _same(datasets, "ImageOrientationPatient", orient, where)
    _same(datasets, "PixelSpacing", spacing2, where)
    _same(datasets, "Rows/Columns", sizes, where)
    if sizes[0].min() <= 0:
        raise ValueError(f"{where}: Rows/Columns are missing or zero")
    row_dir, col_dir = orient[0][:3], orient[0][3:]
    if abs(np.linalg.norm(row_dir) - 1) > 1e-3 or abs(np.linalg.norm(col_dir) - 1) > 1e-3 \
            or abs(row_dir @ col_dir) > 1e-3:
        raise ValueError(f"{where}: ImageOrientationPatient {orient[0].tolist()} is not two "
                         "orthogonal unit vectors")
    normal = np.cross(row_dir, col_dir)
    ipp = np.stack([_floats(ds, "ImagePositionPatient", 3, where) for ds in datasets])
    along = ipp @ normal
    order = np.argsort(along, kind="stable")
    along, ipp = along[order], ipp[order]
    gaps = np.diff(along)
    if gaps.size and gaps.min() < 1e-3:
        k = int(np.argmin(gaps))
        extra = datasets[order[k]].get("NumberOfTimeSlices")
        hint = f" (NumberOfTimeSlices {extra}: a dynamic series)" if extra else ""
        raise ValueError(f"{where}: two slices lie at the same position {along[k]:.3f} mm "
                         f"along the normal{hint}; petmtl reads one static 3-D volume")
    spacing = float(np.median(gaps)) if gaps.size else _single_slice_spacing(datasets[0], where)
    ps_row, ps_col = spacing2[0]  # between rows (along col_dir), between columns (row_dir)
    offsets, tilted = _tilt(ipp, along, orient[0], ps_row, ps_col)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * ps_col
    lps[:3, 1] = col_dir * ps_row
    lps[:3, 2] = normal * spacing
    lps[:3, 3] = ipp[0]
    return SliceGeometry(order=order, shape=(int(sizes[0][0]), int(sizes[0][1]), n),
                         affine=LPS_TO_RAS @ lps, positions=along, offsets=offsets,
                         spacing=spacing, uneven=_uneven(gaps, along, spacing), tilted=tilted)


def _uneven(gaps: np.ndarray, along: np.ndarray, spacing: float) -> str | None:
    """Why the slice spacing is irregular, or None."""
    if not gaps.size or np.max(np.abs(gaps - spacing)) <= max(0.01, 1e-3 * spacing):
        return None
    k = int(np.argmax(np.abs(gaps - spacing)))
    return (f"slice spacing is uneven: gaps from {gaps.min():.4g} to {gaps.max():.4g} mm "
            f"(median {spacing:.4g} mm), e.g. {gaps[k]:.4g} mm between positions "
            f"{along[k]:.3f} and {along[k + 1]:.3f} mm (ImagePositionPatient)")


def _tilt(ipp, along, orientation, ps_row, ps_col) -> tuple[np.ndarray, str | None]:
    """In-plane offsets (columns, rows) of each sorted slice from the normal through the
    first, and why the stack is sheared (or None)."""
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    step = ipp - ipp[0]
    drift = step - np.outer(step @ normal, normal)
    offsets = np.stack([drift @ row_dir / ps_col, drift @ col_dir / ps_row], axis=1)
    if len(ipp) < 2 or np.abs(drift).max() <= max(1e-3, 0.01 * min(ps_row, ps_col)):
        return offsets, None
    angle = np.degrees(np.arctan2(np.linalg.norm(drift[-1]), along[-1] - along[0]))
    return offsets, (f"slices are sheared (gantry tilt of about {angle:.2f} degrees): "
                     f"ImagePositionPatient moves {np.linalg.norm(drift[-1]):.3g} mm within "
                     "the image plane over the series")


def regularise(data: np.ndarray, geometry: SliceGeometry) -> tuple[np.ndarray, list[str]]:
    """Resample a sheared or unevenly spaced stack onto the regular grid of its affine.

    Each slice is first shifted in plane by its tilt offset (linear interpolation); then
    the slices are interpolated linearly along the normal at the regular positions
    ``positions[0] + m * spacing``.

    Parameters
    ----------
    data : ndarray of shape (columns, rows, slices)
    geometry : SliceGeometry

    Returns
    -------
    data : ndarray of float32
    notes : list of str
        What was resampled.
    """
    from scipy import ndimage

    notes = []
    data = np.asarray(data, dtype=np.float32)
    if geometry.tilted:
        out = np.empty_like(data)
        for k in range(data.shape[2]):
            out[:, :, k] = ndimage.shift(data[:, :, k], geometry.offsets[k], order=1,
                                         mode="constant", cval=0.0)
        data = out
        notes.append(f"{geometry.tilted}; slices shifted onto an orthogonal grid")
    if geometry.uneven:
        pos = geometry.positions
        n_out = int(round((pos[-1] - pos[0]) / geometry.spacing)) + 1
        target = pos[0] + geometry.spacing * np.arange(n_out)
        upper = np.clip(np.searchsorted(pos, target, side="right"), 1, len(pos) - 1)
        lower = upper - 1
        weight = ((target - pos[lower]) / (pos[upper] - pos[lower])).astype(np.float32)
        weight = np.clip(weight, 0, 1)
        data = data[:, :, lower] * (1 - weight) + data[:, :, upper] * weight
        notes.append(f"{geometry.uneven}; interpolated linearly onto {n_out} slices "
                     f"{geometry.spacing:.4g} mm apart")
    return np.asarray(data, dtype=np.float32), notes
