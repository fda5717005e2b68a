"""Finding DICOM files in folders, reading them and grouping them into series."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._deps import import_pydicom
from ._raw import element_value

PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
ENHANCED_PET_STORAGE = ("1.2.840.10008.5.1.4.1.1.130", "1.2.840.10008.5.1.4.1.1.128.1")
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR: an index of the files, not an image
# Elements larger than this are read only when used (pixel data of series not chosen).
_DEFER_BYTES = 4096


def is_dicom_file(path) -> bool:
    """Whether ``path`` is a file with the DICOM Part 10 preamble (``DICM`` at byte 128).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    bool
    """
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def dicom_files(directory, *, recursive: bool = True) -> list[str]:
    """DICOM Part 10 files in ``directory`` (and its subfolders), in a stable order.

    Parameters
    ----------
    directory : str or path-like
    recursive : bool, default=True

    Returns
    -------
    list of str
    """
    directory = os.fspath(directory)
    found = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, n) for n in sorted(names)
                     if not n.startswith(".") and is_dicom_file(os.path.join(root, n)))
        if not recursive:
            break
    return found


def is_dicom_dir(path) -> bool:
    """Whether ``path`` is a folder holding at least one DICOM file (subfolders included).

    Parameters
    ----------
    path : str or path-like
        A folder (anything else gives False).

    Returns
    -------
    bool
    """
    if not os.path.isdir(path):
        return False
    for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(is_dicom_file(os.path.join(root, n)) for n in names if not n.startswith(".")):
            return True
    return False


def read_dataset(path: str, *, defer: bool = True):
    """Read one DICOM file; large elements (pixel data) are read when first used.

    Parameters
    ----------
    path : str
    defer : bool, default=True
        Defer reading elements larger than a few kB until they are accessed.

    Returns
    -------
    pydicom.Dataset
    """
    pydicom = import_pydicom()
    try:
        return pydicom.dcmread(path, defer_size=_DEFER_BYTES if defer else None)
    except Exception as exc:  # pydicom raises many types for damaged files
        raise ValueError(f"Cannot read DICOM file {path}: {exc}") from exc


@dataclass(eq=False)
class Series:
    """The files of one DICOM series (same SeriesInstanceUID).

    Parameters
    ----------
    uid : str
    modality : str
    sop_class : str
    description : str
    files : list of str
    datasets : list of pydicom.Dataset
    """

    uid: str
    modality: str
    sop_class: str
    description: str
    files: list = field(default_factory=list)
    datasets: list = field(default_factory=list)

    @property
    def folders(self) -> list[str]:
        """Folders holding the series' files."""
        return sorted({os.path.dirname(f) for f in self.files})

    def describe(self) -> str:
        """One-line summary: UID, modality, description, file count and folder."""
        where = ", ".join(self.folders[:2]) + (" ..." if len(self.folders) > 2 else "")
        return (f"{self.uid} ({self.modality}, {self.description!r}, {len(self.files)} "
                f"file(s) in {where})")


def group_series(files: Iterable[str], datasets: Iterable) -> dict[str, Series]:
    """Group datasets by SeriesInstanceUID, keeping the files' order.

    Parameters
    ----------
    files : iterable of str
    datasets : iterable of pydicom.Dataset

    Returns
    -------
    dict of str to Series
    """
    out: dict[str, Series] = {}
    for path, ds in zip(files, datasets, strict=True):
        uid = str(element_value(ds, "SeriesInstanceUID") or "")
        if not uid:
            raise ValueError(f"{path}: SeriesInstanceUID (0020,000E) is missing")
        if uid not in out:
            out[uid] = Series(uid=uid, modality=str(ds.get("Modality", "") or "?"),
                              sop_class=str(ds.get("SOPClassUID", "") or ""),
                              description=str(ds.get("SeriesDescription", "") or ""))
        out[uid].files.append(path)
        out[uid].datasets.append(ds)
    return out


