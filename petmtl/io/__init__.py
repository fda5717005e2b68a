"""Reading, preprocessing and writing 3-D PET volumes (NIfTI, and DICOM with the
``dicom`` extra).

The typical path from files to the network and back::

    pet, mask, record = prepare_volume("pet.nii.gz", "mask.nii.gz", spacing=2.0,
                                       shape=(64, 64, 64))
    ...  # predict a (64, 64, 64) mask on the network grid
    write_mask_like(record.to_original(pred_mask), "pet.nii.gz", "pred.nii.gz")
"""

from ._cache import PreprocessedCache
from ._convert import ConversionReport, convert_dicom_tree
from ._dataset import NiftiVolumeDataset, collate_volumes
from ._geometry import GeometryRecord, prepare_loaded_volume, prepare_volume
from ._manifest import Manifest, read_manifest, write_manifest
from ._resample import (
    crop_or_pad,
    crop_start,
    extract_window,
    find_center,
    resample_data,
    resample_to_spacing,
    resampled_geometry,
)
from ._sliding import DEFAULT_OVERLAP, sliding_window_predict
from ._volume import (
    Volume,
    canonical_orientation,
    invert_orientation,
    load_mask,
    load_pet,
    to_canonical,
)
from ._write import write_mask_like, write_nifti
from .dicom import read_dicom_mask, read_pet_dicom, read_suv_provenance, write_dicom_seg

__all__ = [
    "DEFAULT_OVERLAP",
    "ConversionReport",
    "GeometryRecord",
    "Manifest",
    "NiftiVolumeDataset",
    "PreprocessedCache",
    "Volume",
    "canonical_orientation",
    "collate_volumes",
    "convert_dicom_tree",
    "crop_or_pad",
    "crop_start",
    "extract_window",
    "find_center",
    "invert_orientation",
    "load_mask",
    "load_pet",
    "prepare_loaded_volume",
    "prepare_volume",
    "read_dicom_mask",
    "read_manifest",
    "read_pet_dicom",
    "read_suv_provenance",
    "resample_data",
    "resample_to_spacing",
    "resampled_geometry",
    "sliding_window_predict",
    "to_canonical",
    "write_dicom_seg",
    "write_manifest",
    "write_mask_like",
    "write_nifti",
]
