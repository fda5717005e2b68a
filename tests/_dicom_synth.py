"""Synthetic PET DICOM series for the DICOM tests, written with pydicom.

The default series is a Siemens-style static FDG scan: Units BQML, DecayCorrection START,
80 kg male of 1.80 m, 400 MBq injected at 10:00:00, series (and acquisition) start at
11:06:00 (66 min uptake), 3 min frames, 4 mm voxels, slices along +z.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
# ln(lam T / (1 - exp(-lam T))) / lam for F-18 and a 180 s frame, in ms: the frame
# reference time of a frame that starts at the series start.
F18_TAVE_180S_MS = 89857.92

DEFAULT_HEADER = {
    "Modality": "PT", "Manufacturer": "SIEMENS", "ManufacturerModelName": "Biograph",
    "PatientID": "P1", "PatientName": "Test^One", "PatientSex": "M", "PatientWeight": 80.0,
    "PatientSize": 1.80, "StudyDate": "20250101", "SeriesDate": "20250101",
    "SeriesTime": "110600", "AcquisitionDate": "20250101", "AcquisitionTime": "110600",
    "Units": "BQML", "DecayCorrection": "START", "CorrectedImage": [
        "NORM", "DTIM", "ATTN", "SCAT", "DECY", "RAN"],
    "SeriesType": ["STATIC", "IMAGE"], "ActualFrameDuration": 180000,
    "FrameReferenceTime": F18_TAVE_180S_MS, "RescaleIntercept": 0.0, "SliceThickness": 4.0,
    "SeriesDescription": "PET WB", "SeriesNumber": 3,
}
DEFAULT_RP = {
    "Radiopharmaceutical": "FDG", "RadiopharmaceuticalStartTime": "100000",
    "RadiopharmaceuticalStartDateTime": "20250101100000", "RadionuclideTotalDose": 4e8,
    "RadionuclideHalfLife": 6586.2,
}


def _code(value, scheme, meaning):
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def write_pet_series(folder, stored, *, slopes=None, positions=None,
                     orientation=(1, 0, 0, 0, 1, 0), spacing=(4.0, 4.0), header=None,
                     rp=None, per_slice=None, private=None, series_uid=None,
                     study_uid=None, frame_uid=None, nuclide_code=("C-111A1", "SRT",
                                                                  "^18^Fluorine"),
                     sop_class=PET_STORAGE, file_order=None, names="slice_{:03d}.dcm",
                     transfer_syntax=ExplicitVRLittleEndian):
    """Write one slice per file; return the list of paths (in slice order).

    Parameters
    ----------
    stored : ndarray of int16, shape (n, rows, cols)
        Stored pixel values of each slice (rows x columns as in PixelData).
    slopes : sequence of float, optional
        RescaleSlope per slice (default 1).
    positions : ndarray of shape (n, 3), optional
        ImagePositionPatient per slice (default: 0, 0, 4 k).
    header, rp : dict, optional
        Attributes overriding :data:`DEFAULT_HEADER` / the radiopharmaceutical item
        (:data:`DEFAULT_RP`); a value of None removes the attribute.
    per_slice : dict of keyword to sequence, optional
        Attributes that differ between slices.
    private : dict of (group, element) to (VR, value), optional
        Private elements written in every slice.
    file_order : sequence of int, optional
        Slice written as the i-th file (default: slice order).
    """
    os.makedirs(folder, exist_ok=True)
    stored = np.asarray(stored)
    n, rows, cols = stored.shape
    slopes = np.ones(n) if slopes is None else np.asarray(slopes, dtype=np.float64)
    if positions is None:
        positions = np.array([[0.0, 0.0, 4.0 * k] for k in range(n)])
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = frame_uid or generate_uid()
    values = {**DEFAULT_HEADER, **(header or {})}
    rp_values = {**DEFAULT_RP, **(rp or {})}
    paths = []
    for i, k in enumerate(range(n) if file_order is None else file_order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = transfer_syntax
        path = os.path.join(folder, names.format(i))
        ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.FrameOfReferenceUID = frame_uid
        for key, value in values.items():
            if value is not None:
                setattr(ds, key, value)
        item = Dataset()
        for key, value in rp_values.items():
            if value is not None:
                setattr(item, key, value)
        if nuclide_code is not None:
            item.RadionuclideCodeSequence = [_code(*nuclide_code)]
        ds.RadiopharmaceuticalInformationSequence = [item]
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [float(v) for v in positions[k]]
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.PixelSpacing = [float(v) for v in spacing]
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope = float(slopes[k])
        for key, seq in (per_slice or {}).items():
            if seq[k] is None:
                if key in ds:
                    delattr(ds, key)
            else:
                setattr(ds, key, seq[k])
        for (group, element), (vr, value) in (private or {}).items():
            ds.add_new((group, element), vr, value)
        ds.PixelData = np.ascontiguousarray(stored[k], dtype="<i2").tobytes()
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def copy_series(src_folder, dst_folder, *, patient_id, uid_map=None):
    """Copy a DICOM folder tree with new study/series/instance/frame UIDs and PatientID.

    ``uid_map`` (filled in) maps old UIDs to new ones, so RTSTRUCTs copied by the same call
    keep referring to their images.
    """
    uid_map = {} if uid_map is None else uid_map

    def new(uid):
        uid = str(uid)
        if uid not in uid_map:
            uid_map[uid] = generate_uid()
        return uid_map[uid]

    for root, _, files in os.walk(src_folder):
        target = os.path.join(dst_folder, os.path.relpath(root, src_folder))
        os.makedirs(target, exist_ok=True)
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as f:
                if f.read(132)[128:] != b"DICM":  # not DICOM: copied as it is
                    shutil.copy(os.path.join(root, name), os.path.join(target, name))
                    continue
            ds = pydicom.dcmread(os.path.join(root, name))
            ds.PatientID = patient_id
            for elem in ds.iterall():
                if elem.VR == "UI" and elem.keyword not in (
                        "SOPClassUID", "ReferencedSOPClassUID", "TransferSyntaxUID",
                        "MediaStorageSOPClassUID") and elem.value:
                    elem.value = new(elem.value)
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(os.path.join(target, name), enforce_file_format=True)
    return uid_map


RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


def write_rtstruct(path, rois, *, frame_uid, series_uid, study_uid=None,
                   kinds=None):
    """Write an RTSTRUCT.

    Parameters
    ----------
    rois : dict of (int, str) to list of ndarray of shape (m, 3)
        ``(ROINumber, ROIName)`` -> closed planar contours in LPS mm.
    kinds : dict of int to str, optional
        ContourGeometricType per ROI number (default CLOSED_PLANAR).
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTSTRUCT_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(os.fspath(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "RTSTRUCT", "P1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid or generate_uid(), generate_uid()
    series = Dataset()
    series.SeriesInstanceUID = series_uid
    study = Dataset()
    study.RTReferencedSeriesSequence = [series]
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_uid
    frame.RTReferencedStudySequence = [study]
    ds.ReferencedFrameOfReferenceSequence = [frame]
    ds.StructureSetROISequence, ds.ROIContourSequence = [], []
    for (number, name), contours in rois.items():
        roi = Dataset()
        roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = number, name, frame_uid
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = []
        for points in contours:
            contour = Dataset()
            contour.ContourGeometricType = (kinds or {}).get(number, "CLOSED_PLANAR")
            contour.NumberOfContourPoints = len(points)
            contour.ContourData = [float(v) for v in np.asarray(points).ravel()]
            item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    ds.save_as(os.fspath(path), enforce_file_format=True)
    return os.fspath(path)


def square(x0, x1, y0, y1, z):
    """A closed square contour in the plane z (LPS mm)."""
    return np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=float)
