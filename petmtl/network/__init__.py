"""The W-Net of Amyar et al., as small composable PyTorch modules.

``blocks`` (conv pairs, norms) -> ``encoder`` (shared) -> ``decoder`` (used for
T1 reconstruction and T2 segmentation) -> ``heads`` (T3 pathology, T4 outcome)
-> ``wnet`` (the assembly of figure 3).
"""

from .blocks import ConvPair, make_norm
from .decoder import Decoder
from .encoder import Encoder
from .heads import OutcomeHead, PathologyHead, global_average_pool
from .wnet import OUTCOME_FEATURES, OUTPUTS, MultiTaskWNet

__all__ = [
    "ConvPair", "Decoder", "Encoder", "MultiTaskWNet", "OUTCOME_FEATURES", "OUTPUTS", "OutcomeHead",
    "PathologyHead", "global_average_pool", "make_norm",
]
