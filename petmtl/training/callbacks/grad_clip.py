"""Gradient clipping: the ``grad_clip`` parameter."""

from __future__ import annotations

import torch

from .base import Callback


class GradientClipping(Callback):
    """Rescale the gradients so that their global L2 norm is at most ``max_norm``.

    Applied after each backward pass, before the optimizer step, to every parameter of
    the network (``torch.nn.utils.clip_grad_norm_``). In a data-parallel fit the
    gradients are already averaged over the processes at that point, so every process
    clips the same gradients the same way.

    Parameters
    ----------
    max_norm : float
        Largest global gradient norm.
    """

    def __init__(self, max_norm: float):
        self.max_norm = float(max_norm)

    def on_grad_computed(self, loop) -> None:
        torch.nn.utils.clip_grad_norm_(loop.module.parameters(), self.max_norm)