def read_series(directory) -> dict[str, Series]:
    """Every DICOM series under ``directory``, headers read and pixel data deferred.

    Parameters
    ----------
    directory : str or path-like

    Returns
    -------
    dict of str to Series

    Raises
    ------
    FileNotFoundError
        If ``directory`` is not a folder.
    ValueError
        If it holds no DICOM file, or a file cannot be read.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"DICOM folder not found: {directory}")
    files = dicom_files(directory)
    datasets = [read_dataset(f) for f in files]
    kept = [(f, ds) for f, ds in zip(files, datasets, strict=True) if not is_directory(ds)]
    if not kept:
        raise ValueError(f"No DICOM file (with the DICM preamble) found in {directory}")
    return group_series(*zip(*kept, strict=True))


def is_directory(ds) -> bool:
    """Whether ``ds`` is a DICOMDIR (Media Storage Directory), which indexes files."""
    meta = getattr(ds, "file_meta", None)
    sop = element_value(meta, "MediaStorageSOPClassUID") if meta is not None else None
    return str(sop or "") == MEDIA_DIRECTORY


def is_image_series(series: Series) -> bool:
    """Whether the series holds images with a position in space (not RTSTRUCT, SEG, ...)."""
    ds = series.datasets[0]
    return "ImagePositionPatient" in ds and "Rows" in ds and series.sop_class not in (
        SEG_STORAGE, RTSTRUCT_STORAGE)


def select_series(series: dict[str, Series], *, series_uid: str | None, where: str,
                  pet: bool = True, preferred: Iterable[str] = ()) -> Series:
    """The one PET (or image) series of a folder, or the one named by ``series_uid``.

    Parameters
    ----------
    series : dict of str to Series
    series_uid : str or None
    where : str
        The folder, for messages.
    pet : bool, default=True
        Choose among PET series (Modality PT); otherwise among all image series.
    preferred : iterable of str
        UIDs to choose among first when several series qualify (e.g. those a mask
        references).

    Returns
    -------
    Series
    """
    if series_uid is not None:
        if series_uid not in series:
            raise ValueError(f"series_uid={series_uid!r} is not in {where}; series found: "
                             + "; ".join(s.describe() for s in series.values()))
        chosen = series[series_uid]
        if pet:
            check_pet_series(chosen)
        return chosen
    kind = "PET (Modality PT)" if pet else "image"
    candidates = [s for s in series.values()
                  if (s.modality == "PT" if pet else is_image_series(s))]
    preferred = [s for s in candidates if s.uid in set(preferred)]
    candidates = preferred or candidates
    if not candidates:
        found = "; ".join(s.describe() for s in series.values())
        raise ValueError(f"No {kind} series in {where}; series found: {found}")
    if len(candidates) > 1:
        raise ValueError(f"{where} holds {len(candidates)} {kind} series; choose one with "
                         "series_uid=: " + "; ".join(s.describe() for s in candidates))
    if pet:
        check_pet_series(candidates[0])
    return candidates[0]


def check_pet_series(series: Series) -> None:
    """Refuse what is not a classic (one slice per file) PET image series."""
    if series.modality != "PT":
        raise ValueError(f"Series {series.describe()} is not PET: Modality (0008,0060) is "
                         f"{series.modality!r}, expected 'PT'")
    if series.sop_class in ENHANCED_PET_STORAGE:
        raise ValueError(f"Series {series.describe()} is an enhanced (multi-frame) PET object "
                         f"(SOPClassUID {series.sop_class}); petmtl reads PET Image Storage "
                         f"({PET_IMAGE_STORAGE}), one slice per file")
    if series.sop_class != PET_IMAGE_STORAGE:
        raise ValueError(f"Series {series.describe()} has SOPClassUID {series.sop_class!r}, "
                         f"not PET Image Storage ({PET_IMAGE_STORAGE})")
