"""The :class:`Volume` container and validated NIfTI readers."""

from __future__ import annotations

import os
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation
from nibabel.spatialimages import HeaderDataError

from .dicom import is_dicom_dir, is_dicom_file, read_pet_dicom
from .dicom._masks import read_mask_union

PathLike = str | os.PathLike


@dataclass(eq=False)
class Volume:
    """A 3-D image and its voxel-to-world transform.

    Parameters
    ----------
    data : ndarray of shape (I, J, K)
        Voxel values (SUV for PET, 0/1 for masks).
    affine : ndarray of shape (4, 4)
        Voxel-index to world (scanner RAS+, millimetres) transform, as in NIfTI.
    path : str or None, default=None
        File the volume was read from, kept for error messages.
    header : nibabel header or None, default=None
        The file's NIfTI header, when read from a file (lets a mask be written on the
        same grid without opening the file again, see :func:`write_mask_like`).
    """

    data: np.ndarray
    affine: np.ndarray
    path: str | None = None
    header: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data)
        self.affine = np.asarray(self.affine, dtype=np.float64)
        where = f" (file {self.path})" if self.path else ""
        if self.data.ndim != 3:
            raise ValueError(f"Volume data must be 3-D, got shape {self.data.shape}{where}")
        if self.affine.shape != (4, 4) or not np.all(np.isfinite(self.affine)):
            raise ValueError(f"Volume affine must be a finite 4x4 matrix{where}")
        if abs(np.linalg.det(self.affine[:3, :3])) < 1e-12:
            raise ValueError(f"Volume affine is singular: {self.affine.tolist()}{where}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Tuple of the three array dimensions."""
        return tuple(int(s) for s in self.data.shape)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along each array axis in millimetres (norms of the affine's columns)."""
        return tuple(float(v) for v in np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0)))

    def axcodes(self) -> tuple[str, str, str]:
        """Return the closest anatomical orientation codes, e.g. ``('L', 'P', 'S')``."""
        return tuple(nib.aff2axcodes(self.affine))


def _check_exists(path: PathLike) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"NIfTI file not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"Expected a NIfTI file, got a directory: {path}")
    return path


def _open_nifti(path: PathLike) -> tuple[nib.Nifti1Pair, str]:
    """Open a NIfTI-1/2 image header, with errors that name the file."""
    path = _check_exists(path)
    try:
        img = nib.load(path, mmap=False)
    except (ImageFileError, HeaderDataError, OSError, EOFError, zlib.error, ValueError) as exc:
        raise ValueError(f"Cannot read {path} as a NIfTI image: {exc}") from exc
    if not isinstance(img, nib.Nifti1Pair):
        raise ValueError(
            f"Expected a NIfTI image (.nii or .nii.gz) at {path}, got a {type(img).__name__}"
        )
    return img, path


def _squeezed_shape(shape: Sequence[int], path: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) < 3:
        raise ValueError(f"Expected a 3-D image in {path}, got shape {shape}")
    if len(shape) > 3 and any(s != 1 for s in shape[3:]):
        raise ValueError(
            f"Expected a 3-D image in {path}, got a {len(shape)}-D image of shape {shape}; "
            "only trailing singleton dimensions are accepted"
        )
    return shape[:3]


def _read_array(img: nib.Nifti1Pair, path: str, dtype) -> np.ndarray:
    shape = _squeezed_shape(img.shape, path)
    try:
        data = np.asarray(img.dataobj)
    except (HeaderDataError, OSError, EOFError, zlib.error, ValueError) as exc:
        raise ValueError(f"Cannot read the voxel data of {path} (damaged file?): {exc}") from exc
    data = data.reshape(shape)
    return data.astype(dtype, copy=False) if dtype is not None else data


def _check_finite(data: np.ndarray, path: str) -> None:
    if np.issubdtype(data.dtype, np.floating):
        bad = ~np.isfinite(data)
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{path} contains {n_bad} NaN or infinite voxel(s), first at index {first}"
            )


