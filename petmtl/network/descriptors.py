"""Quantitative PET descriptors computed inside the network, differentiable in the mask.

Radiomics studies predict outcome from a handful of numbers: the metabolic tumour volume
(MTV), SUVmax, SUVmean, SUVpeak, total lesion glycolysis (TLG), the uptake around the
tumour and the disease burden elsewhere. :class:`PETDescriptors` computes such numbers
from the PET in SUV and the *predicted* tumour probability, as soft (differentiable)
quantities, so that T4 starts from what radiomics already knows and the deep features
only have to add to it (as in the radiomics-enhanced variant of DeepMTS).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .blocks import box_max

TUMOUR = ("log_mtv_ml", "suv_mean", "suv_max", "suv_peak", "log_tlg", "suv_cov",
          "extent_0", "extent_1", "extent_2")
LOCATION = ("centroid_0", "centroid_1", "centroid_2")
PERITUMORAL = ("ring_suv_mean", "ring_suv_max")
WHOLE_IMAGE = ("body_suv_mean", "body_suv_p50", "body_suv_p90", "body_suv_p99",
               "log_hot_ml", "log_very_hot_ml", "outside_suv_max")
BURDEN = ("burden_log_n_lesions", "burden_log_tmtv_ml", "burden_log_ttlg", "burden_dmax_body",
          "burden_log_hottest_suvmax", "burden_log_hottest_ml", "burden_log_nearest_mm",
          "burden_has_nonprimary")
HOT_SUV, VERY_HOT_SUV = 2.5, 4.0
EPS = 1e-6


class RunningStandardize(nn.Module):
    """Standardise features with running means and variances of the training batches.

    Unlike batch normalisation, the same (running) statistics are used in training and
    evaluation, so a batch of 2-4 volumes does not add noise, and the statistics are
    exact averages over everything seen (no momentum). Gradients do not flow into them.
    In a data-parallel fit every process merges the whole global batch, so the
    statistics are those of one process.

    Parameters
    ----------
    n_features : int
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(n_features, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Update the statistics (in training mode) and return standardised ``x``."""
        if self.training:
            with torch.no_grad():
                batch = x.detach().double()
                if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                    parts = [torch.zeros_like(batch) for _ in range(dist.get_world_size())]
                    dist.all_gather(parts, batch)  # every process's share of the batch
                    batch = torch.cat(parts)
                n_b = float(len(batch))
                mean_b = batch.mean(0)
                delta = mean_b - self.mean
                total = self.count + n_b
                self.mean += delta * n_b / total
                self.m2 += ((batch - mean_b) ** 2).sum(0) + delta**2 * self.count * n_b / total
                self.count.copy_(total)
        var = self.m2 / self.count.clamp_min(1.0)
        std = var.clamp_min(0.0).sqrt().clamp_min(1e-3)
        return ((x - self.mean.to(x.dtype)) / std.to(x.dtype)).clamp(-10.0, 10.0)


def _weighted_mean(values, weights, dims=(2, 3, 4)):
    return (values * weights).sum(dims) / weights.sum(dims).clamp_min(EPS)


class PETDescriptors(nn.Module):
    """Soft PET descriptors of the tumour, its surroundings and the whole image.

    Parameters
    ----------
    voxel_size : sequence of 3 float
        Voxel size in mm of the network input (for volumes in mL and distances in mm).
    tumour : bool, default=True
        Descriptors of the predicted tumour and its surroundings (needs the
        segmentation); False gives the whole-image descriptors only.
    ring_mm : float, default=10.0
        Width of the peritumoral ring.
    lesion_burden : str, float or None, default=None
        Also measure the whole-body lesion burden (:func:`petmtl.pet.lesion_burden`) of
        the lesions that this rule of :func:`petmtl.pet.detect_lesions` finds in the
        whole input (``"suv2.5"``, ``"suv4.0"``, ``"suvmax41"`` or a fixed SUV), with the
        predicted tumour (probability above 0.5, when ``tumour``) as the primary.

    Notes
    -----
    With ``p`` the tumour probability and ``x`` the SUV, the tumour descriptors are:
    ``log(MTV + 0.1)`` with ``MTV = sum(p) * voxel_ml`` (mL), SUVmean ``sum(p x) /
    sum(p)``, SUVmax ``max(p x)``, SUVpeak ``max(p * mean_1cc(x))`` (the mean SUV of the
    1 cm cube around each voxel), ``log(TLG + 0.1)``, the coefficient of variation of the
    SUV inside the tumour, its extent (standard deviation of the coordinates, mm) along
    each axis, and the centroid in [-1, 1] along each axis (the location). The ring
    (``ring_mm`` around the tumour, by max-pooling ``p``) gives its SUVmean and SUVmax.
    Over the body (SUV above 0.3) outside the tumour and its ring: the mean, the median,
    90th and 99th percentiles of the SUV, the volumes above SUV 2.5 and 4 (soft
    thresholds, log mL) and the SUVmax. Everything is computed on the input's real extent.

    The lesion-burden descriptors (constants for the gradient: they count connected
    components, on the CPU) are ``log(1 + x)`` of the number of lesions, TMTV (mL), total
    TLG, the SUVmax and volume of the hottest non-primary lesion and its nearest
    distance to the primary (mm, 0 where there is none), Dmax over the body extent, and
    whether any non-primary lesion was found.
    """

    def __init__(self, voxel_size=(2.0, 2.0, 2.0), *, tumour: bool = True,
                 ring_mm: float = 10.0, lesion_burden: str | float | None = None):
        super().__init__()
        self.voxel_size = tuple(float(v) for v in voxel_size)
        self.tumour = tumour
        self.ring_mm = float(ring_mm)
        self.lesion_burden = lesion_burden
        self.names = ((TUMOUR + LOCATION + PERITUMORAL if tumour else ()) + WHOLE_IMAGE
                      + (BURDEN if lesion_burden is not None else ()))

    @property
    def n_features(self) -> int:
        """Number of descriptors."""
        return len(self.names)

    def _kernel(self, mm: float, shape) -> list[int]:
        # Odd sizes keep the output on the input grid; pooling needs them within the volume.
        return [max(1, min(2 * round(mm / (2 * s)) + 1, 2 * ((n - 1) // 2) + 1))
                for s, n in zip(self.voxel_size, shape, strict=True)]

    def forward(self, suv: torch.Tensor, probability: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Descriptors (n, n_features) of SUV volumes (n, 1, x, y, z) and tumour maps."""
        suv, parts = suv.float(), []
        voxel_ml = math.prod(self.voxel_size) / 1000.0
        excluded = torch.zeros_like(suv)
        if self.tumour:
            p = probability.float()
            parts += self._tumour(suv, p, voxel_ml)
            ring_size = self._kernel(2 * self.ring_mm, suv.shape[2:])
            grown = box_max(p, ring_size)
            ring = (grown - p).clamp(0.0, 1.0)
            parts += [_weighted_mean(suv, ring), (suv * ring).amax((2, 3, 4))]
            excluded = grown
        parts += self._whole_image(suv, excluded.detach(), voxel_ml)
        if self.lesion_burden is not None:
            parts.append(self._burden(suv, None if probability is None else probability))
        return torch.cat([part.reshape(len(suv), -1) for part in parts], dim=1)

    @torch.no_grad()
    def _burden(self, suv: torch.Tensor, probability) -> torch.Tensor:
        from ..pet import detect_lesions, lesion_burden

        rows = []
        for i, image in enumerate(suv[:, 0].double().cpu().numpy()):
            primary = None
            if self.tumour and probability is not None:
                primary = probability[i, 0].detach().float().cpu().numpy() > 0.5
            lesions = detect_lesions(image, self.voxel_size, rule=self.lesion_burden)
            b = lesion_burden(image, lesions, self.voxel_size, primary=primary)
            nearest = b["nearest_nonprimary_mm"]
            rows.append([math.log1p(b["n_lesions"]), math.log1p(b["TMTV_ml"]),
                         math.log1p(b["TTLG"]), np.nan_to_num(b["Dmax_body"]),
                         math.log1p(b["hottest_nonprimary_SUVmax"]),
                         math.log1p(b["hottest_nonprimary_ml"]),
                         0.0 if math.isnan(nearest) else math.log1p(nearest),
                         float(b["hottest_nonprimary_ml"] > 0)])
        return torch.tensor(rows, dtype=torch.float32, device=suv.device)

    def _tumour(self, suv, p, voxel_ml) -> list[torch.Tensor]:
        mass = p.sum((2, 3, 4))
        mtv = mass * voxel_ml
        mean = _weighted_mean(suv, p)
        peak_size = self._kernel(10.0, suv.shape[2:])
        local = F.avg_pool3d(suv, peak_size, stride=1, padding=[k // 2 for k in peak_size],
                             count_include_pad=False)
        var = _weighted_mean((suv - mean[..., None, None, None]) ** 2, p)
        grids = torch.meshgrid(*[torch.linspace(-1.0, 1.0, n, device=suv.device)
                                 for n in suv.shape[2:]], indexing="ij")
        centroid, extent = [], []
        for axis, grid in enumerate(grids):
            mean_c = _weighted_mean(grid[None, None], p)
            spread = _weighted_mean((grid[None, None] - mean_c[..., None, None, None]) ** 2, p)
            half_mm = (suv.shape[2 + axis] - 1) * self.voxel_size[axis] / 2.0
            centroid.append(mean_c)
            extent.append((spread + EPS).sqrt() * half_mm)
        return [torch.log(mtv + 0.1), mean, (suv * p).amax((2, 3, 4)),
                (local * p).amax((2, 3, 4)), torch.log(mtv * mean + 0.1),
                (var + EPS).sqrt() / (mean + 0.1), *extent, *centroid]

    def _whole_image(self, suv, excluded, voxel_ml) -> list[torch.Tensor]:
        body = torch.sigmoid((suv - 0.3) / 0.05) * (1.0 - excluded)
        flat = suv.flatten(1)
        weights = body.flatten(1)
        quantiles = []
        with torch.no_grad():
            for row, w in zip(flat, weights, strict=True):
                inside = row[w > 0.5]
                inside = inside if inside.numel() else row
                quantiles.append(torch.quantile(inside, torch.tensor(
                    [0.5, 0.9, 0.99], device=suv.device)))
        quantiles = torch.stack(quantiles)
        hot = (torch.sigmoid((suv - HOT_SUV) / 0.1) * body).sum((2, 3, 4)) * voxel_ml
        very_hot = (torch.sigmoid((suv - VERY_HOT_SUV) / 0.1) * body).sum((2, 3, 4)) * voxel_ml
        return [_weighted_mean(suv, body), quantiles, torch.log(hot + 0.1),
                torch.log(very_hot + 0.1), (suv * body).amax((2, 3, 4))]
