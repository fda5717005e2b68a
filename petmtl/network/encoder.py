"""The shared 3D U-Net encoder (paper section 3.1.1)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvPair


class Encoder(nn.Module):
    """Shared contracting path of the W-Net.

    Level ``k`` (``k = 0 .. depth - 1``) is a :class:`ConvPair` of width
    ``base_width * 2**k``; a 2x2x2 max-pool follows every level but the last
    (the bottleneck), which is followed by dropout. With ``base_width=64`` and
    ``depth=5`` this is the paper's encoder (64 -> 1024 feature maps, 10 convs).

    Parameters
    ----------
    in_channels : int
        Channels of the input volume (1 for PET).
    base_width : int
        Feature maps of the first level.
    depth : int
        Number of levels, including the bottleneck.
    norm : str or None
        See :func:`petmtl.network.blocks.make_norm`.
    dropout : float
        Dropout probability after the bottleneck (paper: 0.5).
    """

    def __init__(self, in_channels: int, base_width: int, depth: int,
                 norm: str | None = None, dropout: float = 0.5):
        super().__init__()
        self.widths = [base_width * 2**k for k in range(depth)]
        channels = [in_channels, *self.widths]
        self.levels = nn.ModuleList(
            ConvPair(channels[k], channels[k + 1], norm) for k in range(depth)
        )
        self.pool = nn.MaxPool3d(2)
        self.dropout = nn.Dropout3d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the feature maps of every level, shallowest first."""
        features = []
        for k, level in enumerate(self.levels):
            if k > 0:
                x = self.pool(x)
            x = level(x)
            features.append(x)
        features[-1] = self.dropout(features[-1])
        return features
