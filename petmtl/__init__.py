"""petmtl: multi-task multi-scale learning for outcome prediction in 3D PET.

The multi-task W-Net of Amyar et al. as scikit-learn estimators: a binary outcome
(:class:`MultiTaskPETEstimator`) and time-to-event outcomes (:class:`MultiTaskPETSurvival`).
"""

from .estimator import PAPER_PARAMS, MultiTaskPETEstimator
from .survival import MultiTaskPETSurvival

__version__ = "0.1.0"
__all__ = ["PAPER_PARAMS", "MultiTaskPETEstimator", "MultiTaskPETSurvival", "__version__"]