def load_pet(path: PathLike, *, dtype=np.float32) -> Volume:
    """Read a 3-D PET image (e.g. in SUV) from a NIfTI file or a DICOM series folder.

    Parameters
    ----------
    path : str or path-like
        A ``.nii`` or ``.nii.gz`` file (a trailing singleton 4th dimension is squeezed), or
        a folder holding one PET DICOM series, read in SUVbw by :func:`read_pet_dicom`
        (needs ``pip install 'petmtl[dicom]'``).
    dtype : numpy dtype, default=np.float32
        Floating type of the returned voxel values (NIfTI scaling is applied first).

    Returns
    -------
    Volume
        The voxel values (units of the file, SUV g/ml for petmtl data) and the affine in mm.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable NIfTI image, is not 3-D, or has NaN/Inf voxels, or a
        folder's DICOM series cannot be converted to SUV.
    """
    if os.path.isdir(path):
        if not is_dicom_dir(path):
            raise ValueError(f"Expected a NIfTI file or a DICOM series folder, got a directory "
                             f"without DICOM files: {os.fspath(path)}")
        img = read_pet_dicom(path)
        return Volume(data=np.asarray(img.dataobj, dtype=np.dtype(dtype)),
                      affine=np.asarray(img.affine, dtype=np.float64), path=os.fspath(path),
                      header=img.header)
    img, path = _open_nifti(path)
    data = _read_array(img, path, np.dtype(dtype))
    _check_finite(data, path)
    return Volume(data=data, affine=np.asarray(img.affine, dtype=np.float64), path=path,
                  header=img.header)


def _binarize(data: np.ndarray, path: str, label, binarize: bool) -> np.ndarray:
    if label is not None and binarize:
        raise ValueError(f"Pass either label= or binarize=True for {path}, not both")
    if binarize:
        return (data > 0).astype(np.uint8)
    if label is not None:
        labels = np.atleast_1d(np.asarray(label))
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(f"label must be a number or a sequence of numbers, got {label!r}")
        present = np.unique(data)
        missing = [v.item() for v in labels if v not in present]
        if missing:
            raise ValueError(
                f"Label(s) {missing} not found in mask {path}; labels present: "
                f"{present.tolist()[:20]}"
            )
        return np.isin(data, labels).astype(np.uint8)
    values = np.unique(data)
    extra = values[(values != 0) & (values != 1)]
    if extra.size:
        raise ValueError(
            f"Mask {path} is not binary: found values {extra.tolist()[:10]} besides 0 and 1; "
            "pass label=<value> to select one label of a label map or binarize=True to take >0"
        )
    return (data == 1).astype(np.uint8)


