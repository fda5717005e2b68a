"""Converting a tree of DICOM folders into SUV NIfTI files, masks and a manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ._manifest import write_manifest
from ._volume import PathLike
from ._write import _atomic_save
from .dicom._masks import read_dicom_mask
from .dicom._pet import series_to_nifti
from .dicom._suv import check_suv
from .dicom._tree import scan_tree


@dataclass(eq=False)
class ConversionReport:
    """What :func:`convert_dicom_tree` wrote and what it skipped.

    Parameters
    ----------
    manifest : str or None
        The manifest CSV (None when nothing was converted).
    converted : list of dict
        One row per PET series: ``patient_id``, ``pet_path``, ``series_uid``, ``source``
        (its folders), ``mask_path``, ``mask_file`` (the RTSTRUCT/SEG) and ``mask_source``
        (how it was matched); the last three None without a mask.
    skipped : list of (str, str)
        ``(what, why)``: files, series and masks left out, with the reason.
    """

    manifest: str | None
    converted: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"converted {len(self.converted)} PET series"
                 + (f" (manifest {self.manifest})" if self.manifest else "")]
        for row in self.converted:
            mask = f", mask from {row['mask_source']}" if row["mask_path"] else ", no mask"
            lines.append(f"  {row['patient_id']}: {row['source']}{mask}")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}:")
            lines.extend(f"  {what}: {why}" for what, why in self.skipped)
        return "\n".join(lines)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "patient"


def _patient_ids(series_list) -> list[str]:
    """PatientID per series; repeated ones get ``_s<SeriesNumber>``, then a counter."""
    ids = [_safe(str(s.datasets[0].get("PatientID", "") or "")
                 or os.path.basename(s.folders[0])) for s in series_list]
    ids = [i if ids.count(i) == 1 else f"{i}_s{s.datasets[0].get('SeriesNumber', '')}"
           for i, s in zip(ids, series_list, strict=True)]
    repeated = {i for i in ids if ids.count(i) > 1}
    counters = dict.fromkeys(repeated, 0)
    out = []
    for i in ids:
        if i in repeated:
            counters[i] += 1
            i = f"{i}_{counters[i]}"
        out.append(i)
    return out


def _convert_mask(index, series, img, pid, out_masks, roi, skipped) -> dict:
    """Write the series' mask; return the manifest row's mask fields."""
    none = {"mask_path": None, "mask_file": None, "mask_source": None}
    candidates, how = index.masks_for(series)
    if not candidates:
        return none
    if len(candidates) > 1:
        skipped.append((f"masks of {pid}", "several RTSTRUCT/SEG files refer to its series: "
                        + ", ".join(m.path for m in candidates)))
        return none
    found = candidates[0]
    if roi is None and len(found.rois) > 1:
        names = ", ".join(f"{k}: {v!r}" for k, v in found.rois.items())
        skipped.append((found.path, f"{len(found.rois)} ROIs ({names}); choose one with roi="))
        return none
    try:
        mask = read_dicom_mask(found.path, img, roi=roi)
    except (ValueError, TypeError) as exc:
        skipped.append((found.path, str(exc)))
        return none
    return {"mask_path": _atomic_save(mask, os.path.join(out_masks, f"{pid}_mask.nii.gz")),
            "mask_file": found.path,
            "mask_source": f"{found.path} ({found.kind}, matched by {how})"}


def convert_dicom_tree(root: PathLike, out_dir: PathLike, *, suv: str = "bw", roi=None,
                       irregular: str = "error",
                       manifest_name: str = "manifest.csv") -> ConversionReport:
    """Convert every PET series under ``root`` to SUV NIfTI, with its mask, and a manifest.

    Each PET series (one patient or many, in any folder layout) is read with
    :func:`read_pet_dicom` and written as ``images/<patient_id>_pet.nii.gz`` (float32,
    with the SUV provenance record). An RTSTRUCT or SEG that references the series (or,
    failing that, lies in the frame of reference of no other PET series, e.g. drawn on
    the PET/CT's CT) becomes ``masks/<patient_id>_mask.nii.gz`` on the PET grid. The
    manifest (``patient_id, pet_path, mask_path``) is readable by :func:`read_manifest`
    and ``petmtl fit``. Series that cannot be converted are skipped with the reason;
    nothing is converted by guesswork.

    Parameters
    ----------
    root : str or path-like
        The folder tree to search.
    out_dir : str or path-like
        Output folder (created if missing).
    suv : str, default='bw'
        As for :func:`read_pet_dicom`.
    roi : int, str or sequence, optional
        The ROI/segment to take from masks with several (their union for a sequence);
        masks with several ROIs are skipped without it.
    irregular : {'error', 'resample'}, default='error'
        As for :func:`read_pet_dicom`.
    manifest_name : str, default='manifest.csv'
        File name of the manifest inside ``out_dir``.

    Returns
    -------
    ConversionReport
        Printing it lists what was converted and what was skipped, and why.

    Raises
    ------
    ImportError
        If pydicom is not installed.
    FileNotFoundError
        If ``root`` is not a folder.
    """
    check_suv(suv)
    out_dir = os.fspath(out_dir)
    out_images, out_masks = os.path.join(out_dir, "images"), os.path.join(out_dir, "masks")
    index = scan_tree(root)
    skipped = list(index.skipped)
    series_list = sorted(index.pet, key=lambda s: (str(s.datasets[0].get("PatientID", "")),
                                                   s.folders[0], s.uid))
    rows = []
    for series, pid in zip(series_list, _patient_ids(series_list), strict=True):
        where = ", ".join(series.folders)
        try:
            img = series_to_nifti(series, suv=suv, irregular=irregular, where=where)
        except (ValueError, TypeError) as exc:
            skipped.append((f"series {series.describe()}", str(exc)))
            continue
        os.makedirs(out_images, exist_ok=True)
        os.makedirs(out_masks, exist_ok=True)
        pet_path = _atomic_save(img, os.path.join(out_images, f"{pid}_pet.nii.gz"))
        rows.append({"patient_id": pid, "pet_path": pet_path, "series_uid": series.uid,
                     "source": where,
                     **_convert_mask(index, series, img, pid, out_masks, roi, skipped)})
    manifest = None
    if rows:
        manifest = write_manifest(os.path.join(out_dir, manifest_name),
                                  [r["patient_id"] for r in rows], [r["pet_path"] for r in rows],
                                  [r["mask_path"] for r in rows])
    used = {r["mask_file"] for r in rows}
    skipped_paths = {what for what, _ in skipped}
    for m in index.masks:
        if m.path not in used and m.path not in skipped_paths:
            skipped.append((m.path, f"{m.kind} refers to no converted PET series"))
    return ConversionReport(manifest=manifest, converted=rows, skipped=skipped)
