"""petmtl: multi-task multi-scale learning for outcome prediction in 3D PET.

The multi-task W-Net of Amyar et al. as a scikit-learn estimator.
"""

from .estimator import MultiTaskPETEstimator

__version__ = "0.1.0"
__all__ = ["MultiTaskPETEstimator", "__version__"]
