"""The expanding path used twice, for reconstruction (T1) and segmentation (T2)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvPair


class Decoder(nn.Module):
    """U-Net decoder: upsample, concatenate the encoder skip, halve the width.

    The reconstruction and segmentation decoders share this structure and
    differ only in what follows the last 1x1x1 convolution (identity for T1,
    a sigmoid applied in the loss / at prediction for T2), which together with
    the shared encoder forms the W of the paper's figure 3.

    Parameters
    ----------
    widths : list of int
        Encoder widths, shallowest first.
    out_channels : int
        Channels of the output map.
    norm : str or None
        See :func:`petmtl.network.blocks.make_norm`.
    """

    def __init__(self, widths: list[int], out_channels: int = 1, norm: str | None = None):
        super().__init__()
        deep = list(reversed(widths))  # bottleneck first
        self.upsample = nn.ModuleList(
            nn.ConvTranspose3d(deep[i], deep[i + 1], kernel_size=2, stride=2)
            for i in range(len(deep) - 1)
        )
        self.levels = nn.ModuleList(
            ConvPair(2 * deep[i + 1], deep[i + 1], norm) for i in range(len(deep) - 1)
        )
        self.head = nn.Conv3d(widths[0], out_channels, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Decode encoder ``features`` (shallowest first).

        Returns
        -------
        output : torch.Tensor
            The 1x1x1 convolution output (logits), at the input resolution.
        levels : list of torch.Tensor
            The feature maps of every decoder level, deepest first.
        """
        x = features[-1]
        levels = []
        for up, level, skip in zip(self.upsample, self.levels, reversed(features[:-1]),
                                   strict=True):
            x = level(torch.cat([up(x), skip], dim=1))
            levels.append(x)
        return self.head(x), levels
