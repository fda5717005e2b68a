"""petmtl: multi-task multi-scale learning for outcome prediction in 3D PET.

The multi-task W-Net of Amyar et al. as a scikit-learn estimator.
"""

from .estimator import PAPER_PARAMS, MultiTaskPETEstimator

__version__ = "0.1.0"
__all__ = ["PAPER_PARAMS", "MultiTaskPETEstimator", "__version__"]