def load_mask(
    path: PathLike,
    reference: Volume | None = None,
    *,
    atol: float = 1e-3,
    label: int | Sequence[int] | None = None,
    binarize: bool = False,
) -> Volume:
    """Read a binary mask (e.g. tumour) from a NIfTI file, optionally checked against its PET.

    Parameters
    ----------
    path : str or path-like
        A ``.nii`` or ``.nii.gz`` file with values 0/1 (or a label map, see ``label``), or a
        DICOM RTSTRUCT or SEG file, rasterised onto ``reference`` by
        :func:`read_dicom_mask` (``label`` then selects ROI/segment numbers, ``binarize``
        takes the union of all).
    reference : Volume, optional
        The PET volume the mask belongs to. Its shape must be equal and its affine equal within
        ``atol``. Required for a DICOM mask.
    atol : float, default=1e-3
        Absolute tolerance (mm) for comparing the mask's affine with the reference's.
    label : int or sequence of int, optional
        Select these label value(s) of a label map as foreground (union).
    binarize : bool, default=False
        Take every voxel > 0 as foreground.

    Returns
    -------
    Volume
        ``data`` is a ``uint8`` array of 0/1.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is unreadable, not 3-D, has non-finite values, is not binary (without
        ``label``/``binarize``), or disagrees with ``reference``.

    Warns
    -----
    UserWarning
        If the mask has no foreground voxel.
    """
    if os.path.isfile(path) and is_dicom_file(path):
        return _load_dicom_mask(os.fspath(path), reference, label, binarize)
    img, path = _open_nifti(path)
    data = _read_array(img, path, None)
    _check_finite(data, path)
    affine = np.asarray(img.affine, dtype=np.float64)
    if reference is not None:
        ref_name = reference.path or "the reference volume"
        if data.shape != reference.shape:
            raise ValueError(
                f"Mask {path} has shape {data.shape} but its PET {ref_name} has shape "
                f"{reference.shape}"
            )
        diff = float(np.max(np.abs(affine - reference.affine)))
        if diff > atol:
            raise ValueError(
                f"Mask {path} affine differs from its PET {ref_name} by up to {diff:.4g} mm "
                f"(atol={atol}); mask affine {affine.round(4).tolist()}, "
                f"PET affine {reference.affine.round(4).tolist()}"
            )
        affine = reference.affine.copy()
    out = _binarize(data, path, label, binarize)
    if not out.any():
        warnings.warn(f"Mask {path} is empty (no foreground voxel)", UserWarning, stacklevel=2)
    return Volume(data=out, affine=affine, path=path)


def _load_dicom_mask(path: str, reference: Volume | None, label, binarize: bool) -> Volume:
    """An RTSTRUCT/SEG file on the reference's grid, as :func:`load_mask` returns masks."""
    if reference is None:
        raise ValueError(f"Mask {path} is a DICOM RTSTRUCT/SEG: it needs the PET as "
                         "reference= to be rasterised on")
    if label is not None and binarize:
        raise ValueError(f"Pass either label= or binarize=True for {path}, not both")
    roi = None if label is None else [int(v) for v in np.atleast_1d(label)]
    img = read_mask_union(path, reference, roi=roi, union=binarize or label is not None)
    out = _binarize(np.asarray(img.dataobj), path, None, False)
    return Volume(data=out, affine=reference.affine.copy(), path=path)


def canonical_orientation(affine: np.ndarray) -> np.ndarray:
    """Return the nibabel orientation array mapping an image's axes to RAS+.

    Parameters
    ----------
    affine : ndarray of shape (4, 4)
        Voxel-to-world transform.

    Returns
    -------
    ndarray of shape (3, 2)
        ``io_orientation(affine)``: for each input axis, the output axis and a flip (+1/-1).
    """
    return io_orientation(np.asarray(affine, dtype=np.float64))


def _reorient(volume: Volume, ornt: np.ndarray) -> Volume:
    data = np.ascontiguousarray(apply_orientation(volume.data, ornt))
    affine = volume.affine @ inv_ornt_aff(ornt, volume.shape)
    return Volume(data=data, affine=affine, path=volume.path)


def to_canonical(volume: Volume) -> Volume:
    """Reorder/flip the voxel axes so the image is closest to RAS+ (as ``as_closest_canonical``).

    Only axis permutations and flips are applied (no interpolation); the world position of
    every voxel is unchanged. Oblique affines stay oblique.

    Parameters
    ----------
    volume : Volume
        Input image.

    Returns
    -------
    Volume
        A new volume whose axes point (approximately) Right, Anterior, Superior.
    """
    return _reorient(volume, canonical_orientation(volume.affine))


def invert_orientation(ornt: np.ndarray) -> np.ndarray:
    """Return the orientation array that undoes ``apply_orientation(., ornt)``.

    Parameters
    ----------
    ornt : ndarray of shape (3, 2)
        Orientation array as returned by :func:`canonical_orientation`.

    Returns
    -------
    ndarray of shape (3, 2)
    """
    ornt = np.asarray(ornt, dtype=np.float64)
    inv = np.empty_like(ornt)
    for axis, (target, flip) in enumerate(ornt):
        inv[int(target)] = (axis, flip)
    return inv
