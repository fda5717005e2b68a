"""Agreement of two measurements, and association of the centre with the outcome."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..survival import logrank_test


def bland_altman(reference, measured, *, confidence: float = 0.95) -> dict:
    """Bias and limits of agreement of a measurement against a reference.

    ``difference = measured - reference``; the bias is its mean and the limits of
    agreement ``bias -+ z * sd`` with ``sd`` its sample standard deviation (``ddof=1``)
    and ``z`` the normal quantile of ``confidence`` (1.96 for 95 %).

    Parameters
    ----------
    reference, measured : array-like of shape (n,)
        Paired measurements (e.g. reference and predicted MTV); at least two pairs.
    confidence : float, default=0.95

    Returns
    -------
    dict
        ``mean`` and ``difference`` per pair, ``bias``, ``sd``, ``lower``, ``upper`` and
        ``n``.

    References
    ----------
    Bland, J. M., & Altman, D. G. (1986). Statistical methods for assessing agreement
    between two methods of clinical measurement. The Lancet, 327(8476), 307-310.
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(measured, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise ValueError(f"reference and measured must be 1-D of one length >= 2; got shapes "
                         f"{a.shape} and {b.shape}")
    diff = b - a
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    return {"mean": ((a + b) / 2.0).tolist(), "difference": diff.tolist(), "bias": bias,
            "sd": sd, "lower": bias - z * sd, "upper": bias + z * sd, "n": len(a)}


def centre_outcome_association(centre, *, outcome=None, time=None, event=None,
                               alpha: float = 0.05) -> dict:
    """Test whether the outcome differs between centres (a sign of confounding).

    A binary outcome is tested with Fisher's exact test when there are two centres and
    with Pearson's chi-square test of independence of the centre x outcome table
    otherwise; a survival outcome with the log-rank test across centres
    (:func:`petmtl.survival.logrank_test`). When the centres differ in outcome, a model
    may score well by recognising the centre (scanner, reconstruction) instead of the
    disease, and pooled metrics overstate what it learnt; per-centre metrics and
    grouped folds (``--group centre``) show it.

    Parameters
    ----------
    centre : array-like of shape (n,)
        Centre of each patient.
    outcome : array-like of shape (n,), optional
        Binary outcome (0/1).
    time, event : array-like of shape (n,), optional
        Survival outcome (instead of ``outcome``).
    alpha : float, default=0.05
        Level under which the association is flagged.

    Returns
    -------
    dict
        ``test`` (its name), ``statistic``, ``p_value``, ``n_centres``,
        ``single_class_centres`` (centres whose patients all share one outcome, or have
        no event) and ``confounded`` (p < alpha, or a centre with a single outcome).

    References
    ----------
    Agresti, A. (2013). Categorical Data Analysis (3rd ed.), sections 3.2 and 3.5. Wiley.
    """
    labels = np.asarray([str(c) for c in centre])
    names, codes = np.unique(labels, return_inverse=True)
    if len(names) < 2:
        raise ValueError(f"centre must hold at least two centres, got {names.tolist()}")
    if outcome is not None:
        y = np.asarray(outcome).astype(int)
        table = np.array([[np.count_nonzero((codes == k) & (y == v)) for v in (0, 1)]
                          for k in range(len(names))])
        single = [str(n) for n, row in zip(names, table, strict=True) if (row == 0).any()]
        if len(names) == 2:
            test, (statistic, p) = "Fisher's exact test", stats.fisher_exact(table)
        else:
            test = "chi-square test of independence"
            statistic, p = stats.chi2_contingency(table, correction=False)[:2]
    else:
        e = np.asarray(event).astype(bool)
        single = [str(n) for k, n in enumerate(names) if not e[codes == k].any()]
        test = "log-rank test"
        statistic, p = logrank_test(time=np.asarray(time, dtype=np.float64), event=e,
                                    groups=codes)
    return {"test": test, "statistic": float(statistic), "p_value": float(p),
            "n_centres": len(names), "single_class_centres": single,
            "confounded": bool(p < alpha or single)}
