"""Resampling to a voxel spacing and cropping/padding to a fixed shape.

Grid convention
---------------
Resampling keeps the world position of the *centre of voxel (0, 0, 0)* and the axis
directions, and scales each axis's voxel size: the new affine is
``affine @ diag(s_out / s_in, 1)``. The output has ``max(1, round(n * s_in / s_out))``
voxels along an axis of ``n`` voxels, so it covers the same field of view to within half an
output voxel. Output voxel centres beyond the last input centre take the edge value (scipy's
``mode='nearest'``). This is the voxel-centre convention of NIfTI/nibabel (the affine maps
voxel centres) and of ITK (origin = centre of the first voxel).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .._constraints import Shape, Spacing, check_param
from ._volume import Volume

_ORDERS = {"nearest": 0, "linear": 1, "trilinear": 1, "cubic": 3}


def _as_order(order: int | str) -> int:
    if isinstance(order, str):
        if order.lower() not in _ORDERS:
            raise ValueError(
                f"interpolation must be one of {sorted(_ORDERS)} or 0, 1, 3; got {order!r}"
            )
        return _ORDERS[order.lower()]
    if isinstance(order, bool) or order not in (0, 1, 3):
        raise ValueError(f"order must be 0, 1, 3 or 'nearest'/'linear'/'cubic'; got {order!r}")
    return int(order)


def _as_triple(value, name: str, *, positive: bool = True) -> np.ndarray:
    if positive:
        check_param(name, value, Spacing(
            description="a positive number or a sequence of 3 positive numbers"))
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0 or arr.shape == (1,):
        arr = np.repeat(arr.reshape(()), 3)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a number or a sequence of 3 numbers, got {value!r}")
    return arr


def _as_shape(shape, name: str = "shape") -> tuple[int, int, int]:
    check_param(name, shape, Shape(3, type_error=True))
    return tuple(int(s) for s in shape)


def resampled_geometry(
    shape: Sequence[int], affine: np.ndarray, spacing: float | Sequence[float]
) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of the grid that :func:`resample_to_spacing` produces.

    Parameters
    ----------
    shape : sequence of 3 int
        Input grid shape.
    affine : ndarray of shape (4, 4)
        Input voxel-to-world transform (mm).
    spacing : float or sequence of 3 float
        Target voxel size in mm along each array axis.

    Returns
    -------
    shape : tuple of 3 int
    affine : ndarray of shape (4, 4)
    """
    affine = np.asarray(affine, dtype=np.float64)
    target = _as_triple(spacing, "spacing")
    current = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    scale = target / current
    new_shape = tuple(int(max(1, round(n / z))) for n, z in zip(shape, scale, strict=True))
    new_affine = affine @ np.diag(np.append(scale, 1.0))
    return new_shape, new_affine


