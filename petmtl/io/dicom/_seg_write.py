"""Writing a mask on a PET series' grid as a DICOM SEG (with highdicom)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from ..._atomic import atomic_path
from ._deps import import_highdicom, import_pydicom
from ._files import read_series, select_series
from ._geometry import slice_geometry

_AFFINE_ATOL = 1e-2  # mm
# Type 2 attributes of the patient and study the SEG copies from its source (present in
# conformant files, possibly empty; anonymisers sometimes drop them)
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
          "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName")


def _mask_array(mask, geometry, where: str) -> np.ndarray:
    if hasattr(mask, "affine") and hasattr(mask, "dataobj"):
        if tuple(mask.shape[:3]) != geometry.shape:
            raise ValueError(f"mask has shape {tuple(mask.shape)} but the series {where} has "
                             f"{geometry.shape} (columns, rows, slices)")
        diff = float(np.max(np.abs(np.asarray(mask.affine) - geometry.affine)))
        if diff > _AFFINE_ATOL:
            raise ValueError(f"mask's affine differs from the series {where} by up to "
                             f"{diff:.3g} mm; write a mask on the PET's own grid (e.g. from "
                             "read_pet_dicom)")
        mask = np.asarray(mask.dataobj)
    array = np.asarray(mask)
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.shape != geometry.shape:
        raise ValueError(f"mask must have the series' shape {geometry.shape} (columns, rows, "
                         f"slices, as read_pet_dicom returns it), got {array.shape}")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if not np.all(np.isfinite(array)) or array.min() < 0:
        raise ValueError("mask must hold finite values >= 0 (0/1, labels or fractions)")
    return array


def _segments(array, segment_labels, where):
    """``(pixel array, segmentation type, [(number, label)])`` for highdicom."""
    is_integer = np.all(array == np.round(array))
    if not is_integer:
        if array.max() > 1:
            raise ValueError("a fractional mask must hold values in [0, 1]")
        name = _label_for(segment_labels, 1, "tumour")
        return array.astype(np.float32), "FRACTIONAL", [(1, name)]
    values = [int(v) for v in np.unique(array) if v != 0]
    if not values:  # e.g. no tumour predicted: one segment without a voxel
        return array[..., None].astype(np.uint8), "BINARY", [
            (1, _label_for(segment_labels, 1, "tumour"))]
    stack = np.stack([array == v for v in values], axis=-1).astype(np.uint8)
    default = "tumour" if values == [1] else None
    segments = [(i + 1, _label_for(segment_labels, v, default or f"label {v}"))
                for i, v in enumerate(values)]
    return stack, "BINARY", segments


def _label_for(segment_labels, value: int, default: str) -> str:
    if segment_labels is None:
        return default
    if isinstance(segment_labels, str):
        return segment_labels
    if isinstance(segment_labels, Mapping):
        return str(segment_labels.get(value, default))
    labels = list(segment_labels)
    return str(labels[value - 1]) if 0 < value <= len(labels) else default


def write_dicom_seg(mask, pet_series_dir: str | os.PathLike, path: str | os.PathLike, *,
                    segment_labels=None, series_uid: str | None = None,
                    series_description: str = "petmtl segmentation",
                    series_number: int | None = None, algorithm_name: str = "petmtl",
                    algorithm_version: str | None = None) -> str:
    """Write a mask on a PET series' grid as a DICOM Segmentation referencing that series.

    The SEG (encoded by highdicom) copies the patient and study of the PET, references
    each of its slices (so viewers such as 3D Slicer and OHIF overlay it on the PET) and
    lies in its FrameOfReferenceUID. Empty slices are omitted (an empty mask, e.g. no
    tumour found, keeps every slice of its one segment).

    Parameters
    ----------
    mask : ndarray or nibabel.Nifti1Image
        On the PET's own grid as :func:`read_pet_dicom` returns it (columns, rows, slices
        along the normal): 0/1 or bool (one segment), integer labels (one segment per
        value, numbered 1.. in increasing order) or fractions in [0, 1] (one FRACTIONAL
        probability segment). A Nifti1Image must have the series' affine.
    pet_series_dir : str or path-like
        The source series' folder.
    path : str or path-like
        The SEG file to write (atomically).
    segment_labels : str, sequence of str or mapping, optional
        Segment name(s): one name, names by segment order, or ``{label value: name}``.
        Default ``'tumour'`` (one segment) or ``'label <value>'``.
    series_uid : str, optional
        The source series' SeriesInstanceUID when the folder holds several.
    series_description : str, default='petmtl segmentation'
    series_number : int, optional
        Default: 1000 + the source's SeriesNumber.
    algorithm_name : str, default='petmtl'
        Named as the (automatic) segmentation algorithm.
    algorithm_version : str, optional
        Default: petmtl's version.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ImportError
        If pydicom or highdicom is not installed (``pip install 'petmtl[dicom]'``).
    ValueError
        If the mask does not lie on the series' grid or holds negative values.
    """
    from ... import __version__

    hd = import_highdicom()
    codes = import_pydicom().sr.codedict.codes
    where = os.fspath(pet_series_dir)
    series = select_series(read_series(where), series_uid=series_uid, where=where, pet=False)
    geometry = slice_geometry(series.datasets, where)
    if geometry.tilted or geometry.uneven:
        raise ValueError(f"{where}: {geometry.tilted or geometry.uneven}; a SEG on an "
                         "irregular series is not supported")
    pixels, kind, segments = _segments(_mask_array(mask, geometry, where), segment_labels,
                                       where)
    sources = [series.datasets[i] for i in geometry.order]
    if not sources[0].get("StudyInstanceUID"):
        raise ValueError(f"{where}: StudyInstanceUID (0020,000D) is missing; the SEG must "
                         "name the study of its source")
    for ds in sources:  # the in-memory copies only
        for keyword in _TYPE2:
            if keyword not in ds:
                setattr(ds, keyword, "")
    # (columns, rows, slices[, segments]) -> (slices, rows, columns[, segments])
    pixels = np.ascontiguousarray(np.swapaxes(pixels, 0, 2) if pixels.ndim == 3
                                  else pixels.transpose(2, 1, 0, 3))
    version = algorithm_version or __version__
    algorithm = hd.AlgorithmIdentificationSequence(
        name=algorithm_name, version=version, family=codes.DCM.ArtificialIntelligence)
    descriptions = [hd.seg.SegmentDescription(
        segment_number=number, segment_label=name,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm) for number, name in segments]
    source_number = sources[0].get("SeriesNumber")
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type=kind,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(),
        series_number=int(series_number if series_number is not None
                          else 1000 + int(source_number or 0)),
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="petmtl",
        manufacturer_model_name=algorithm_name, software_versions=version,
        device_serial_number="0", series_description=series_description)
    path = os.fspath(path)
    with atomic_path(path, suffix=".dcm") as tmp:
        seg.save_as(tmp)
    return path
