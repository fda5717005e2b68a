"""Reading a PET DICOM series into an SUV NIfTI image."""

from __future__ import annotations

import os
import warnings

import nibabel as nib

from ._attrs import SeriesAttributes
from ._files import Series, read_series, select_series
from ._geometry import regularise, slice_geometry
from ._pixels import scaled_volume
from ._provenance import attach_provenance
from ._raw import element_value
from ._suv import check_suv, suv_factors

_IRREGULAR = ("error", "resample")


def read_pet_dicom(directory: str | os.PathLike, *, suv: str = "bw",
                   series_uid: str | None = None,
                   irregular: str = "error") -> nib.Nifti1Image:
    """Read a PET DICOM series as a NIfTI image in SUV, by the rules of the SUV manual.

    The voxel values follow Vacha et al.'s *Comprehensive Manual for SUV Computation*
    (2026): the rescale slope of each slice; the stored unit (``Units`` BQML; GML with
    its ``SUVType``; CM2ML; Philips CNTS with the SUV or activity concentration scale
    factor, or counts per second; CPS); the administered dose decayed to the time the
    values refer to (``DecayCorrection`` ADMIN, START or NONE) and the patient's weight.
    Whatever a rule needs and the files lack or contradict raises a one-line error naming
    the attribute; nothing is guessed. See :doc:`/dicom` for every rule.

    Parameters
    ----------
    directory : str or path-like
        A folder holding the series (subfolders are searched too; other series, RTSTRUCT
        and SEG files beside it are ignored).
    suv : {'bw', 'lbm', 'lbmjanma', 'lbmjames128', 'bsa', 'ibw', 'bqml'}, default='bw'
        The quantity returned: SUV normalised by body weight (g/ml), lean body mass
        (``'lbm'`` is Janmahasatian's formula, ``'lbmjanma'``; ``'lbmjames128'`` is
        James's), body surface area (Du Bois, cm^2/ml) or ideal body weight, or the
        activity concentration in Bq/ml (``'bqml'``, decay-corrected as the file says).
    series_uid : str, optional
        The SeriesInstanceUID to read when the folder holds several PET series (otherwise
        refused, with the list).
    irregular : {'error', 'resample'}, default='error'
        Unevenly spaced slices or a tilted gantry (sheared slices): refuse, or resample
        onto a regular orthogonal grid (linear interpolation) with a warning.

    Returns
    -------
    nibabel.Nifti1Image
        float32 values; the affine maps voxel indices (column, row, slice along the
        normal) to RAS+ millimetres, qform and sform code 1 (scanner). The conversion
        record is in a header extension (:func:`read_suv_provenance`) and summarised in
        ``header['descrip']``.

    Raises
    ------
    ImportError
        If pydicom is not installed (``pip install 'petmtl[dicom]'``).
    FileNotFoundError
        If ``directory`` is not a folder.
    ValueError
        If the folder holds no PET series or several (without ``series_uid``), or a rule
        of the conversion cannot be applied (the message names the attribute).

    Examples
    --------
    >>> from petmtl.io import read_pet_dicom, read_suv_provenance
    >>> img = read_pet_dicom("patient01/PET")  # doctest: +SKIP
    >>> read_suv_provenance(img)["reference_time_source"]  # doctest: +SKIP
    'SeriesDate/SeriesTime'
    """
    suv = check_suv(suv)
    _check_irregular(irregular)
    directory = os.fspath(directory)
    series = select_series(read_series(directory), series_uid=series_uid, where=directory)
    return series_to_nifti(series, suv=suv, irregular=irregular, where=directory)


def _check_irregular(irregular) -> None:
    if irregular not in _IRREGULAR:
        raise ValueError(f"irregular must be one of {list(_IRREGULAR)}, got {irregular!r}")


def series_to_nifti(series: Series, *, suv: str = "bw", irregular: str = "error",
                    where: str | None = None) -> nib.Nifti1Image:
    """:func:`read_pet_dicom` for a series already found (see :func:`read_series`).

    Parameters
    ----------
    series : Series
    suv, irregular
        As for :func:`read_pet_dicom`.
    where : str, optional
        Named in errors (default: the series' folder).

    Returns
    -------
    nibabel.Nifti1Image
    """
    suv = check_suv(suv)
    _check_irregular(irregular)
    where = where or ", ".join(series.folders)
    _check_unique_instances(series, where)
    geometry = slice_geometry(series.datasets, where)
    problems = [p for p in (geometry.tilted, geometry.uneven) if p]
    if problems and irregular == "error":
        raise ValueError(f"{where}: {'; '.join(problems)}; pass irregular='resample' to "
                         "interpolate onto a regular grid")
    datasets = [series.datasets[i] for i in geometry.order]
    attrs = SeriesAttributes(datasets, where)
    factors, info = suv_factors(attrs, suv)
    data = scaled_volume(datasets, factors, where)
    notes = []
    if problems:
        data, notes = regularise(data, geometry)
        for note in notes:
            warnings.warn(f"{where}: {note}", UserWarning, stacklevel=3)
    img = nib.Nifti1Image(data, geometry.affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(geometry.affine, code=1)
    img.set_sform(geometry.affine, code=1)
    attach_provenance(img, _record(series, datasets, attrs, info, geometry, notes))
    return img


def _check_unique_instances(series: Series, where: str) -> None:
    seen: dict[str, str] = {}
    for path, ds in zip(series.files, series.datasets, strict=True):
        uid = str(element_value(ds, "SOPInstanceUID") or "")
        if uid and uid in seen:
            raise ValueError(f"{where}: {seen[uid]} and {path} hold the same image (SOP "
                             f"instance {uid}); is the series copied twice?")
        seen[uid] = path


def _record(series, datasets, attrs, info, geometry, notes) -> dict:
    from ... import __version__

    first = datasets[0]
    record = {
        "format": "petmtl-suv-provenance/1",
        "petmtl_version": __version__,
        "rules": "Vacha et al., Comprehensive Manual for SUV Computation (2026)",
        "series_instance_uid": series.uid,
        "frame_of_reference_uid": str(first.get("FrameOfReferenceUID", "") or ""),
        "folders": series.folders,
        "n_slices": len(datasets),
        "manufacturer": str(first.get("Manufacturer", "") or ""),
        "model": str(first.get("ManufacturerModelName", "") or ""),
        **info,
        "attributes": attrs.used,
        "resampling": notes,
    }
    return record
