"""The record of how a PET image was converted, kept in its NIfTI header."""

from __future__ import annotations

import json
import os

import nibabel as nib

_MARKER = b"petmtl-suv-provenance "
_COMMENT = 6  # NIfTI extension code "comment"


def attach_provenance(img: nib.Nifti1Image, record: dict) -> None:
    """Store ``record`` as JSON in a NIfTI comment extension and summarise it in ``descrip``.

    Parameters
    ----------
    img : nibabel.Nifti1Image
    record : dict
        JSON-serialisable.
    """
    text = json.dumps(record, sort_keys=True, default=str).encode("utf-8")
    img.header.extensions.append(nib.nifti1.Nifti1Extension(_COMMENT, _MARKER + text))
    unit = record.get("unit", "")
    quantity = "activity" if record.get("suv") == "bqml" else f"SUV{record.get('suv', '')}"
    summary = (f"{quantity} {unit} from {record.get('units', '?')}, DecayCorrection "
               f"{record.get('decay_correction', 'not used')} (petmtl)")
    img.header["descrip"] = summary.encode("ascii", "replace")[:79]


def strip_provenance(header) -> None:
    """Remove the SUV record (and its ``descrip`` summary) from a copied NIfTI header, e.g.
    of a mask written on a converted PET's grid.

    Parameters
    ----------
    header : nibabel.Nifti1Header
    """
    kept = [ext for ext in header.extensions
            if not (isinstance(ext.get_content(), bytes)
                    and ext.get_content().startswith(_MARKER))]
    if len(kept) != len(header.extensions):
        header.extensions[:] = kept
        if header["descrip"].tobytes().rstrip(b"\0").endswith(b"(petmtl)"):
            header["descrip"] = b""


def read_suv_provenance(image: nib.Nifti1Image | str | os.PathLike) -> dict:
    """The conversion record :func:`read_pet_dicom` stored in a NIfTI image.

    It names the SUV type, the unit, every DICOM attribute read (with its value) and the
    rules applied (decay-correction reference, dose unit, body-size formula, ...), so a
    study can report how SUV was computed. The record survives writing the image with
    :func:`nibabel.save` (e.g. by :func:`petmtl.io.convert_dicom_tree`).

    Parameters
    ----------
    image : nibabel.Nifti1Image or str or path-like
        The image, or a NIfTI file.

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        If the image carries no petmtl SUV record.
    """
    if isinstance(image, (str, os.PathLike)):
        image = nib.load(os.fspath(image))
    if not isinstance(image, nib.Nifti1Image):
        raise TypeError(f"image must be a Nifti1Image or a NIfTI path, got "
                        f"{type(image).__name__}")
    for ext in image.header.extensions:
        content = ext.get_content()
        if isinstance(content, bytes) and content.startswith(_MARKER):
            return json.loads(content[len(_MARKER):].decode("utf-8"))
    raise ValueError("the image carries no petmtl SUV provenance record (was it converted "
                     "by petmtl.io.read_pet_dicom?)")
