"""The held-out split that early stopping watches, and folds stratified by the outcome."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

STRATA = {"outcome": ("outcome",), "pathology": ("pathology",),
          "joint": ("outcome", "pathology")}


def validation_split(strata: dict, *, fraction: float, stratify: str = "outcome",
                     enabled: bool = True, random_state=None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """Training and validation indices, the validation set stratified as asked.

    Parameters
    ----------
    strata : dict of str to ndarray
        Class codes per sample (-1 = unknown, its own stratum): ``"outcome"`` and,
        with the pathology task, ``"pathology"``.
    fraction : float in (0, 1)
        Share of the samples held out, rounded down.
    stratify : {"outcome", "pathology", "joint"}
        The codes whose proportions the split keeps; "joint" keeps every
        outcome-pathology combination.
    enabled : bool
        False (no early stopping) gives no validation set.
    random_state : RandomState
        Drawn from for the split.

    Returns
    -------
    train : ndarray of int
    valid : ndarray of int or None
        None without early stopping, or when the split would leave a side empty.
    """
    n = len(strata["outcome"])
    indices = np.arange(n)
    n_valid = int(np.floor(fraction * n))
    if not enabled or n_valid < 1 or n - n_valid < 1:
        return indices, None
    keys = STRATA[stratify]
    if any(key not in strata for key in keys):
        raise ValueError(f"validation_stratify={stratify!r} needs pathology labels; enable "
                         "the 'pathology' task and pass pathology, or use "
                         "validation_stratify='outcome'")
    labels = np.unique(np.column_stack([strata[k] for k in keys]), axis=0,
                       return_inverse=True)[1].ravel()
    try:
        train, valid = train_test_split(indices, test_size=n_valid, stratify=labels,
                                        random_state=random_state)
    except ValueError:  # a stratum too small to split
        train, valid = train_test_split(indices, test_size=n_valid, random_state=random_state)
    return np.sort(train), np.sort(valid)


def stratified_folds(strata: np.ndarray, n_splits: int, seed: int, *,
                     parameter: str = "n_splits") -> list[np.ndarray]:
    """The test indices of ``n_splits`` folds: known outcomes stratified, unknown ones
    (code -1) spread evenly over the folds.

    Parameters
    ----------
    strata : ndarray of int
        Outcome codes per sample (-1 = unknown).
    n_splits : int
    seed : int
        Shuffles the samples before they are cut.
    parameter : str, default="n_splits"
        The parameter named when a class is too small.

    Returns
    -------
    list of ndarray of int
        One sorted array of test indices per fold.

    Raises
    ------
    ValueError
        If an outcome class has fewer than ``n_splits`` samples.
    """
    known = np.flatnonzero(strata >= 0)
    counts = np.bincount(strata[known])
    if counts.min() < n_splits:
        raise ValueError(f"{parameter}={n_splits} is more than the {int(counts.min())} "
                         "samples of the smallest outcome class (or of events/censored); "
                         f"lower {parameter}")
    tests = [known[test] for _, test in StratifiedKFold(
        n_splits, shuffle=True, random_state=seed).split(known, strata[known])]
    unknown = np.flatnonzero(strata < 0)
    if len(unknown) >= n_splits:
        for k, (_, test) in enumerate(KFold(n_splits, shuffle=True,
                                            random_state=seed).split(unknown)):
            tests[k] = np.concatenate([tests[k], unknown[test]])
    else:
        for j, i in enumerate(unknown):
            tests[j] = np.append(tests[j], i)
    return [np.sort(t) for t in tests]
