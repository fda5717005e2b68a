"""Synthetic thoracic FDG-PET cohorts for examples, tests and benchmarks.

:func:`make_pet_cohort` draws a cohort of 3-D PET volumes (SUV, g/ml) of lung or oesophageal
cancer with 40 %-SUVmax tumour masks, a pathology label and a binary outcome that depends on
tumour, peritumoral and whole-image features, so that the multi-scale design of the W-Net
(Amyar et al.) has something to find, and optionally clinical covariates with their own
share of the outcome. :func:`write_cohort` saves such a cohort as NIfTI files plus a
``manifest.csv``.
"""

from ._cohort import make_pet_cohort
from ._write import write_cohort

__all__ = ["make_pet_cohort", "write_cohort"]
