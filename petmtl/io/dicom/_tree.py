"""Finding PET series and their RTSTRUCT / SEG masks in a folder tree."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from . import _rtstruct, _seg_read
from ._files import (
    RTSTRUCT_STORAGE,
    SEG_STORAGE,
    Series,
    dicom_files,
    group_series,
    is_directory,
    read_dataset,
)


@dataclass(eq=False)
class MaskFile:
    """An RTSTRUCT or SEG file and what it refers to.

    Parameters
    ----------
    path : str
    kind : {'RTSTRUCT', 'SEG'}
    series : list of str
        Referenced SeriesInstanceUIDs.
    frame_of_reference : str or None
    rois : dict of int to str
        ROI or segment numbers and names.
    """

    path: str
    kind: str
    series: list
    frame_of_reference: str | None
    rois: dict


@dataclass(eq=False)
class TreeIndex:
    """What :func:`scan_tree` found.

    Parameters
    ----------
    pet : list of Series
    masks : list of MaskFile
    skipped : list of (str, str)
        ``(what, why)`` for every file or series that is neither.
    """

    pet: list = field(default_factory=list)
    masks: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    def masks_for(self, series: Series) -> tuple[list[MaskFile], str]:
        """The mask files of ``series`` and how they were matched.

        A mask belongs to the series it references; failing that, to the only PET series
        in its FrameOfReferenceUID (an RTSTRUCT drawn on the PET/CT's CT).
        """
        direct = [m for m in self.masks if series.uid in m.series]
        if direct:
            return direct, "referenced series"
        frame = str(series.datasets[0].get("FrameOfReferenceUID", "") or "")
        same_frame = [s for s in self.pet
                      if str(s.datasets[0].get("FrameOfReferenceUID", "") or "") == frame]
        if not frame or len(same_frame) != 1:
            return [], ""
        return [m for m in self.masks if m.frame_of_reference == frame and not any(
            uid in {s.uid for s in self.pet} for uid in m.series)], "frame of reference"


def _mask_file(path: str, ds) -> MaskFile:
    if str(ds.get("SOPClassUID", "")) == RTSTRUCT_STORAGE:
        return MaskFile(path, "RTSTRUCT", _rtstruct.referenced_series(ds),
                        _rtstruct.frame_of_reference(ds), _rtstruct.roi_table(ds))
    return MaskFile(path, "SEG", _seg_read.referenced_series(ds),
                    str(ds.get("FrameOfReferenceUID", "") or "") or None,
                    _seg_read.segment_table(ds))


def scan_tree(root) -> TreeIndex:
    """Index the DICOM files under ``root``: PET series, masks, and what else is there.

    Parameters
    ----------
    root : str or path-like

    Returns
    -------
    TreeIndex
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"DICOM folder not found: {root}")
    index = TreeIndex()
    files, datasets = [], []
    for path in dicom_files(root):
        try:
            ds = read_dataset(path)
        except ValueError as exc:
            index.skipped.append((path, str(exc)))
            continue
        sop = str(ds.get("SOPClassUID", "") or "")
        if is_directory(ds):
            index.skipped.append((path, "DICOMDIR (an index of the files)"))
        elif sop in (RTSTRUCT_STORAGE, SEG_STORAGE):
            index.masks.append(_mask_file(path, ds))
        elif not ds.get("SeriesInstanceUID"):
            index.skipped.append((path, "no SeriesInstanceUID"))
        else:
            files.append(path)
            datasets.append(ds)
    for series in group_series(files, datasets).values():
        if series.modality == "PT":
            index.pet.append(series)
        else:
            index.skipped.append((f"series {series.describe()}",
                                  f"not PET (Modality {series.modality})"))
    return index
