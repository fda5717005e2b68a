"""DICOM SEG (binary and fractional) sampled onto a reference grid."""

from __future__ import annotations

import numpy as np

from ._geometry import LPS_TO_RAS
from ._raster import nearest_planes

_PLANE_TOLERANCE = 0.25  # voxels


def segment_table(ds) -> dict[int, str]:
    """``{SegmentNumber: SegmentLabel}`` of a SEG dataset."""
    return {int(item.SegmentNumber): str(item.get("SegmentLabel", "") or "")
            for item in ds.get("SegmentSequence") or ()}


def referenced_series(ds) -> list[str]:
    """SeriesInstanceUIDs of the images the segmentation was derived from."""
    out = [str(item.SeriesInstanceUID) for item in ds.get("ReferencedSeriesSequence") or ()
           if item.get("SeriesInstanceUID")]
    return out


def _group(ds, frame: int, sequence: str):
    """A functional group item of one frame: per-frame first, else shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and frame < len(per_frame):
        item = per_frame[frame].get(sequence)
        if item:
            return item[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        item = shared[0].get(sequence)
        if item:
            return item[0]
    return None


def _frame_value(ds, frame, sequence, keyword, where):
    item = _group(ds, frame, sequence)
    value = None if item is None else item.get(keyword)
    if value is None:
        raise ValueError(f"{where}: {keyword} in {sequence} is missing for frame {frame + 1}")
    return value


def seg_frames(ds, where: str) -> dict:
    """Decoded frames of a SEG and where each lies.

    Returns
    -------
    dict
        ``pixels`` (n, rows, cols) float32 in [0, 1], ``segment`` (n,) segment numbers,
        ``position`` (n, 3) LPS mm, ``orientation`` (6,), ``spacing`` (row, column) mm,
        ``slab`` (spacing of the planes along the normal in mm, or None).
    """
    kind = str(ds.get("SegmentationType", "") or "").upper()
    if kind not in ("BINARY", "FRACTIONAL"):
        raise ValueError(f"{where}: SegmentationType {kind!r} is not BINARY or FRACTIONAL")
    try:
        pixels = np.asarray(ds.pixel_array)
    except Exception as exc:  # decoders raise many types
        raise ValueError(f"{where}: cannot decode the SEG pixel data: {exc}") from exc
    n = int(ds.get("NumberOfFrames", 1) or 1)
    pixels = pixels.reshape(n, int(ds.Rows), int(ds.Columns)).astype(np.float32)
    if kind == "FRACTIONAL":
        pixels /= float(ds.get("MaximumFractionalValue", 255) or 255)
    orient = [np.asarray(_frame_value(ds, f, "PlaneOrientationSequence",
                                      "ImageOrientationPatient", where), dtype=np.float64)
              for f in range(n)]
    if any(not np.allclose(o, orient[0], atol=1e-4) for o in orient):
        raise ValueError(f"{where}: frames have different ImageOrientationPatient")
    spacing = [np.asarray(_frame_value(ds, f, "PixelMeasuresSequence", "PixelSpacing", where),
                          dtype=np.float64) for f in range(n)]
    if any(not np.allclose(s, spacing[0]) for s in spacing):
        raise ValueError(f"{where}: frames have different PixelSpacing")
    measures = _group(ds, 0, "PixelMeasuresSequence")
    slab = None
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = measures.get(keyword) if measures is not None else None
        if value not in (None, "") and float(value) > 0:
            slab = float(value)
            break
    return {
        "pixels": pixels,
        "segment": np.array([int(_frame_value(ds, f, "SegmentIdentificationSequence",
                                              "ReferencedSegmentNumber", where))
                             for f in range(n)]),
        "position": np.array([[float(v) for v in _frame_value(
            ds, f, "PlanePositionSequence", "ImagePositionPatient", where)] for f in range(n)]),
        "orientation": orient[0], "spacing": spacing[0], "slab": slab,
    }


def sample_segment(frames: dict, number: int, shape: tuple, affine: np.ndarray,
                   where: str) -> np.ndarray:
    """The fraction (0..1) of segment ``number`` at each voxel of the reference grid.

    Each slice of the reference grid takes the segment's nearest frame plane within half
    the planes' spacing (SpacingBetweenSlices, else SliceThickness, else the gaps between
    frames), sampled at the voxel centres by nearest neighbour. Planes must be parallel to
    one axis of the grid.

    Parameters
    ----------
    frames : dict
        From :func:`seg_frames`.
    number : int
        SegmentNumber.
    shape, affine
        The reference grid: its shape and voxel-to-RAS transform.
    where : str

    Returns
    -------
    ndarray of float32, shape ``shape``
    """
    out = np.zeros(shape, dtype=np.float32)
    chosen = np.flatnonzero(frames["segment"] == number)
    if chosen.size == 0:
        return out
    row_dir, col_dir = frames["orientation"][:3], frames["orientation"][3:]
    normal = np.cross(row_dir, col_dir)
    to_voxel = np.linalg.inv(affine) @ LPS_TO_RAS
    normal_vox = to_voxel[:3, :3] @ normal
    axis = int(np.argmax(np.abs(normal_vox)))
    off_axis = np.abs(np.delete(normal_vox, axis)).max() / abs(normal_vox[axis])
    if off_axis > 1e-3:
        raise ValueError(f"{where}: SEG frames are not parallel to the slices of the "
                         "reference grid")
    pos = frames["position"][chosen]
    level = (to_voxel[:3, :3] @ pos.T + to_voxel[:3, 3:4])[axis]
    levels = np.unique(np.round(level, 3))
    step = abs(normal_vox[axis])  # reference slices per mm along the normal
    if frames["slab"] is not None:
        half = 0.5 * frames["slab"] * step
    else:
        half = 0.5 * (float(np.median(np.diff(levels))) if len(levels) > 1 else 1.0)
    in_plane = [a for a in range(3) if a != axis]
    grid = np.stack(np.meshgrid(np.arange(shape[in_plane[0]]), np.arange(shape[in_plane[1]]),
                                indexing="ij"), axis=-1).reshape(-1, 2).astype(np.float64)
    from_voxel = np.linalg.inv(LPS_TO_RAS) @ affine  # voxel -> LPS
    ps_row, ps_col = frames["spacing"]
    for s, plane in enumerate(nearest_planes(levels, shape[axis], half)):
        if plane is None:
            continue
        index = np.zeros((grid.shape[0], 3))
        index[:, in_plane] = grid
        index[:, axis] = s
        world = index @ from_voxel[:3, :3].T + from_voxel[:3, 3]
        values = np.zeros(grid.shape[0], dtype=np.float32)
        for f in chosen[np.abs(np.round(level, 3) - plane) < 1e-9]:
            rel = world - frames["position"][f]
            col = np.rint(rel @ row_dir / ps_col).astype(np.int64)
            row = np.rint(rel @ col_dir / ps_row).astype(np.int64)
            pixels = frames["pixels"][f]
            ok = (col >= 0) & (col < pixels.shape[1]) & (row >= 0) & (row < pixels.shape[0])
            values[ok] = np.maximum(values[ok], pixels[row[ok], col[ok]])
        view = [slice(None)] * 3
        view[axis] = s
        out[tuple(view)] = values.reshape(shape[in_plane[0]], shape[in_plane[1]])
    return out
