"""PET quantification: SUV conversion, tumour volumes and SUV statistics.

Units: activity concentration in Bq/ml, body weight in kg, injected dose in Bq, times in
seconds, SUV in g/ml, voxel spacing in mm, volumes in ml.
"""

from .suv import F18_HALF_LIFE_S, mtv_mask, peritumoral_region, suv_body_weight, suv_stats

__all__ = ["F18_HALF_LIFE_S", "mtv_mask", "peritumoral_region", "suv_body_weight", "suv_stats"]
