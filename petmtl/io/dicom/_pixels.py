"""Stored pixel values of single-frame images, stacked into a scaled float32 volume."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._raw import element_value

_NATIVE_LITTLE_ENDIAN = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")
_PIXEL_DATA = 0x7FE00010
_UNDEFINED_LENGTH = 0xFFFFFFFF


def _pixel_bytes(ds) -> bytes:
    """PixelData's bytes; a deferred element is read straight from its file offset."""
    elem = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    if elem is None:
        raise ValueError("PixelData is missing")
    value = elem.value
    if value is None and isinstance(getattr(ds, "filename", None), str) \
            and getattr(elem, "value_tell", None) is not None \
            and elem.length != _UNDEFINED_LENGTH:
        with open(ds.filename, "rb") as f:
            f.seek(elem.value_tell)
            value = f.read(elem.length)
    return value if isinstance(value, bytes) else ds.PixelData


def _native_dtype(ds):
    """The numpy dtype of uncompressed little-endian grey-scale pixel data, or None."""
    meta = getattr(ds, "file_meta", None)
    syntax = str(element_value(meta, "TransferSyntaxUID") or "") if meta is not None else ""
    bits = int(element_value(ds, "BitsAllocated") or 0)
    if (syntax not in _NATIVE_LITTLE_ENDIAN or int(element_value(ds, "SamplesPerPixel") or 1)
            != 1 or bits not in (8, 16, 32)
            or int(element_value(ds, "BitsStored") or bits) != bits):
        return None
    signed = int(element_value(ds, "PixelRepresentation") or 0) == 1
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
    rows, cols = int(element_value(ds, "Rows")), int(element_value(ds, "Columns"))
    dtype = _native_dtype(ds)
    try:
        if dtype is not None:
            buffer = _pixel_bytes(ds)
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
    out = np.empty((len(datasets), int(element_value(first, "Rows")),
                    int(element_value(first, "Columns"))), dtype=np.float32)
    for k, ds in enumerate(datasets):
        np.multiply(stored_pixels(ds, where), np.float32(factors[k]), out=out[k],
                    dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        k = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{where}: slice {k} gives non-finite values (stored values times "
                         f"factor {factors[k]:g})")
    return out.transpose(2, 1, 0)
