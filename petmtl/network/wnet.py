"""The W assembly: shared encoder, two decoders, T3 and T4 (paper figure 3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .decoder import Decoder
from .encoder import Encoder
from .heads import OutcomeHead, PathologyHead, global_average_pool

OUTCOME_FEATURES = ("both", "global", "tumor")
TUMOR_PRIOR_LOGIT = -4.6  # sigmoid(-4.6) ~ 0.01


class MultiTaskWNet(nn.Module):
    """Multi-task, multi-scale W-Net of Amyar et al.

    Parameters
    ----------
    base_width : int
        Feature maps of the first encoder level (paper: 64).
    depth : int
        Encoder levels including the bottleneck (paper: 5). At least 2.
    reconstruction : bool
        Build the T1 reconstruction decoder.
    segmentation : bool
        Build the T2 segmentation decoder.
    n_pathology_outputs : int
        0 disables T3; 1 is a binary classifier; ``k > 2`` a k-class softmax.
    outcome_features : {"both", "global", "tumor"}
        Inputs of T4. ``"global"``: pooled features of three scales (the two
        deepest encoder levels and the first level of the segmentation decoder,
        or of the reconstruction decoder when T2 is off). ``"tumor"``: the CNN
        branch on the PET gated by the predicted tumour probability; when T2 is
        off there is no gate and the branch sees the whole input (the paper's
        "T3 & T4" row with neither feature family ticked). ``"both"``: the
        concatenation (the paper's multi-scale model).
    norm : str or None
        Normalisation in every convolution block; ``None`` is the paper's.
    dropout : float
        Dropout after the bottleneck and in the dense layers (paper: 0.5).

    Notes
    -----
    Inputs of any spatial shape are zero-padded to a multiple of
    ``2 ** (depth - 1)`` and every spatial output is cropped back, so outputs
    always have the input's shape.
    """

    def __init__(self, base_width: int = 16, depth: int = 4, *, reconstruction: bool = True,
                 segmentation: bool = True, n_pathology_outputs: int = 1,
                 outcome_features: str = "both", norm: str | None = "batch",
                 dropout: float = 0.5):
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be >= 2, got {depth}")
        if outcome_features not in OUTCOME_FEATURES:
            raise ValueError(
                f"outcome_features must be one of {OUTCOME_FEATURES}, got {outcome_features!r}")
        self.depth = depth
        self.outcome_features = outcome_features
        self.encoder = Encoder(1, base_width, depth, norm, dropout)
        widths = self.encoder.widths
        self.reconstruction = Decoder(widths, 1, norm) if reconstruction else None
        self.segmentation = Decoder(widths, 1, norm) if segmentation else None
        if self.segmentation is not None:
            # Tumours fill ~1% of a PET volume. Starting the sigmoid near that prior
            # instead of 0.5 spares the first epochs the work of switching off the
            # background, which otherwise stalls segmentation trained without T1.
            nn.init.constant_(self.segmentation.head.bias, TUMOR_PRIOR_LOGIT)
        self.pathology = (PathologyHead(widths[-1], base_width, n_pathology_outputs, norm, dropout)
                          if n_pathology_outputs else None)
        use_global = outcome_features in ("both", "global")
        use_tumor = outcome_features in ("both", "tumor")
        n_global = 0
        if use_global:
            n_global = widths[-1] + widths[-2]
            if reconstruction or segmentation:
                n_global += widths[-2]
            elif depth > 2:
                n_global += widths[-3]
        tumor_channels = (2 if segmentation else 1) if use_tumor else 0
        self.outcome = OutcomeHead(tumor_channels, n_global, base_width, norm, dropout)

    @property
    def divisor(self) -> int:
        """Spatial sides are padded internally to a multiple of this."""
        return 2 ** (self.depth - 1)

    def forward(self, x: torch.Tensor, *, return_intermediates: bool = False
                ) -> dict[str, torch.Tensor]:
        """Run every enabled task.

        Parameters
        ----------
        x : torch.Tensor of shape (n, 1, D, H, W)
            Intensity-scaled PET volumes.
        return_intermediates : bool
            Also return the feature maps of every scale (for Grad-CAM), under
            ``"encoder"`` and ``"segmentation_levels"`` / ``"reconstruction_levels"``.

        Returns
        -------
        dict of torch.Tensor
            ``"outcome"`` logits (n,), ``"features"`` the T4 input vector, and
            when enabled ``"reconstruction"`` (n, 1, D, H, W), ``"segmentation"``
            logits (n, 1, D, H, W) and ``"pathology"`` logits (n, k).
        """
        if x.ndim != 5 or x.shape[1] != 1:
            raise ValueError(f"x must have shape (n, 1, D, H, W), got {tuple(x.shape)}")
        spatial = x.shape[2:]
        pads = [(-s) % self.divisor for s in spatial]
        if any(pads):
            x = F.pad(x, [0, pads[2], 0, pads[1], 0, pads[0]])
        encoded = self.encoder(x)
        out: dict[str, torch.Tensor] = {}
        decoder_levels = []
        if return_intermediates:
            out["encoder"] = encoded
        for name in ("reconstruction", "segmentation"):
            decoder = getattr(self, name)
            if decoder is not None:
                out[name], levels = decoder(encoded)
                decoder_levels = levels
                if return_intermediates:
                    out[f"{name}_levels"] = levels
        if self.pathology is not None:
            out["pathology"] = self.pathology(encoded[-1])

        global_vector = None
        if self.outcome_features in ("both", "global"):
            scales = [encoded[-1], encoded[-2]]
            if decoder_levels:  # segmentation's when present: it is assigned last
                scales.append(decoder_levels[0])
            elif self.depth > 2:
                scales.append(encoded[-3])
            global_vector = torch.cat([global_average_pool(s) for s in scales], dim=1)
        tumor_input = None
        if self.outcome_features in ("both", "tumor"):
            if self.segmentation is not None:
                probability = torch.sigmoid(out["segmentation"])
                tumor_input = torch.cat([x * probability, probability], dim=1)
            else:
                tumor_input = x
        out["features"] = self.outcome.features(tumor_input, global_vector)
        out["outcome"] = self.outcome(out["features"])

        if any(pads):
            crop = (..., slice(0, spatial[0]), slice(0, spatial[1]), slice(0, spatial[2]))
            for name in ("reconstruction", "segmentation"):
                if name in out:
                    out[name] = out[name][crop]
        return out
