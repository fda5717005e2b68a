"""PET quantification: SUV conversion, tumour volumes, SUV statistics and whole-body burden.

:mod:`petmtl.pet.suv` converts activity to SUV and measures one region (MTV, SUV
statistics, a peritumoral shell); :mod:`petmtl.pet.lesions` finds the lesions of a whole
scan by the standard threshold rules; :mod:`petmtl.pet.burden` measures them (number,
TMTV, TLG, dissemination, the disease beyond the primary); :class:`LesionBurden` does
both for a scikit-learn ``Pipeline``.

Units: activity concentration in Bq/ml, body weight in kg, injected dose in Bq, times in
seconds, SUV in g/ml, voxel spacing and distances in mm, volumes in ml.
"""

from .burden import BURDEN_FEATURES, body_extent, body_surface_area, lesion_burden
from .lesions import RULES, detect_lesions, label_lesions, lesion_threshold, liver_reference
from .suv import F18_HALF_LIFE_S, mtv_mask, peritumoral_region, suv_body_weight, suv_stats
from .transformer import LesionBurden

__all__ = [
    "BURDEN_FEATURES",
    "F18_HALF_LIFE_S",
    "RULES",
    "LesionBurden",
    "body_extent",
    "body_surface_area",
    "detect_lesions",
    "label_lesions",
    "lesion_burden",
    "lesion_threshold",
    "liver_reference",
    "mtv_mask",
    "peritumoral_region",
    "suv_body_weight",
    "suv_stats",
]
