"""The last stage of a fit: T4 refitted as a penalised linear model on frozen features.

After the multi-task training, the network's features of the training samples (deep
multi-scale features and PET descriptors, what T4 reads) are fixed. A linear model of
them, fitted on the whole training set at once with an L2 penalty chosen by
cross-validation, is a more reliable outcome model on 60-150 patients than the dense
layers trained by small mini-batches: every patient enters every step (a Cox model sees
whole-cohort risk sets), and the penalty is chosen on the outcome alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import StratifiedKFold

PENALTIES = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)


@dataclass
class LinearRefit:
    """A refitted linear outcome model on raw (unstandardised) features.

    Attributes
    ----------
    weight : torch.Tensor of shape (n_outputs, n_features)
    bias : torch.Tensor of shape (n_outputs,)
    penalty : float
        The chosen L2 penalty (on standardised features, per mean loss).
    cv_losses : list of float
        Mean held-out outcome loss of each candidate penalty.
    n_samples : int
        Samples the model was fitted on.
    cv_scores : dict of str to float
        With a ``score_fn``: its scores (e.g. ``{"auc": ...}`` or ``{"cindex": ...}``) of
        the out-of-fold outputs of the chosen penalty, pooled over the folds.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    penalty: float
    cv_losses: list
    n_samples: int
    cv_scores: dict


def _subset(targets: dict, index: np.ndarray) -> dict:
    return {k: v[torch.as_tensor(index)] for k, v in targets.items()}


def _fit(z: torch.Tensor, targets: dict, loss_fn, n_outputs: int, penalty: float,
         start: tuple[torch.Tensor, torch.Tensor] | None = None,
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias minimising ``loss_fn + penalty / 2 * ||weight||^2``.

    The objective is computed in float64, so L-BFGS stops on its own tolerances rather
    than on float32 rounding noise. ``start`` (a solution for a nearby penalty) or zero
    is the starting point; the problem is convex, so only the work depends on it.
    """
    if start is None:
        start = (torch.zeros(n_outputs, z.shape[1], dtype=torch.float64),
                 torch.zeros(n_outputs, dtype=torch.float64))
    weight, bias = (t.clone().requires_grad_(True) for t in start)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=300, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(F.linear(z, weight, bias), targets)
        loss = loss + 0.5 * penalty * (weight**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def _out_of_fold(z: torch.Tensor, targets: dict, loss_fn, n_outputs: int, penalties,
                 folds: list) -> tuple[list[float], list[torch.Tensor]]:
    """Mean held-out loss and out-of-fold outputs of each penalty.

    Within a fold the penalties are fitted from the strongest to the weakest, each
    starting from the previous solution (a regularisation path, as glmnet walks it):
    weak penalties on nearly separable data then take a fraction of the iterations.
    """
    held_out = np.zeros((len(penalties), len(folds)))
    outputs = [torch.zeros(len(z), n_outputs) for _ in penalties]
    path = sorted(range(len(penalties)), key=lambda i: -penalties[i])
    for k, (train, test) in enumerate(folds):
        train_targets, test_targets = _subset(targets, train), _subset(targets, test)
        solution = None
        for i in path:
            solution = _fit(z[train], train_targets, loss_fn, n_outputs, penalties[i],
                            start=solution)
            output = F.linear(z[test], *solution).float()
            outputs[i][torch.as_tensor(test)] = output
            held_out[i, k] = float(loss_fn(output, test_targets))
    return held_out.mean(1).tolist(), outputs


def refit_linear(features: np.ndarray, targets: dict, loss_fn, *, n_outputs: int,
                 strata: np.ndarray, penalties=PENALTIES, n_splits: int = 5,
                 random_state: int = 0, score_fn=None) -> LinearRefit:
    """Fit ``loss_fn`` with a linear model of ``features``, the L2 penalty by CV.

    Parameters
    ----------
    features : ndarray of shape (n, d)
        Frozen features of the labelled training samples.
    targets : dict of str to torch.Tensor
        The outcome's batch entries of those samples (``"outcome"``,
        ``"outcome_known"``, ...), as the outcome task's loss reads them.
    loss_fn : callable
        ``loss_fn(output, targets)``: the outcome loss over a whole set.
    n_outputs : int
    strata : ndarray of shape (n,)
        Labels that the cross-validation folds keep balanced (class, or event).
    penalties : sequence of float
        Candidate L2 penalties (features are standardised first).
    n_splits : int
        Cross-validation folds (fewer when a stratum is smaller).
    random_state : int
    score_fn : callable, optional
        ``score_fn(output, targets)`` -> dict of scores of a whole set (the outcome task's
        ``validate``), reported for the chosen penalty's out-of-fold outputs.

    Returns
    -------
    LinearRefit
    """
    x = torch.as_tensor(np.asarray(features, dtype=np.float64))
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / std
    counts = np.unique(strata, return_counts=True)[1]
    splits = min(n_splits, int(counts.min())) if len(counts) > 1 else 0
    if splits < 2:
        cv_losses, out_of_fold = [float("nan")] * len(penalties), []
    else:
        folds = list(StratifiedKFold(splits, shuffle=True,
                                     random_state=random_state).split(z, strata))
        cv_losses, out_of_fold = _out_of_fold(z, targets, loss_fn, n_outputs,
                                              list(penalties), folds)
    finite = [v if np.isfinite(v) else np.inf for v in cv_losses]
    chosen = int(np.argmin(finite)) if np.isfinite(min(finite)) else None
    best = penalties[chosen] if chosen is not None else 1.0
    cv_scores = {}
    if score_fn is not None and chosen is not None:
        output = out_of_fold[chosen]
        scores = score_fn(output[:, 0] if n_outputs == 1 else output, targets)
        cv_scores = {k: float(v) for k, v in scores.items() if k != "outcome"}
    weight, bias = _fit(z, targets, loss_fn, n_outputs, best)
    weight = weight / std  # fold the standardisation into the weights
    bias = bias - (weight * mean).sum(1)
    return LinearRefit(weight.float(), bias.float(), float(best), cv_losses, len(x), cv_scores)
