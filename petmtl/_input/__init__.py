"""The input layer: every way data enters petmtl, checked once and read lazily.

- :mod:`.volumes`: PET volumes as arrays or NIfTI paths (:class:`PathVolumes`);
- :mod:`.masks`: tumour masks beside them, arrays or paths, with missing entries;
- :mod:`.covariates`: X as a table of images and clinical covariates;
- :mod:`.fit_data`: the training data of a fit: masks and every task's targets;
- :mod:`.loading`: torch datasets and loaders over both, and intensity statistics.

Task labels and their one missing-label convention live in :mod:`petmtl._labels`.
"""

from .covariates import covariate_matrix, fit_covariates, split_table
from .fit_data import FitData, OutcomeData, check_fit_data
from .loading import (
    FileReads,
    TaskDataset,
    intensity_scaling,
    iterate_files,
    prediction_loader,
    read_file,
    training_loaders,
)
from .masks import check_array_masks, check_masks
from .volumes import PathVolumes, as_volumes, check_volumes, is_path_input, take

__all__ = [
    "FileReads", "FitData", "OutcomeData", "PathVolumes", "TaskDataset", "as_volumes",
    "check_array_masks", "check_fit_data", "check_masks", "check_volumes", "covariate_matrix",
    "fit_covariates", "intensity_scaling", "is_path_input", "iterate_files",
    "prediction_loader", "read_file", "split_table", "take", "training_loaders",
]
