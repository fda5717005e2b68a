"""Differentiable survival losses (torch): Cox partial likelihood and logistic hazard.

Usable in any torch training loop: every loss takes ``event`` before ``time`` (or the
time bin), an optional boolean ``labelled`` vector, like the other petmtl losses, and
ignores the other samples; samples with a NaN time are ignored too. A loss with nothing
to learn from returns an exact 0 that still carries a gradient graph
(``log_risk.sum() * 0``), never NaN. :class:`CoxOutcome` and
:class:`DiscreteTimeOutcome` are these losses as petmtl's outcome task T4 trains them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..losses import OutcomeTask
from .metrics import concordance_index_censored
from .time_bins import logistic_hazard_risk

__all__ = ["CoxOutcome", "DiscreteTimeOutcome", "RiskSetMemory", "cox_ph_loss",
           "logistic_hazard_loss"]


def _as_tensor(values, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    if not torch.is_tensor(values):
        values = torch.as_tensor(np.ascontiguousarray(values))  # structured-array fields
    return values.to(device=device, dtype=dtype).reshape(-1)


def _keep_mask(known: torch.Tensor, labelled) -> torch.Tensor:
    """Samples to use: ``known`` (a bool tensor) and, if given, ``labelled``."""
    if labelled is None:
        return known
    labelled = _as_tensor(labelled, known.device, torch.bool)
    if labelled.shape != known.shape:
        raise ValueError(f"labelled must have one entry per sample ({len(known)}); got "
                         f"{tuple(labelled.shape)}")
    return known & labelled


class RiskSetMemory:
    """First-in first-out store of recent, detached Cox risk scores.

    Holds the last ``capacity`` ``(log_risk, event, time)`` triples pushed, as
    constants (detached copies), on the device of the tensors pushed. Passed
    as ``memory`` to :func:`cox_ph_loss`, it enlarges the risk sets of small
    mini-batches; see that function for the approximation it makes.

    Parameters
    ----------
    capacity : int
        Maximum number of samples kept; the oldest go first.

    Notes
    -----
    Push a batch *after* computing its loss, so that a sample never meets
    its own stale copy in the same step. With ``capacity`` at least the size
    of the cohort, a sample from an earlier epoch can still be in the
    memory when it is drawn again; keep ``capacity`` below the cohort size
    to avoid such duplicates.
    """

    def __init__(self, capacity: int):
        if int(capacity) < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.capacity = int(capacity)
        self.clear()

    def clear(self) -> None:
        """Forget every stored sample."""
        self.log_risk = torch.zeros(0, dtype=torch.float64)
        self.time = torch.zeros(0, dtype=torch.float64)
        self.event = torch.zeros(0, dtype=torch.bool)

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def push(self, log_risk: torch.Tensor, event, time, labelled=None) -> None:
        """Store detached copies of a batch's labelled samples.

        Parameters
        ----------
        log_risk : torch.Tensor of shape (n,) or (n, 1)
            Risk scores of the batch (detached before storing).
        event, time : tensor or array-like of shape (n,)
            Event indicators and times (NaN = unlabelled, not stored).
        labelled : tensor or array-like of bool, optional
            Samples to store; unlabelled ones are skipped.
        """
        device = log_risk.device
        score = log_risk.detach().reshape(-1).to(torch.float64)
        time = _as_tensor(time, device, torch.float64)
        event = _as_tensor(event, device, torch.bool)
        if not (len(score) == len(time) == len(event)):
            raise ValueError(f"log_risk, event and time lengths differ: {len(score)}, "
                             f"{len(event)}, {len(time)}")
        keep = _keep_mask(~torch.isnan(time), labelled)
        self.log_risk = torch.cat([self.log_risk.to(device), score[keep]])[-self.capacity:]
        self.time = torch.cat([self.time.to(device), time[keep]])[-self.capacity:]
        self.event = torch.cat([self.event.to(device), event[keep]])[-self.capacity:]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The memory as plain CPU tensors, for checkpoints.

        Returns
        -------
        dict of str to torch.Tensor
            ``capacity`` (0-d), ``log_risk``, ``time`` and ``event``.
        """
        return {"capacity": torch.tensor(self.capacity), "log_risk": self.log_risk.cpu(),
                "time": self.time.cpu(), "event": self.event.cpu()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_dict` returned.

        Parameters
        ----------
        state : dict
            ``capacity``, ``log_risk``, ``time`` and ``event`` tensors.
        """
        missing = {"capacity", "log_risk", "time", "event"} - set(state)
        if missing:
            raise KeyError(f"state is missing {sorted(missing)}")
        n = len(state["time"])
        if not (len(state["log_risk"]) == n == len(state["event"])):
            raise ValueError("state tensors log_risk, time and event must have the same length")
        self.capacity = int(state["capacity"])
        self.log_risk = state["log_risk"].detach().to(torch.float64)[-self.capacity:]
        self.time = state["time"].detach().to(torch.float64)[-self.capacity:]
        self.event = state["event"].detach().to(torch.bool)[-self.capacity:]

    def __repr__(self) -> str:
        return f"RiskSetMemory(capacity={self.capacity}, size={len(self)})"


def _efron_terms(eta: torch.Tensor, time: torch.Tensor, event: torch.Tensor,
                 efron: bool) -> torch.Tensor:
    """Sum over events of ``log(risk-set sum - tie correction) - eta`` (the negative log PL)."""
    order = torch.argsort(time, descending=True, stable=True)
    eta, time, event = eta[order], time[order], event[order]
    shift = eta.detach().max()
    w = torch.exp(eta - shift)
    _, group, counts = torch.unique_consecutive(time, return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, 0) - 1  # times descend: a group's risk set ends at its last row
    risk_sum = torch.cumsum(w, 0)[last][group]
    ev = event.to(w.dtype)
    n_groups = len(counts)
    tied_sum = torch.zeros(n_groups, dtype=w.dtype, device=w.device).index_add(0, group, w * ev)
    n_tied = torch.zeros(n_groups, dtype=w.dtype, device=w.device).index_add(0, group, ev)
    if efron:
        before = torch.cumsum(ev, 0) - ev  # events earlier in the sorted order
        start = torch.cumsum(counts, 0) - counts
        rank = before - before[start][group]  # l = 0, 1, ... among a group's events
        frac = rank / n_tied[group].clamp(min=1.0)
        denom = risk_sum - frac * tied_sum[group]
    else:
        denom = risk_sum
    log_denom = torch.log(torch.where(event, denom, torch.ones_like(denom))) + shift
    return ((log_denom - eta) * ev).sum()


def cox_ph_loss(log_risk: torch.Tensor, event, time, *, ties: str = "efron",
                memory: RiskSetMemory | None = None, labelled=None) -> torch.Tensor:
    r"""Negative Cox partial log-likelihood per event.

    With distinct event times :math:`t_k`, tied events :math:`D_k`
    (:math:`d_k = |D_k|`) and risk sets :math:`R_k = \{j: t_j \ge t_k\}`,
    the Efron loss is

    .. math::
        -\frac{1}{\sum_k d_k} \sum_k \Big[\sum_{i \in D_k} \eta_i
        - \sum_{l=0}^{d_k - 1} \log\Big(\sum_{j \in R_k} e^{\eta_j}
        - \frac{l}{d_k} \sum_{j \in D_k} e^{\eta_j}\Big)\Big]

    and Breslow's drops the :math:`l/d_k` correction. Computed in float64
    by sorting and cumulative sums, O(n log n), with a max-shift for
    stability; returned in the floating dtype of ``log_risk`` (at least
    float32).

    Parameters
    ----------
    log_risk : torch.Tensor of shape (n,) or (n, 1)
        Predicted log-risk :math:`\eta` (higher = earlier event).
    event : tensor or array-like of shape (n,)
        Event indicators.
    time : tensor or array-like of shape (n,)
        Event or censoring times; NaN marks an unlabelled sample.
    ties : {"efron", "breslow"}, default="efron"
        Handling of tied event times.
    memory : RiskSetMemory, optional
        Detached scores of earlier batches, added to the risk sets.
    labelled : tensor or array-like of bool, optional
        Samples of the batch that carry a survival label.

    Returns
    -------
    torch.Tensor
        Scalar loss; an exact 0 with a gradient graph when the union of the
        batch and the memory holds no event or the batch no labelled sample.

    Notes
    -----
    **Memory.** The partial likelihood is computed over the union of the
    batch and the memory; memory scores are constants, so gradients reach
    only the batch's ``log_risk``; events of both count and the sum is divided
    by the number of events of the union. If the memory held the current
    scores of the rest of the cohort, the value would be the full-cohort loss
    and the gradient its exact restriction to the batch's scores: a randomly
    drawn batch of ``b`` of ``N`` samples then gives, in expectation,
    ``b / N`` times the full-cohort gradient (a valid stochastic
    approximation, like block-coordinate descent, with a step size scaled by
    ``b / N``). The bias comes from staleness: memory scores were computed
    with older weights, so risk-set sums lag behind the network; the bias
    shrinks with the learning rate and a smaller ``capacity``, which trades
    it for noisier risk sets. A batch of 1 without memory always gives 0.
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    if log_risk.ndim == 2 and log_risk.shape[1] == 1:
        log_risk = log_risk[:, 0]
    if log_risk.ndim != 1:
        raise ValueError(f"log_risk must have shape (n,) or (n, 1), got {tuple(log_risk.shape)}")
    device, n = log_risk.device, log_risk.shape[0]
    time = _as_tensor(time, device, torch.float64)
    event = _as_tensor(event, device, torch.bool)
    if not (len(time) == n == len(event)):
        raise ValueError(f"log_risk, event and time lengths differ: {n}, {len(event)}, "
                         f"{len(time)}")
    keep = _keep_mask(~torch.isnan(time), labelled)
    eta, time, event = log_risk.to(torch.float64)[keep], time[keep], event[keep]
    if memory is not None and len(memory):
        eta = torch.cat([eta, memory.log_risk.to(device)])
        time = torch.cat([time, memory.time.to(device)])
        event = torch.cat([event, memory.event.to(device)])
    out_dtype = torch.promote_types(log_risk.dtype, torch.float32)
    if not keep.any() or not event.any():
        return (log_risk.sum() * 0).to(out_dtype)
    loss = _efron_terms(eta, time, event, ties == "efron") / event.sum()
    return loss.to(out_dtype)


def logistic_hazard_loss(logits: torch.Tensor, event, bin_index,
                         labelled=None) -> torch.Tensor:
    """Negative log-likelihood of the logistic-hazard (nnet-survival) model.

    For a sample in bin ``b``: binary cross-entropy with logits of target 0
    in every bin ``k < b`` (it survived them) and target ``event`` in bin
    ``b``; a censored sample contributes nothing at its own bin (it may not
    have survived all of it), and bins after ``b`` contribute nothing. The
    per-sample sums are averaged over the samples used.

    Parameters
    ----------
    logits : torch.Tensor of shape (n, K)
        Hazard logits.
    event : tensor or array-like of bool, shape (n,)
        Event indicators.
    bin_index : tensor or array-like of int, shape (n,)
        Bin of each sample (:func:`~petmtl.survival.time_bins.discretize_times`);
        -1 = unlabelled.
    labelled : tensor or array-like of bool, optional
        Samples to use; the others (and those with ``bin_index < 0``) are
        ignored.

    Returns
    -------
    torch.Tensor
        Scalar loss, in the floating dtype of ``logits`` (at least float32); an exact 0
        with a gradient graph when no sample is used.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (n, K), got {tuple(logits.shape)}")
    n, n_bins = logits.shape
    bins = _as_tensor(bin_index, logits.device, torch.int64)
    event = _as_tensor(event, logits.device, torch.bool)
    if not (len(bins) == n == len(event)):
        raise ValueError(f"logits, event and bin_index lengths differ: {n}, {len(event)}, "
                         f"{len(bins)}")
    if (bins >= n_bins).any():
        raise ValueError(f"bin_index must be below the number of bins ({n_bins}); got "
                         f"{int(bins.max())}")
    keep = _keep_mask(bins >= 0, labelled)
    if not keep.any():
        return logits.sum() * 0
    logits = logits[keep].to(torch.promote_types(logits.dtype, torch.float32))
    bins, event = bins[keep], event[keep]
    k = torch.arange(n_bins, device=logits.device)[None, :]
    at_bin = k == bins[:, None]
    target = (at_bin & event[:, None]).to(logits.dtype)
    used = (k < bins[:, None]) | (at_bin & event[:, None])
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (bce * used).sum(1).mean()


# ------------------------------------------------------------- outcome tasks of T4
def _cindex(risk: torch.Tensor, batch: dict) -> dict[str, float]:
    known = batch["outcome_known"].cpu().numpy()
    event = batch["event"].cpu().numpy().astype(bool)[known]
    if not event.any() or known.sum() < 2:
        return {}
    try:
        value = concordance_index_censored(event, batch["outcome"].cpu().numpy()[known],
                                           risk.detach().float().cpu().numpy()[known])[0]
    except ValueError:  # no comparable pair
        return {}
    return {"cindex": float(value)}


class CoxOutcome(OutcomeTask):
    """Cox proportional hazards as T4's task: T4 outputs a log-risk.

    The negative partial log-likelihood (Efron or Breslow ties) of each training batch
    is computed over risk sets enlarged by a memory of the last ``memory`` detached
    risk scores (see :func:`cox_ph_loss`): a batch of 2-4 volumes alone gives too few
    comparisons (one volume gives none). Validation uses the whole validation set as one
    risk set, and Harrell's C-index. Batches carry ``"outcome"`` (the time),
    ``"event"`` and ``"outcome_known"``.

    Parameters
    ----------
    ties : {"efron", "breslow"}
    memory : int
        Capacity of the risk-set memory (0: the batch alone).
    """

    score_name = "cindex"

    def __init__(self, ties: str = "efron", memory: int = 64):
        self.ties = ties
        self.memory = RiskSetMemory(memory) if memory else None

    def _loss(self, output, batch, memory):
        return cox_ph_loss(output, batch["event"], batch["outcome"], ties=self.ties,
                           memory=memory, labelled=batch["outcome_known"])

    def loss(self, output, batch) -> torch.Tensor:
        return self._loss(output, batch, self.memory)

    def whole_set_loss(self, output, batch) -> torch.Tensor:
        return self._loss(output, batch, None)

    def after_step(self, output, batch) -> None:
        if self.memory is not None:
            self.memory.push(output, batch["event"], batch["outcome"],
                             labelled=batch["outcome_known"])

    def validate(self, output, batch) -> dict[str, float]:
        return {"outcome": float(self._loss(output, batch, None)), **_cindex(output, batch)}

    def state_dict(self) -> dict:
        return {} if self.memory is None else {"memory": self.memory.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if self.memory is not None and "memory" in state:
            self.memory.load_state_dict(state["memory"])


class DiscreteTimeOutcome(OutcomeTask):
    """The logistic hazard over time bins as T4's task: one hazard logit per bin.

    Works at any batch size (each sample's likelihood stands alone). The risk used for
    the C-index is minus the expected number of bins survived. Batches carry
    ``"time_bin"`` and ``"event"`` besides the time (``"outcome"``).

    Parameters
    ----------
    n_bins : int
        Number of time bins (T4 outputs).
    """

    score_name = "cindex"

    def __init__(self, n_bins: int):
        self.n_outputs = int(n_bins)

    def loss(self, output, batch) -> torch.Tensor:
        return logistic_hazard_loss(output, batch["event"], batch["time_bin"],
                                    labelled=batch["outcome_known"])

    def validate(self, output, batch) -> dict[str, float]:
        return {"outcome": float(self.loss(output, batch)),
                **_cindex(logistic_hazard_risk(output.float()), batch)}