def _grid_map(src_affine: np.ndarray, dst_affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matrix and offset taking destination voxel indices to source voxel indices."""
    m = np.linalg.solve(src_affine, dst_affine)
    matrix, offset = m[:3, :3], m[:3, 3]
    off_diag = matrix - np.diag(np.diag(matrix))
    if np.allclose(off_diag, 0.0, atol=1e-9):
        matrix = np.diag(matrix).copy()  # scipy's fast separable path
    return matrix, offset


def resample_data(
    data: np.ndarray,
    src_affine: np.ndarray,
    dst_affine: np.ndarray,
    dst_shape: Sequence[int],
    order: int | str = 1,
) -> np.ndarray:
    """Sample ``data`` (on ``src_affine``) at the voxel centres of another grid.

    Points outside the source grid take the nearest edge value (``mode='nearest'``).

    Parameters
    ----------
    data : ndarray of shape (I, J, K)
    src_affine, dst_affine : ndarray of shape (4, 4)
    dst_shape : sequence of 3 int
    order : {0, 1, 3, 'nearest', 'linear', 'cubic'}, default=1

    Returns
    -------
    ndarray of shape ``dst_shape``
        Same dtype as ``data`` for ``order=0``, float32 otherwise (float64 input stays float64).
    """
    order = _as_order(order)
    if order > 0 and not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float32)
    matrix, offset = _grid_map(np.asarray(src_affine, float), np.asarray(dst_affine, float))
    return ndimage.affine_transform(
        data, matrix, offset=offset, output_shape=tuple(int(s) for s in dst_shape),
        order=order, mode="nearest", prefilter=order > 1,
    )


def resample_to_spacing(
    volume: Volume, spacing: float | Sequence[float] = 2.0, *, order: int | str = 1
) -> Volume:
    """Resample a volume to a new voxel size.

    Parameters
    ----------
    volume : Volume
        Input image.
    spacing : float or sequence of 3 float, default=2.0
        Target voxel size in mm along each array axis.
    order : {1, 0, 3, 'linear', 'nearest', 'cubic'}, default=1
        Interpolation: trilinear (default, for PET) or nearest neighbour (for masks, which
        then stay 0/1).

    Returns
    -------
    Volume
        The resampled image with its updated affine.

    Notes
    -----
    Grid convention: the world position of the centre of voxel (0, 0, 0) and the axis
    directions are kept, each axis's voxel size is scaled (``affine @ diag(s_out / s_in, 1)``)
    and an axis of ``n`` voxels gets ``max(1, round(n * s_in / s_out))`` voxels, covering the
    same field of view to within half an output voxel. NIfTI affines (and ITK origins) refer
    to voxel centres, so the result overlays the input exactly in nibabel/ITK viewers. Output
    centres beyond the last input centre take the edge value.
    """
    new_shape, new_affine = resampled_geometry(volume.shape, volume.affine, spacing)
    data = resample_data(volume.data, volume.affine, new_affine, new_shape, order)
    return Volume(data=data, affine=new_affine, path=volume.path)


def find_center(
    volume: Volume,
    center: str | Sequence[float] | None = None,
    *,
    mask: Volume | np.ndarray | None = None,
    body_threshold: float = 0.1,
) -> np.ndarray:
    """Voxel coordinates (float) on which :func:`crop_or_pad` centres its window.

    Parameters
    ----------
    volume : Volume
        The image (PET, SUV) to crop.
    center : {None, 'auto', 'foreground', 'body', 'center'} or sequence of 3 float
        * ``None``/``'auto'``: ``'foreground'`` if ``mask`` has foreground, else ``'body'``.
        * ``'foreground'``: centroid (centre of mass) of the mask's foreground voxels.
        * ``'body'``: centre of mass of the voxels with value > ``body_threshold`` (the body in
          a PET scan); the volume's centre if there is none.
        * ``'center'``: the geometric centre of the volume.
        * ``(i, j, k)``: explicit voxel coordinates.
    mask : Volume or ndarray, optional
        Binary mask on the same grid as ``volume``.
    body_threshold : float, default=0.1
        Threshold (SUV) separating body from air for ``'body'``.

    Returns
    -------
    ndarray of shape (3,)
    """
    mask_data = None if mask is None else np.asarray(getattr(mask, "data", mask))
    if mask_data is not None and mask_data.shape != volume.shape:
        raise ValueError(f"mask shape {mask_data.shape} differs from volume shape {volume.shape}")
    if center is None or (isinstance(center, str) and center == "auto"):
        has_fg = mask_data is not None and bool(mask_data.any())
        center = "foreground" if has_fg else "body"
    if isinstance(center, str):
        if center == "foreground":
            if mask_data is None or not mask_data.any():
                raise ValueError("center='foreground' needs a mask with foreground voxels")
            return np.asarray(ndimage.center_of_mass(mask_data > 0), dtype=np.float64)
        if center == "body":
            body = volume.data > body_threshold
            if not body.any():
                return (np.asarray(volume.shape) - 1) / 2.0
            return np.asarray(ndimage.center_of_mass(body), dtype=np.float64)
        if center in ("center", "centre"):
            return (np.asarray(volume.shape) - 1) / 2.0
        raise ValueError(
            "center must be None, 'auto', 'foreground', 'body', 'center' or 3 voxel "
            f"coordinates; got {center!r}"
        )
    return _as_triple(center, "center", positive=False)


def crop_start(center: Sequence[float], shape: Sequence[int]) -> tuple[int, int, int]:
    """First voxel index of a window of ``shape`` centred on voxel coordinates ``center``.

    Parameters
    ----------
    center : sequence of 3 float
    shape : sequence of 3 int

    Returns
    -------
    tuple of 3 int
        May be negative or exceed the image (the window is then zero-padded).
    """
    c = np.floor(np.asarray(center, dtype=np.float64) + 0.5).astype(int)
    return tuple(int(ci - s // 2) for ci, s in zip(c, shape, strict=True))


def extract_window(data: np.ndarray, start: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """Copy ``data[start:start+shape]``, zero-padding the parts outside ``data``.

    Parameters
    ----------
    data : ndarray of shape (I, J, K)
    start : sequence of 3 int
    shape : sequence of 3 int

    Returns
    -------
    ndarray of shape ``shape``, same dtype as ``data``
    """
    out = np.zeros(tuple(shape), dtype=data.dtype)
    src, dst = [], []
    for st, n, size in zip(start, shape, data.shape, strict=True):
        lo, hi = max(st, 0), min(st + n, size)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - st, hi - st))
    out[tuple(dst)] = data[tuple(src)]
    return out


def crop_or_pad(
    volume: Volume,
    shape: Sequence[int],
    *,
    center: str | Sequence[float] | None = None,
    mask: Volume | np.ndarray | None = None,
    body_threshold: float = 0.1,
) -> Volume:
    """Crop and/or zero-pad a volume to a fixed shape around a centre.

    The window of ``shape`` voxels starts at ``round(center) - shape // 2`` on each axis (see
    :func:`find_center` for how ``center`` is chosen: by default the mask's foreground centroid
    when a mask is given, otherwise the body's centre of mass). Parts of the window outside the
    image are filled with 0. The affine is translated so world positions are unchanged.

    Parameters
    ----------
    volume : Volume
        Input image.
    shape : sequence of 3 int
        Output shape, e.g. the network input ``(64, 64, 64)``.
    center : {None, 'auto', 'foreground', 'body', 'center'} or sequence of 3 float
        Window centre, see :func:`find_center`.
    mask : Volume or ndarray, optional
        Mask on the same grid, used by ``'foreground'``/``'auto'`` (it is not cropped; call
        this function on it with the same explicit ``center`` to crop it identically).
    body_threshold : float, default=0.1
        SUV threshold used by ``'body'``.

    Returns
    -------
    Volume
        The cropped/padded volume with its translated affine.
    """
    shape = _as_shape(shape)
    c = find_center(volume, center, mask=mask, body_threshold=body_threshold)
    start = crop_start(c, shape)
    data = extract_window(volume.data, start, shape)
    shift = np.eye(4)
    shift[:3, 3] = start
    return Volume(data=data, affine=volume.affine @ shift, path=volume.path)
