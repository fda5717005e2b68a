"""Atomic NIfTI writers."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np

from .._atomic import atomic_path
from ._volume import PathLike, _open_nifti, _squeezed_shape
from .dicom._provenance import strip_provenance


def _nifti_suffix(path: str) -> str:
    lower = path.lower()
    for suffix in (".nii.gz", ".nii"):
        if lower.endswith(suffix):
            return path[-len(suffix):]
    raise ValueError(f"Output path must end with .nii or .nii.gz, got {path}")


def _atomic_save(img: nib.Nifti1Image, path: PathLike) -> str:
    path = os.fspath(path)
    with atomic_path(path, suffix=_nifti_suffix(path)) as tmp:
        nib.save(img, tmp)
    return path


def write_nifti(
    array: np.ndarray, affine: np.ndarray, path: PathLike, *, dtype=None
) -> str:
    """Write a 3-D array to a NIfTI-1 file atomically.

    The image is written to a temporary file in the destination folder and then moved onto
    ``path`` with :func:`os.replace`, so ``path`` is never left half-written. Both the qform
    and the sform are set to ``affine`` with code 1 (scanner); spatial units are mm.

    Parameters
    ----------
    array : ndarray of shape (I, J, K)
        Voxel values.
    affine : ndarray of shape (4, 4)
        Voxel-to-world transform (mm).
    path : str or path-like
        Destination ending in ``.nii`` or ``.nii.gz`` (gzip-compressed).
    dtype : numpy dtype, optional
        On-disk data type; default keeps ``array``'s (bool is stored as uint8).

    Returns
    -------
    str
        ``path``.
    """
    array = np.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"array must be 3-D, got shape {array.shape} for {os.fspath(path)}")
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ValueError(f"affine must be a finite 4x4 matrix for {os.fspath(path)}")
    if dtype is None:
        dtype = np.uint8 if array.dtype == bool else array.dtype
    img = nib.Nifti1Image(np.asarray(array, dtype=dtype), affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    return _atomic_save(img, path)


def write_mask_like(
    mask: np.ndarray, reference_path: PathLike, out_path: PathLike, *, dtype=np.uint8,
    reference_header=None,
) -> str:
    """Write a mask on a reference image's grid, copying its geometry header.

    The output has the reference's shape, affine, qform/sform matrices and codes, voxel
    sizes and units, so viewers overlay it exactly on the reference PET. Written atomically.

    Parameters
    ----------
    mask : ndarray of the reference's 3-D shape
        E.g. the output of :meth:`GeometryRecord.to_original`.
    reference_path : str or path-like
        The PET NIfTI file the mask belongs to.
    out_path : str or path-like
        Destination ending in ``.nii`` or ``.nii.gz``.
    dtype : numpy dtype, default=np.uint8
        On-disk data type.
    reference_header : nibabel NIfTI header, optional
        The reference's header when it is already in memory (``load_pet(path).header``);
        the reference file is then not opened again.

    Returns
    -------
    str
        ``out_path``.
    """
    if reference_header is None:
        ref, ref_path = _open_nifti(reference_path)
        ref_header, ref_shape, ref_affine = ref.header, ref.shape, ref.affine
        cls = type(ref) if isinstance(ref, nib.Nifti1Image) else nib.Nifti1Image
    else:
        ref_path, ref_header = os.fspath(reference_path), reference_header
        ref_shape, ref_affine = ref_header.get_data_shape(), ref_header.get_best_affine()
        cls = nib.Nifti2Image if isinstance(ref_header, nib.Nifti2Header) else nib.Nifti1Image
    shape = _squeezed_shape(ref_shape, ref_path)
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(
            f"mask has shape {mask.shape} but the reference {ref_path} has shape {shape}"
        )
    header = ref_header.copy()
    strip_provenance(header)  # the PET's SUV record does not describe the mask
    header.set_data_dtype(dtype)
    header.set_slope_inter(1.0, 0.0)
    data = np.asarray(mask, dtype=dtype).reshape(ref_shape)
    img = cls(data, ref_affine, header=header)
    q_aff, q_code = ref_header.get_qform(coded=True)
    s_aff, s_code = ref_header.get_sform(coded=True)
    img.set_qform(q_aff, code=int(q_code))
    img.set_sform(s_aff, code=int(s_code))
    img.header["cal_min"], img.header["cal_max"] = 0, 0
    return _atomic_save(img, out_path)
