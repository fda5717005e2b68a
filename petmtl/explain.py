"""Visual explanations of the W-Net's decisions: Grad-CAM at every scale (paper figure 4).

Grad-CAM (Selvaraju et al.) weights each channel ``k`` of a feature map ``A`` by the spatial
mean of the gradient of a class score ``s`` with respect to it, ``w_k = mean(ds / dA_k)``,
and keeps the positive part of the weighted sum, ``ReLU(sum_k w_k A_k)``: the regions whose
features push the score up. :func:`grad_cam` computes this map for the outcome (T4), the
pathology (T3) or the segmentation (T2) head at any scale of the network, the levels of the
shared encoder and of the segmentation decoder, brings it back to the input's grid by
trilinear interpolation and scales each map to [0, 1] so that 1 (hot) marks the most
important voxel. For the segmentation the score is the sum of the tumour logits over the
predicted tumour (Seg-Grad-CAM, Vinogradova et al. 2020), as in the paper's figure 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted

from ._constraints import Interval, NoneOr, Options, check_param
from ._forward import forward_of
from ._input import check_volumes, covariate_matrix, split_table
from .survival.estimator import MultiTaskPETSurvival
from .survival.time_bins import logistic_hazard_risk

__all__ = ["grad_cam", "scale_names"]

TARGETS = ("outcome", "pathology", "segmentation")


def scale_names(estimator) -> list[str]:
    """Names of the scales at which :func:`grad_cam` can explain a fitted estimator.

    The scales follow the U of the network from the input down and back up: the encoder
    levels shallowest first (``"encoder_0"`` ... ``"encoder_{depth-1}"``, the last one being
    the bottleneck), then, when the segmentation task is enabled, the segmentation decoder
    levels deepest first (``"segmentation_0"`` ... ``"segmentation_{depth-2}"``, the last one
    at full resolution). An integer ``scale`` passed to :func:`grad_cam` indexes this list,
    so with the paper's ``depth=5`` the paper's scales 4, 5 and 6 are indices 3, 4 and 5.

    Parameters
    ----------
    estimator : MultiTaskPETEstimator
        A fitted estimator.

    Returns
    -------
    names : list of str
    """
    check_is_fitted(estimator)
    module = estimator.module_
    names = [f"encoder_{k}" for k in range(module.depth)]
    if module.segmentation is not None:
        names += [f"segmentation_{k}" for k in range(module.depth - 1)]
    return names


def _resolve_scales(estimator, scale) -> list[str]:
    names = scale_names(estimator)
    if isinstance(scale, str):
        if scale == "all":
            return names
        if scale in names:
            return [scale]
        hint = ("; the segmentation task is disabled, so there are no decoder scales"
                if scale.startswith("segmentation_") else "")
        raise ValueError(f"scale must be 'all', an int in [0, {len(names) - 1}] or one of "
                         f"{names}; got {scale!r}{hint}")
    if isinstance(scale, (int, np.integer)) and not isinstance(scale, bool):
        if -len(names) <= scale < len(names):
            return [names[int(scale)]]
        raise ValueError(f"scale must be 'all', an int in [0, {len(names) - 1}] or one of "
                         f"{names}; got {scale!r}")
    raise TypeError(f"scale must be 'all', an int or a scale name (str); got {scale!r} of "
                    f"type {type(scale).__name__}")


def _segmentation_scores(logits: torch.Tensor, class_index) -> torch.Tensor:
    """Sum of the logits of the explained class over the voxels predicted as that class.

    Class 1 (default) is the tumour, class 0 the background (minus the logits); a sample
    with no such voxel is explained at its most confident voxel.
    """
    sign = -1.0 if class_index == 0 else 1.0
    evidence = sign * logits.float().flatten(1)
    region = evidence > 0
    empty = ~region.any(dim=1)
    if empty.any():
        top = F.one_hot(evidence.argmax(dim=1), evidence.shape[1]).bool()
        region = torch.where(empty[:, None], top, region)
    return (evidence * region).sum(dim=1)


def _class_scores(logits: torch.Tensor, class_index) -> torch.Tensor:
    """Score of the explained class for each sample, from (n,) or (n, k) logits."""
    if logits.ndim == 1 or logits.shape[1] == 1:  # binary head: one logit for class 1
        logit = logits.reshape(-1)
        positive = (logit > 0) if class_index is None else torch.full_like(
            logit, bool(class_index), dtype=torch.bool)
        return torch.where(positive, logit, -logit)
    if class_index is None:
        chosen = logits.argmax(dim=1)
    else:
        chosen = torch.full((len(logits),), int(class_index), device=logits.device)
    return logits.gather(1, chosen[:, None])[:, 0]


def _risk_scores(outputs: torch.Tensor) -> torch.Tensor:
    """A survival head's risk: the Cox log-risk, or minus the expected bins survived."""
    outputs = outputs.float()
    if outputs.ndim == 1 or outputs.shape[1] == 1:
        return outputs.reshape(-1)
    return logistic_hazard_risk(outputs)


