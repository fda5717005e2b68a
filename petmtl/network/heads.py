"""Task heads on top of the W: pathology classifier (T3) and outcome predictor (T4)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import make_norm


def _conv(in_channels: int, out_channels: int, norm: str | None) -> list[nn.Module]:
    return [
        nn.Conv3d(in_channels, out_channels, 3, padding=1, bias=norm is None),
        make_norm(norm, out_channels),
        nn.ReLU(inplace=True),
    ]


def global_average_pool(x: torch.Tensor) -> torch.Tensor:
    """Channel-wise global average pooling: (n, c, d, h, w) -> (n, c)."""
    return x.mean(dim=(2, 3, 4))


class PathologyHead(nn.Module):
    """T3: pathology classifier on the encoder bottleneck (paper section 3.1.5).

    Convolution + max-pool, then global average pooling (instead of the paper's
    flatten, so that any input shape works), then the paper's MLP: dense
    ``2 * width`` -> dense ``width`` with ELU and dropout, then the output layer.
    With ``width=64`` the dense layers have the paper's 128 and 64 units.

    Parameters
    ----------
    in_channels : int
        Bottleneck feature maps.
    width : int
        Base width of the head (the network's ``base_width``).
    n_outputs : int
        1 for a binary pathology (sigmoid), ``n_classes`` otherwise (softmax).
    norm : str or None
        Normalisation after the convolution.
    dropout : float
        Dropout after each hidden dense layer (paper: 0.5).
    """

    def __init__(self, in_channels: int, width: int, n_outputs: int,
                 norm: str | None = None, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            *_conv(in_channels, 2 * width, norm), nn.MaxPool3d(2, ceil_mode=True)
        )
        self.classifier = nn.Sequential(
            nn.Linear(2 * width, 2 * width), nn.ELU(), nn.Dropout(dropout),
            nn.Linear(2 * width, width), nn.ELU(), nn.Dropout(dropout),
            nn.Linear(width, n_outputs),
        )

    def forward(self, bottleneck: torch.Tensor) -> torch.Tensor:
        """Return pathology logits of shape (n, n_outputs)."""
        return self.classifier(global_average_pool(self.features(bottleneck)))


class OutcomeHead(nn.Module):
    """T4: multi-scale outcome predictor (paper sections 3.1.2 and 3.1.6).

    The *tumour* branch is a small CNN (2 convs of ``width``, max-pool, 2 convs
    of ``2 * width``, global average pooling) whose input is the PET volume
    gated by the predicted tumour probability, stacked with that probability.
    The *global* branch is the global average pooling of three scales of the
    encoder / segmentation decoder, computed by the W-Net and passed in. The
    concatenation feeds dense layers of ``2 * width``, ``2 * width`` and 1 units.

    Parameters
    ----------
    tumor_channels : int
        Channels of the tumour-branch input (0 disables the branch).
    global_features : int
        Length of the pooled multi-scale vector (0 disables it).
    width : int
        Base width (paper: 64).
    norm : str or None
        Normalisation in the tumour branch.
    dropout : float
        Dropout between the dense layers.
    """

    def __init__(self, tumor_channels: int, global_features: int, width: int,
                 norm: str | None = None, dropout: float = 0.5):
        super().__init__()
        if tumor_channels == 0 and global_features == 0:
            raise ValueError("OutcomeHead needs tumour features, global features or both")
        self.tumor = None
        self.n_global = global_features
        n_features = global_features
        if tumor_channels:
            self.tumor = nn.Sequential(
                *_conv(tumor_channels, width, norm), *_conv(width, width, norm),
                nn.MaxPool3d(2, ceil_mode=True),
                *_conv(width, 2 * width, norm), *_conv(2 * width, 2 * width, norm),
            )
            n_features += 2 * width
        self.n_features = n_features
        self.predictor = nn.Sequential(
            nn.Linear(n_features, 2 * width), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(2 * width, 2 * width), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(2 * width, 1),
        )

    def features(self, tumor_input: torch.Tensor | None,
                 global_features: torch.Tensor | None) -> torch.Tensor:
        """Return the concatenated multi-scale feature vector (n, n_features)."""
        parts = []
        if self.tumor is not None:
            parts.append(global_average_pool(self.tumor(tumor_input)))
        if global_features is not None:
            parts.append(global_features)
        return torch.cat(parts, dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return outcome logits of shape (n,) from :meth:`features`' output."""
        return self.predictor(features).squeeze(1)
