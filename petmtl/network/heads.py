"""Task heads on top of the W: pathology classifier (T3) and outcome predictor (T4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
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

    Convolution + max-pool, then the paper's flatten, taken over a fixed
    ``grid x grid x grid`` average-pooled map so that any input shape works and the
    head still sees *where* the features are (``grid=1`` is global average pooling,
    which loses position), optionally joined by ``n_extra`` standardised descriptors
    (the predicted tumour's location and extent), then the paper's MLP: dense
    ``2 * width`` -> dense ``width`` with ELU and dropout, then the output layer. With
    ``width=64`` the dense layers have the paper's 128 and 64 units.

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
    grid : int, default=2
        Side of the pooled map that is flattened.
    n_extra : int, default=0
        Length of the descriptor vector passed to :meth:`forward`.
    """

    def __init__(self, in_channels: int, width: int, n_outputs: int,
                 norm: str | None = None, dropout: float = 0.5, *, grid: int = 2,
                 n_extra: int = 0):
        super().__init__()
        self.grid = grid
        self.features = nn.Sequential(
            *_conv(in_channels, 2 * width, norm), nn.MaxPool3d(2, ceil_mode=True)
        )
        n_in = 2 * width * grid**3 + n_extra
        self.classifier = nn.Sequential(
            nn.Linear(n_in, 2 * width), nn.ELU(), nn.Dropout(dropout),
            nn.Linear(2 * width, width), nn.ELU(), nn.Dropout(dropout),
            nn.Linear(width, n_outputs),
        )

    def forward(self, bottleneck: torch.Tensor, extra: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Return pathology logits of shape (n, n_outputs)."""
        pooled = F.adaptive_avg_pool3d(self.features(bottleneck), self.grid).flatten(1)
        if extra is not None:
            pooled = torch.cat([pooled, extra], dim=1)
        return self.classifier(pooled)


class OutcomeHead(nn.Module):
    """T4: multi-scale outcome predictor (paper sections 3.1.2 and 3.1.6).

    The *tumour* branch is a small CNN (2 convs of ``width``, max-pool, 2 convs
    of ``2 * width``, global average pooling) whose input is the PET volume
    gated by the predicted tumour probability, stacked with that probability.
    The *global* branch is the global average pooling of three scales of the
    encoder / segmentation decoder, computed by the W-Net and passed in, optionally
    joined by ``n_descriptors`` standardised PET descriptors
    (:class:`~petmtl.network.descriptors.PETDescriptors`). The concatenation feeds dense
    layers of ``2 * width``, ``2 * width`` and ``n_outputs`` units; with descriptors, a
    linear term of the descriptors is added to that logit, so the head starts from what a
    logistic regression on them would learn and the deep features add to it.

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
    n_descriptors : int, default=0
        Length of the descriptor vector.
    n_outputs : int, default=1
        Outputs: 1 (a binary logit or a Cox log-risk) or one hazard logit per time bin.
    refittable : bool, default=False
        Also hold a linear map of the features that replaces the dense layers once
        :meth:`set_linear` gives it its weights (see :mod:`petmtl.training.refit`).
    n_clinical : int, default=0
        Length of the (preprocessed) clinical covariate vector.
    fusion : {"late", "film"}, default="late"
        How the covariates join the image. ``"late"``: beside the image features and the
        descriptors, into the dense layers and the linear path (and the refit).
        ``"film"`` also conditions the image features on them (feature-wise linear
        modulation, as in DAFT: ``f * (1 + gamma(c)) + beta(c)`` with ``gamma`` and
        ``beta`` linear in the covariates ``c``, starting at the identity).

    Notes
    -----
    The feature vector is laid out as ``[image features, covariates, descriptors]``; the
    linear path reads the last two.
    """

    def __init__(self, tumor_channels: int, global_features: int, width: int,
                 norm: str | None = None, dropout: float = 0.5, *, n_descriptors: int = 0,
                 n_outputs: int = 1, refittable: bool = False, n_clinical: int = 0,
                 fusion: str = "late"):
        super().__init__()
        if tumor_channels == 0 and global_features == 0:
            raise ValueError("OutcomeHead needs tumour features, global features or both")
        self.n_descriptors = n_descriptors
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
        if fusion not in ("late", "film"):
            raise ValueError(f"fusion must be 'late' or 'film', got {fusion!r}")
        self.n_clinical = n_clinical
        self.film = None
        if n_clinical and fusion == "film":  # starts at the identity: gamma = beta = 0
            self.film = nn.Linear(n_clinical, 2 * n_features)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
        self.n_wide = n_clinical + n_descriptors
        n_features += self.n_wide
        self.n_features = n_features
        self.refittable = refittable
        if refittable:  # buffers, not parameters: set by a refit, never by gradients
            self.register_buffer("linear_weight", torch.zeros(n_outputs, n_features))
            self.register_buffer("linear_bias", torch.zeros(n_outputs))
            self.register_buffer("refitted", torch.tensor(False))
        self.wide = None
        if self.n_wide:  # starts at zero: covariates and descriptors earn their weight
            self.wide = nn.Linear(self.n_wide, n_outputs, bias=False)
            nn.init.zeros_(self.wide.weight)
        self.predictor = nn.Sequential(
            nn.Linear(n_features, 2 * width), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(2 * width, 2 * width), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(2 * width, n_outputs),
        )

    def features(self, tumor_input: torch.Tensor | None,
                 global_features: torch.Tensor | None,
                 descriptors: torch.Tensor | None = None,
                 clinical: torch.Tensor | None = None) -> torch.Tensor:
        """Return the concatenated multi-scale feature vector (n, n_features).

        Laid out as ``[image features, covariates, descriptors]`` (see the class notes).
        """
        parts = []
        if self.tumor is not None:
            parts.append(global_average_pool(self.tumor(tumor_input)))
        if global_features is not None:
            parts.append(global_features)
        image = torch.cat(parts, dim=1)
        if self.n_clinical:
            if clinical is None or clinical.shape != (len(image), self.n_clinical):
                got = None if clinical is None else tuple(clinical.shape)
                raise ValueError(f"clinical must have shape (n, {self.n_clinical}) for this "
                                 f"T4; got {got}")
            clinical = clinical.to(image.dtype)
            if self.film is not None:
                gamma, beta = self.film(clinical).chunk(2, dim=1)
                image = image * (1.0 + gamma) + beta
        extra = [t for t, n in ((clinical, self.n_clinical), (descriptors, self.n_descriptors))
                 if n]
        return torch.cat([image, *extra], dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Outcome logits from :meth:`features`' output: (n,), or (n, n_outputs) when > 1."""
        if self.refittable and bool(self.refitted):
            logit = F.linear(features, self.linear_weight, self.linear_bias)
        else:
            logit = self.predictor(features)
            if self.wide is not None:
                logit = logit + self.wide(features[:, -self.n_wide:])
        return logit.squeeze(1) if logit.shape[1] == 1 else logit

    def set_linear(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Replace the dense layers by the linear map ``features @ weight.T + bias``."""
        with torch.no_grad():
            self.linear_weight.copy_(weight)
            self.linear_bias.copy_(bias)
            self.refitted.fill_(True)
