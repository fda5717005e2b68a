"""Repeated stratified (or grouped) folds, the same for every model of a run."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from ..training import stratified_folds


def repeat_seed(random_state: int, repeat: int) -> int:
    """Seed of repeat ``repeat``: its folds and the networks fitted in it."""
    return int(random_state) + int(repeat)


def _grouped(strata: np.ndarray, groups: np.ndarray, n_splits: int,
             seed: int) -> list[np.ndarray]:
    if any(g is None for g in groups):
        raise ValueError("groups has unknown entries (None/empty); every patient needs a "
                         "group to keep it in one fold")
    labels = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)[1]
    n_groups = labels.max() + 1
    if n_groups < n_splits:
        raise ValueError(f"groups has {n_groups} distinct values but n_splits={n_splits}; "
                         "each fold needs at least one whole group: lower n_splits")
    cv = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
    return [np.sort(test) for _, test in cv.split(strata, strata, labels)]


def make_splits(strata: np.ndarray, groups, n_splits: int, n_repeats: int,
                random_state: int) -> list[list[np.ndarray]]:
    """Test indices of every fold of every repeat, ``splits[repeat][fold]``.

    Repeat ``r`` shuffles with the seed ``random_state + r``. Without ``groups`` the
    patients with a known outcome are split by :class:`~sklearn.model_selection.
    StratifiedKFold` on the outcome (binary) or the event indicator (survival), and the
    patients with an unknown outcome are spread over the folds by
    :class:`~sklearn.model_selection.KFold`; with ``groups`` (e.g. the centre)
    :class:`~sklearn.model_selection.StratifiedGroupKFold` keeps each group in one fold.
    """
    strata = np.asarray(strata)
    out = []
    for repeat in range(n_repeats):
        seed = repeat_seed(random_state, repeat)
        if groups is None:
            out.append(stratified_folds(strata, n_splits, seed))
        else:
            out.append(_grouped(strata, np.asarray(groups, dtype=object), n_splits, seed))
    return out
