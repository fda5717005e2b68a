"""The W assembly: shared encoder, two decoders, T3 and T4 (paper figure 3)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import box_max
from .decoder import Decoder
from .descriptors import LOCATION, PETDescriptors, RunningStandardize
from .encoder import Encoder
from .heads import OutcomeHead, PathologyHead, global_average_pool

OUTCOME_FEATURES = ("both", "global", "tumor")
OUTPUTS = ("reconstruction", "segmentation", "pathology", "features", "outcome")
DEFAULT_SEGMENTATION_PRIOR = 0.01
LOCATION_NAMES = (*LOCATION, "extent_0", "extent_1", "extent_2")


def _crop_to(x: torch.Tensor, extent) -> torch.Tensor:
    return x[..., : extent[0], : extent[1], : extent[2]]


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
    segmentation_prior : float or None, default=0.01
        Initial tumour probability of the segmentation output: the bias of its last
        convolution starts at ``logit(segmentation_prior)``. Tumours fill about 1 % of
        a PET volume; starting there instead of at 0.5 spares the first epochs the
        work of switching off the background, which otherwise stalls segmentation
        trained without T1. None keeps PyTorch's default initialisation (the paper's).
    descriptors : bool, default=False
        Compute :class:`~petmtl.network.descriptors.PETDescriptors` (from the predicted
        tumour when T2 is on, else of the whole image), standardise them with running
        statistics of the training batches and give them to T4 (all) and T3 (the
        tumour's location and extent). They read the PET in SUV, ``x * input_scale +
        input_shift``, and are computed from the *detached* tumour probability, so the
        outcome loss does not reshape the segmentation through them.
    voxel_size : sequence of 3 float, default=(2.0, 2.0, 2.0)
        Voxel size (mm) of the input, for the descriptors.
    input_shift, input_scale : float, default=0.0, 1.0
        How the input was scaled from SUV (see ``descriptors``).
    pathology_grid : int, default=2
        T3 flattens a ``pathology_grid`` cube of pooled bottleneck features (1 =
        global average pooling, which loses position).
    global_pooling : {"avg", "avg_max"}, default="avg"
        How the three scales are pooled for T4: global average pooling (the paper), or
        average and maximum pooling side by side (small hot spots, which an average over
        the volume dilutes, then reach T4).
    peritumoral_mm : float, default=0.0
        With T2: the tumour branch also reads the PET in a ring of this width around the
        predicted tumour (a third input channel), so that T4's tumour features include
        the peritumoral uptake; 0 is the paper's tumour-only input.
    n_outcome_outputs : int, default=1
        T4's outputs: 1 (binary logit or Cox log-risk) or one hazard logit per time bin.
    refit_outcome : bool, default=False
        T4 holds a linear head that :mod:`petmtl.training.refit` can fit after training
        (:meth:`~petmtl.network.OutcomeHead.set_linear`).
    n_clinical : int, default=0
        Length of the clinical covariate vector that :meth:`forward` then requires.
    clinical_fusion : {"late", "film"}, default="late"
        How T4 joins the covariates to the image (see
        :class:`~petmtl.network.OutcomeHead`).
    lesion_burden : str, float or None, default=None
        With ``descriptors``: add the whole-body lesion burden found by this threshold
        rule, with the predicted tumour as the primary (see
        :class:`~petmtl.network.descriptors.PETDescriptors`).

    Notes
    -----
    Inputs of any spatial shape are zero-padded to a multiple of
    ``2 ** (depth - 1)`` for the convolutions, and every output is computed on the
    input's own extent: spatial outputs are cropped back, and the pooled features of
    T3 and T4 average over the real voxels only, so the padding never enters them.
    """

    def __init__(self, base_width: int = 16, depth: int = 4, *, reconstruction: bool = True,
                 segmentation: bool = True, n_pathology_outputs: int = 1,
                 outcome_features: str = "both", norm: str | None = "batch",
                 dropout: float = 0.5,
                 segmentation_prior: float | None = DEFAULT_SEGMENTATION_PRIOR,
                 descriptors: bool = False, voxel_size=(2.0, 2.0, 2.0),
                 input_shift: float = 0.0, input_scale: float = 1.0, pathology_grid: int = 2,
                 n_outcome_outputs: int = 1, refit_outcome: bool = False,
                 global_pooling: str = "avg", peritumoral_mm: float = 0.0,
                 n_clinical: int = 0, clinical_fusion: str = "late",
                 lesion_burden: str | float | None = None):
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
        if self.segmentation is not None and segmentation_prior is not None:
            nn.init.constant_(self.segmentation.head.bias,
                              math.log(segmentation_prior / (1.0 - segmentation_prior)))
        self.descriptors = None
        n_location = 0
        if descriptors:
            self.descriptors = PETDescriptors(voxel_size, tumour=segmentation,
                                              lesion_burden=lesion_burden)
            self.standardize = RunningStandardize(self.descriptors.n_features)
            self.register_buffer("input_shift", torch.tensor(float(input_shift)),
                                 persistent=False)
            self.register_buffer("input_scale", torch.tensor(float(input_scale)),
                                 persistent=False)
            self.location = [self.descriptors.names.index(name) for name in LOCATION_NAMES
                             if name in self.descriptors.names]
            n_location = len(self.location)
        self.pathology = (PathologyHead(widths[-1], base_width, n_pathology_outputs, norm, dropout,
                                        grid=pathology_grid, n_extra=n_location)
                          if n_pathology_outputs else None)
        if global_pooling not in ("avg", "avg_max"):
            raise ValueError(f"global_pooling must be 'avg' or 'avg_max', got {global_pooling!r}")
        self.global_pooling = global_pooling
        self.voxel_size = tuple(float(v) for v in voxel_size)
        self.peritumoral_mm = float(peritumoral_mm) if segmentation else 0.0
        n_global = 0
        if outcome_features in ("both", "global"):
            n_global = widths[-1] + widths[-2]
            if reconstruction or segmentation:
                n_global += widths[-2]
            elif depth > 2:
                n_global += widths[-3]
            n_global *= 2 if global_pooling == "avg_max" else 1
        tumor_channels = 0
        if outcome_features in ("both", "tumor"):
            tumor_channels = (3 if self.peritumoral_mm else 2) if segmentation else 1
        self.outcome = OutcomeHead(
            tumor_channels, n_global, base_width, norm, dropout,
            n_descriptors=0 if self.descriptors is None else self.descriptors.n_features,
            n_outputs=n_outcome_outputs, refittable=refit_outcome, n_clinical=n_clinical,
            fusion=clinical_fusion)

    @property
    def divisor(self) -> int:
        """Spatial sides are padded internally to a multiple of this."""
        return 2 ** (self.depth - 1)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The outputs this network computes, among :data:`OUTPUTS`."""
        enabled = {"reconstruction": self.reconstruction is not None,
                   "segmentation": self.segmentation is not None,
                   "pathology": self.pathology is not None}
        return tuple(name for name in OUTPUTS if enabled.get(name, True))

    def _decoders_needed(self, wanted: set[str]) -> list[str]:
        needed = [name for name in ("reconstruction", "segmentation") if name in wanted]
        if self.descriptors is not None and wanted & {"pathology", "features", "outcome"}:
            needed.append("segmentation")
        if wanted & {"features", "outcome"}:
            if self.outcome.tumor is not None and self.segmentation is not None:
                needed.append("segmentation")
            if self.outcome.n_global:
                # the third pooled scale comes from the segmentation decoder, else T1's
                needed.append("segmentation" if self.segmentation is not None
                              else "reconstruction")
        return [name for name in ("reconstruction", "segmentation")
                if name in needed and getattr(self, name) is not None]

    def forward(self, x: torch.Tensor, *, clinical: torch.Tensor | None = None, outputs=None,
                return_intermediates: bool = False
                ) -> dict[str, torch.Tensor]:
        """Run the enabled tasks (or only those that ``outputs`` needs).

        Parameters
        ----------
        x : torch.Tensor of shape (n, 1, x, y, z)
            Intensity-scaled PET volumes.
        clinical : torch.Tensor of shape (n, n_clinical), optional
            The preprocessed covariates, required by T4 when ``n_clinical > 0``.
        outputs : sequence of str, optional
            Outputs wanted, among :attr:`output_names`; the branches that none of
            them needs are not run. Default: all.
        return_intermediates : bool
            Also return the feature maps of every scale (for Grad-CAM), under
            ``"encoder"`` and ``"segmentation_levels"`` / ``"reconstruction_levels"``,
            on the padded grid.

        Returns
        -------
        dict of torch.Tensor
            ``"outcome"`` logits (n,), ``"features"`` the T4 input vector, and
            when enabled ``"reconstruction"`` (n, 1, x, y, z), ``"segmentation"``
            logits (n, 1, x, y, z) and ``"pathology"`` logits (n, k).
        """
        if x.ndim != 5 or x.shape[1] != 1:
            raise ValueError(f"x must have shape (n, 1, x, y, z), got {tuple(x.shape)}")
        wanted = set(self.output_names if outputs is None else outputs)
        unknown = wanted - set(self.output_names)
        if unknown:
            raise ValueError(f"outputs {sorted(unknown)} are not computed by this network; "
                             f"available: {self.output_names}")
        spatial = tuple(x.shape[2:])
        pads = [(-s) % self.divisor for s in spatial]
        padded = F.pad(x, [0, pads[2], 0, pads[1], 0, pads[0]]) if any(pads) else x
        encoded = self.encoder(padded)
        out: dict[str, torch.Tensor] = {}
        if return_intermediates:
            out["encoder"] = encoded
        levels = {}
        for name in self._decoders_needed(wanted):
            out[name], levels[name] = getattr(self, name)(encoded)
            if return_intermediates:
                out[f"{name}_levels"] = levels[name]
        descriptors = None
        if self.descriptors is not None and wanted & {"pathology", "features", "outcome"}:
            descriptors = self._descriptors(x, out)
        if "pathology" in wanted:
            location = None if descriptors is None else descriptors[:, self.location]
            out["pathology"] = self.pathology(
                _crop_to(encoded[-1], self._extent(spatial, -1)), location)
        if wanted & {"features", "outcome"}:
            out["features"] = self._outcome_features(x, spatial, encoded, levels, out,
                                                     descriptors, clinical)
            out["outcome"] = self.outcome(out["features"])
        for name in ("reconstruction", "segmentation"):
            if name in out:
                out[name] = _crop_to(out[name], spatial)
        return out

    def _extent(self, spatial, level: int) -> tuple[int, ...]:
        """Real (unpadded) extent of the feature maps of encoder ``level``."""
        level = level % self.depth
        return tuple(-(-s // 2**level) for s in spatial)

    def _descriptors(self, x: torch.Tensor, out: dict) -> torch.Tensor:
        """Standardised PET descriptors of the (unpadded) input and its tumour map."""
        suv = x.float() * self.input_scale + self.input_shift
        probability = None
        if self.segmentation is not None:
            logits = _crop_to(out["segmentation"], x.shape[2:]).detach()
            probability = torch.sigmoid(logits.float())
        with torch.autocast(x.device.type, enabled=False):
            return self.standardize(self.descriptors(suv, probability))

    def _outcome_features(self, x, spatial, encoded, levels, out, descriptors=None,
                          clinical=None) -> torch.Tensor:
        global_vector = None
        if self.outcome.n_global:
            scales = [(encoded[-1], -1), (encoded[-2], -2)]
            decoder = levels.get("segmentation", levels.get("reconstruction"))
            if decoder:  # the decoder's first level has the second-deepest resolution
                scales.append((decoder[0], -2))
            elif self.depth > 2:
                scales.append((encoded[-3], -3))
            pooled = []
            for f, level in scales:
                real = _crop_to(f, self._extent(spatial, level))
                pooled.append(global_average_pool(real))
                if self.global_pooling == "avg_max":
                    pooled.append(real.amax(dim=(2, 3, 4)))
            global_vector = torch.cat(pooled, dim=1)
        tumor_input = None
        if self.outcome.tumor is not None:
            if self.segmentation is not None:
                probability = torch.sigmoid(_crop_to(out["segmentation"], spatial))
                channels = [x * probability, probability]
                if self.peritumoral_mm:
                    size = [max(1, 2 * round(self.peritumoral_mm / v) + 1)
                            for v in self.voxel_size]
                    grown = box_max(probability, size)
                    channels.append(x * (grown - probability).clamp(0.0, 1.0))
                tumor_input = torch.cat(channels, dim=1)
            else:
                tumor_input = x
        return self.outcome.features(tumor_input, global_vector, descriptors, clinical)