def _check_class_index(class_index, n_classes: int, target: str):
    if class_index is None:
        return None
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)):
        raise TypeError(f"class_index must be None or an int; got {class_index!r} of type "
                        f"{type(class_index).__name__}")
    if not 0 <= class_index < n_classes:
        raise ValueError(f"class_index must be in [0, {n_classes - 1}] for target={target!r} "
                         f"({n_classes} classes); got {class_index!r}")
    return int(class_index)


def grad_cam(
    estimator,
    X,
    *,
    target: str = "outcome",
    scale: str | int = "all",
    class_index: int | None = None,
    batch_size: int | None = None,
) -> np.ndarray | dict[str, np.ndarray]:
    """Grad-CAM heatmaps of the outcome, pathology or segmentation head at one or all scales.

    The map explains the estimator's first network (``module_``), without test-time
    flips: for an ensemble (``n_members > 1``) that is its first member.

    Parameters
    ----------
    estimator : MultiTaskPETEstimator or MultiTaskPETSurvival
        A fitted estimator; its network runs on ``estimator.device_`` (CPU or GPU).
    X : array-like of shape (n, x, y, z) or (n, 1, x, y, z), or pandas.DataFrame
        PET volumes, in the units the estimator was fitted on; for a model fitted with
        clinical covariates, a table as in ``fit`` (the volumes as arrays in the
        ``image_column``, the covariates in the other columns), which the outcome map
        needs: T4 reads the covariates, and the map explains the output they helped make.
    target : {"outcome", "pathology", "segmentation"}, default="outcome"
        Head to explain: T4 (outcome), T3 (pathology, needs the pathology task) or T2
        (segmentation, needs the segmentation task: the score is the sum of the tumour
        logits over the voxels predicted as tumour).
    scale : "all", int or str, default="all"
        ``"all"`` for every scale, or one scale by name or by index into
        :func:`scale_names` (encoder levels shallowest first, then segmentation decoder levels
        deepest first; negative indices count from the end).
    class_index : int or None, default=None
        Index of the class to explain, into ``estimator.classes_`` for the outcome and into
        ``estimator.pathology_classes_`` for the pathology; for the segmentation 1 is the
        tumour and 0 the background. None explains the predicted class of each sample (the
        tumour for the segmentation). For a binary head the score is the logit for class 1
        and minus the logit for class 0. For the outcome of a survival model the score is
        the predicted risk (the Cox log-risk, or minus the expected number of time bins
        survived) and ``class_index`` must be None.
    batch_size : int or None, default=None
        Volumes per forward/backward pass; None uses the estimator's ``batch_size``.

    Returns
    -------
    heatmaps : ndarray of float32, shape (n, x, y, z), or dict of str to such arrays
        One array for a single scale; a dict keyed by scale name for ``scale="all"``. Each
        map is ``ReLU(sum_k w_k A_k)`` upsampled trilinearly to the input's spatial shape and
        divided by its maximum, so values lie in [0, 1] and 1 marks the most important voxel
        (hot = important). A map with no positive evidence is all zeros.

    Raises
    ------
    ValueError
        If ``target`` is unknown or its head is disabled, or ``scale`` or ``class_index``
        is out of range.
    TypeError
        If ``scale``, ``class_index`` or ``batch_size`` has the wrong type.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    Notes
    -----
    The network is run in evaluation mode (dropout off, batch-norm running statistics) and
    in float32 even when the estimator uses mixed precision. Inputs whose sides are not a
    multiple of ``2 ** (depth - 1)`` are zero-padded by the network; the maps are upsampled to
    the padded grid and then cropped, so they stay aligned with the input voxels.

    The outcome map follows the gradient of T4's output. With ``outcome_descriptors`` part
    of that output comes from PET descriptors of the predicted mask, a path that has no
    feature maps to weight; with ``refit_outcome`` the output is the refitted linear model,
    whose weights, chosen on small cohorts by cross-validated L2, can lean on channels
    that carry background uptake (on a 16-patient blob problem the refitted model's
    finest-scale map was brighter outside the deciding blob than inside, the trained head's
    40 times brighter inside). Fit with both off to explain the network's own decision.

    Examples
    --------
    >>> from petmtl.explain import grad_cam  # doctest: +SKIP
    >>> maps = grad_cam(est, X[:2], target="outcome")  # doctest: +SKIP
    >>> sorted(maps)[:2], maps["encoder_0"].shape  # doctest: +SKIP
    (['encoder_0', 'encoder_1'], (2, 32, 32, 32))
    """
    check_is_fitted(estimator)
    check_param("target", target, Options(*TARGETS), separator="; ")
    module = estimator.module_
    if target != "outcome" and getattr(module, target) is None:
        raise ValueError(f"target={target!r} but the estimator's {target} task is "
                         f"disabled (tasks={tuple(estimator.tasks)!r}); refit with "
                         f"{target!r} in tasks or use target='outcome'")
    survival = target == "outcome" and isinstance(estimator, MultiTaskPETSurvival)
    if survival and class_index is not None:
        raise ValueError("class_index must be None for the outcome of a survival model: its "
                         f"map explains the predicted risk; got {class_index!r}")
    n_classes = {"outcome": lambda: 1 if survival else len(estimator.classes_),
                 "pathology": lambda: len(estimator.pathology_classes_),
                 "segmentation": lambda: 2}[target]()
    class_index = _check_class_index(class_index, n_classes, target)
    if target == "segmentation":
        def score(out):
            return _segmentation_scores(out["segmentation"], class_index)
    elif survival:
        def score(out):
            return _risk_scores(out["outcome"])
    else:
        def score(out):
            return _class_scores(out[target].float(), class_index)
    scales = _resolve_scales(estimator, scale)
    check_param("batch_size", batch_size, NoneOr(Interval(Integral, 1, None)))
    batch_size = int(estimator.batch_size) if batch_size is None else int(batch_size)

    images, covariates = split_table(X, getattr(estimator, "image_column", "image"))
    clinical = None
    if target == "outcome":
        clinical = covariate_matrix(getattr(estimator, "clinical_preprocessor_", None),
                                    covariates)
    volumes = check_volumes(images, getattr(estimator, "volume_shape", None))
    spatial = volumes.shape[1:]
    forward = forward_of(estimator)
    was_training = module.training
    module.eval()
    maps = {name: np.empty(volumes.shape, np.float32) for name in scales}
    try:
        for start in range(0, len(volumes), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(volumes[start:start + batch_size]))
            image = forward.prepare(chunk[:, None].float())
            covariates = None if clinical is None else torch.from_numpy(
                clinical[start:start + batch_size]).to(image.device)
            batch_maps = _batch_cam(module, image, score, scales, spatial, target,
                                    covariates)
            for name, value in batch_maps.items():
                maps[name][start:start + len(chunk)] = value
    finally:
        module.train(was_training)
    if isinstance(scale, str) and scale == "all":
        return maps
    return maps[scales[0]]


