"""DICOM PET in and out: SUV by the published rules, RTSTRUCT and SEG masks, SEG writing.

Needs the optional extra ``pip install 'petmtl[dicom]'`` (pydicom, and highdicom for
writing SEG); importing this package does not import them.
"""

from ._attrs import DicomAttributeError
from ._files import is_dicom_dir, is_dicom_file
from ._masks import read_dicom_mask
from ._pet import read_pet_dicom
from ._provenance import read_suv_provenance
from ._seg_write import write_dicom_seg

__all__ = [
    "DicomAttributeError",
    "is_dicom_dir",
    "is_dicom_file",
    "read_dicom_mask",
    "read_pet_dicom",
    "read_suv_provenance",
    "write_dicom_seg",
]
