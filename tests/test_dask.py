"""A GridSearchCV over lambda through a real dask.distributed LocalCluster."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import sklearn
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from petmtl import MultiTaskPETEstimator
from petmtl._runtime import threads_per_fit

from .conftest import TINY, make_blob_volumes

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")
joblib = pytest.importorskip("joblib")

GRID = {"lam": [0.05, 0.95]}
SCORING = {"auc": "roc_auc", "logloss": "neg_log_loss"}


def _search() -> GridSearchCV:
    est = MultiTaskPETEstimator(**TINY).set_fit_request(masks=True, pathology=True)
    return GridSearchCV(est, GRID, scoring=SCORING, refit="logloss", cv=StratifiedKFold(2),
                        n_jobs=2, error_score="raise")


def test_unfitted_estimator_is_cheap_to_pickle():
    est = MultiTaskPETEstimator(**TINY)
    assert len(pickle.dumps(est)) < 4_000


def test_grid_search_on_local_cluster_matches_serial():
    X, y, masks, pathology = make_blob_volumes(12, 16)
    with sklearn.config_context(enable_metadata_routing=True):
        # Dask worker processes start with OMP_NUM_THREADS=1; the serial reference
        # uses one torch thread too, so both searches see bit-identical arithmetic.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            serial = _search().set_params(n_jobs=1)
            serial.fit(X, y, masks=masks, pathology=pathology)
        finally:
            torch.set_num_threads(threads)
        # Processes, not threads: dropout draws from torch's process-wide generator,
        # so only fits in separate processes are reproducible (see docs/scaling.rst).
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            worker_threads = client.run(torch.get_num_threads)
            with joblib.parallel_backend("dask"):
                parallel = _search()
                parallel.fit(X, y, masks=masks, pathology=pathology)

    assert set(worker_threads.values()) == {1}
    assert parallel.best_params_ == serial.best_params_
    for name in SCORING:
        key = f"mean_test_{name}"
        np.testing.assert_allclose(parallel.cv_results_[key], serial.cv_results_[key],
                                   rtol=1e-6, atol=0)


def test_in_process_workers_share_the_cpus():
    cpus = len(os.sched_getaffinity(0))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        seen = client.gather(client.map(
            lambda _: threads_per_fit() or torch.get_num_threads(), range(2)))
    assert all(t <= max(1, cpus // 2) for t in seen)
    assert threads_per_fit() is None  # outside dask: torch's own setting is kept