def _batch_cam(module, image: torch.Tensor, score_of, scales: Sequence[str],
               spatial: tuple[int, ...], target: str,
               clinical: torch.Tensor | None) -> dict[str, np.ndarray]:
    # the decoders of the scales are run whatever the target, so every scale has its maps
    outputs = {target} | {name.rsplit("_", 1)[0] for name in scales
                          if not name.startswith("encoder_")}
    with torch.enable_grad(), torch.autocast(image.device.type, enabled=False):
        out = module(image, clinical=clinical, outputs=sorted(outputs),
                     return_intermediates=True)
        feats = {f"encoder_{k}": a for k, a in enumerate(out["encoder"])}
        for k, a in enumerate(out.get("segmentation_levels", [])):
            feats[f"segmentation_{k}"] = a
        score = score_of(out)
        chosen = [feats[name] for name in scales]
        grads = torch.autograd.grad(score.sum(), chosen, allow_unused=True)
    padded = tuple(int(s + (-s) % module.divisor) for s in spatial)
    crop = (slice(None), slice(0, spatial[0]), slice(0, spatial[1]), slice(0, spatial[2]))
    result = {}
    for name, act, grad in zip(scales, chosen, grads, strict=True):
        act = act.detach().float()
        if grad is None:  # the target does not depend on this scale
            result[name] = np.zeros((len(image), *spatial), np.float32)
            continue
        weights = grad.float().mean(dim=(2, 3, 4), keepdim=True)
        cam = F.relu((weights * act).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=padded, mode="trilinear", align_corners=False)[:, 0]
        cam = cam[crop].clamp_min(0.0)
        peak = cam.flatten(1).amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny)
        cam = torch.where((peak > 1e-12)[:, None, None, None],
                          cam / peak[:, None, None, None], torch.zeros_like(cam))
        result[name] = cam.clamp(0.0, 1.0).cpu().numpy()
    return result
