"""Stored pixel values of single-frame images, stacked into a scaled float32 volume."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_NATIVE_LITTLE_ENDIAN = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")


def _native_dtype(ds):
    """The numpy dtype of uncompressed little-endian grey-scale pixel data, or None."""
    syntax = str(getattr(getattr(ds, "file_meta", None), "get", lambda *_: None)(
        "TransferSyntaxUID") or "")
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if (syntax not in _NATIVE_LITTLE_ENDIAN or int(ds.get("SamplesPerPixel", 1) or 1) != 1
            or bits not in (8, 16, 32) or int(ds.get("BitsStored", bits) or bits) != bits):
        return None
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    return np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")


def stored_pixels(ds, where: str) -> np.ndarray:
    """The stored values of one image as an array of shape (Rows, Columns).

    Uncompressed little-endian data is read directly; anything else through pydicom's
    pixel handlers (compressed transfer syntaxes need their decoder packages).

    Parameters
    ----------
    ds : pydicom.Dataset
    where : str
        Named in errors.

    Returns
    -------
    ndarray
    """
    rows, cols = int(ds.Rows), int(ds.Columns)
    dtype = _native_dtype(ds)
    try:
        if dtype is not None:
            buffer = ds.PixelData
            if len(buffer) < rows * cols * dtype.itemsize:
                raise ValueError(f"PixelData has {len(buffer)} bytes, expected "
                                 f"{rows * cols * dtype.itemsize}")
            return np.frombuffer(buffer, dtype=dtype, count=rows * cols).reshape(rows, cols)
        array = ds.pixel_array
    except Exception as exc:  # decoders raise many types
        raise ValueError(f"{where}: cannot decode the pixel data of SOP instance "
                         f"{ds.get('SOPInstanceUID', '?')}: {exc}") from exc
    if array.shape != (rows, cols):
        raise ValueError(f"{where}: pixel data of shape {array.shape} in SOP instance "
                         f"{ds.get('SOPInstanceUID', '?')}; expected one frame of "
                         f"{(rows, cols)}")
    return array


def scaled_volume(datasets: Sequence, factors: np.ndarray, where: str) -> np.ndarray:
    """``stored * factors[k]`` for each slice ``k``, as float32 (columns, rows, slices).

    Parameters
    ----------
    datasets : sequence of pydicom.Dataset
        The slices in their sorted order.
    factors : ndarray of shape (n_slices,)
    where : str

    Returns
    -------
    ndarray of float32
        A Fortran-ordered array: ``data[i, j, k]`` is column ``i``, row ``j`` of slice ``k``.
    """
    first = datasets[0]
    out = np.empty((len(datasets), int(first.Rows), int(first.Columns)), dtype=np.float32)
    for k, ds in enumerate(datasets):
        np.multiply(stored_pixels(ds, where), factors[k], out=out[k], casting="unsafe")
    bad = ~np.isfinite(out)
    if bad.any():
        k = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{where}: slice {k} gives non-finite values (stored values times "
                         f"factor {factors[k]:g})")
    return out.transpose(2, 1, 0)
