"""Reading a 545-slice whole-body PET series from DICOM vs the same volume from NIfTI.

Synthesises, in a temporary folder (never in the repository), a PET DICOM series from
``../shared/data/wholebody-pet/QIN-HEADNECK-01-0139_pet_suvbw.nii.gz`` (168 x 168 x 545,
SUVbw): Units BQML, DecayCorrection START, 75 kg, 370 MBq F-18 injected 60 min before the
scan, six beds with their own AcquisitionTime, int16 pixels with a RescaleSlope per
slice, one file per slice. Then times, alternating A/B after one untimed round of each:

* ``petmtl.io.read_pet_dicom(folder)``: file discovery, headers, slice sorting, the SUV
  rules and pixel decoding, a float32 Nifti1Image in memory;
* ``petmtl.io.load_pet(path)`` of the NIfTI (gzip, as distributed) and of the same volume
  written uncompressed (``.nii``).

Reports the median and spread of each and the DICOM / NIfTI ratio (issue 17's bar: <= 2
against the .nii.gz), plus the largest difference between the SUV read back from DICOM
and the NIfTI (int16 quantisation, about 1/32767 of each slice's maximum).

Usage::

    python benchmarks/dicom_read.py                 # 7 repeats
    python benchmarks/dicom_read.py --repeats 15 --json dicom_read.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT = ROOT.parent / "shared" / "data" / "wholebody-pet" / \
    "QIN-HEADNECK-01-0139_pet_suvbw.nii.gz"
WEIGHT_KG, DOSE_BQ, UPTAKE_S, HALF_LIFE_S = 75.0, 370e6, 3600.0, 6586.2


def synthesise(nifti: Path, folder: Path) -> None:
    """Write the NIfTI's SUV volume as a BQML PET DICOM series, one file per slice."""
    import pydicom
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    img = nib.load(nifti)
    suv = np.asarray(img.dataobj, dtype=np.float64)
    activity = suv * DOSE_BQ * 2 ** (-UPTAKE_S / HALF_LIFE_S) / (WEIGHT_KG * 1e3)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ img.affine
    spacing = np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0))
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    n = suv.shape[2]
    for k in range(n):
        peak = float(activity[:, :, k].max())
        slope = peak / 32767 if peak > 0 else 1.0
        stored = np.round(activity[:, :, k].T / slope).astype("<i2")
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.128"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"PT{k:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, \
            meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.Manufacturer, ds.PatientID = "PT", "SYNTHETIC", "BENCH"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = \
            study, series, frame
        ds.PatientWeight, ds.PatientSize, ds.PatientSex = WEIGHT_KG, 1.75, "M"
        ds.Units, ds.DecayCorrection = "BQML", "START"
        ds.CorrectedImage = ["NORM", "DTIM", "ATTN", "SCAT", "DECY", "RAN"]
        ds.SeriesDate = ds.AcquisitionDate = "20250101"
        ds.SeriesTime = "110000"
        bed = k * 6 // n  # six beds of 2.5 min
        ds.AcquisitionTime = f"11{bed * 2 + bed // 2:02d}{30 * (bed % 2):02d}"
        ds.ActualFrameDuration, ds.FrameReferenceTime = 150000, 75000 + bed * 150000
        item = Dataset()
        item.RadiopharmaceuticalStartDateTime = "20250101100000"
        item.RadionuclideTotalDose, item.RadionuclideHalfLife = DOSE_BQ, HALF_LIFE_S
        ds.RadiopharmaceuticalInformationSequence = [item]
        ds.ImagePositionPatient = [float(v) for v in lps[:3, :3] @ [0, 0, k] + lps[:3, 3]]
        ds.ImageOrientationPatient = [float(v) for v in np.concatenate(
            [lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1]])]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]
        ds.SliceThickness = float(spacing[2])
        ds.Rows, ds.Columns = stored.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = slope, 0.0
        ds.InstanceNumber = k + 1
        ds.PixelData = stored.tobytes()
        ds.save_as(path, enforce_file_format=True)
    del pydicom


def _time(func, arg) -> float:
    start = time.perf_counter()
    out = func(arg)
    elapsed = time.perf_counter() - start
    del out
    return elapsed


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nifti", type=Path, default=DEFAULT)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from petmtl.io import load_pet, read_pet_dicom

    with tempfile.TemporaryDirectory(prefix="petmtl-dicom-bench-") as tmp:
        folder = Path(tmp) / "series"
        folder.mkdir()
        start = time.perf_counter()
        synthesise(args.nifti, folder)
        print(f"wrote {len(os.listdir(folder))} slices in {time.perf_counter() - start:.1f} s")
        plain = Path(tmp) / "pet.nii"
        nib.save(nib.load(args.nifti), plain)
        readers = {
            "dicom read_pet_dicom": (read_pet_dicom, folder),
            "nifti.gz load_pet": (load_pet, args.nifti),
            "nifti load_pet": (load_pet, plain),
        }
        dicom = np.asarray(read_pet_dicom(folder).dataobj)  # warm-up and check
        reference = load_pet(args.nifti).data
        for func, arg in readers.values():
            func(arg)
        times = {name: [] for name in readers}
        for _ in range(args.repeats):
            for name, (func, arg) in readers.items():
                times[name].append(_time(func, arg))
    rel = np.abs(dicom - reference) / np.maximum(reference.max(axis=(0, 1)), 1e-12)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"Python {platform.python_version()}",
        "shape": list(reference.shape), "repeats": args.repeats,
        "median_s": {k: statistics.median(v) for k, v in times.items()},
        "min_s": {k: min(v) for k, v in times.items()},
        "max_s": {k: max(v) for k, v in times.items()},
        "max_difference_over_slice_max": float(rel.max()),
    }
    med = result["median_s"]
    result["ratio_dicom_over_nifti_gz"] = med["dicom read_pet_dicom"] / med["nifti.gz load_pet"]
    result["ratio_dicom_over_nifti"] = med["dicom read_pet_dicom"] / med["nifti load_pet"]
    print(f"{'reader':<22} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name in readers:
        print(f"{name:<22} {med[name]:>9.3f} {result['min_s'][name]:>7.3f} "
              f"{result['max_s'][name]:>7.3f}")
    print(f"DICOM / NIfTI.gz = {result['ratio_dicom_over_nifti_gz']:.2f}, DICOM / NIfTI = "
          f"{result['ratio_dicom_over_nifti']:.2f}; largest |SUV difference| / slice max "
          f"{result['max_difference_over_slice_max']:.2g}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
