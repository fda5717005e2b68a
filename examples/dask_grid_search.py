"""A lambda sweep spread over a Dask cluster with joblib's ``dask`` backend.

petmtl needs no special code for this: scikit-learn's GridSearchCV hands its
fits to joblib, and ``joblib.parallel_backend("dask")`` sends them to the
workers of whatever cluster the active ``distributed.Client`` is connected to.

Run on this machine (a LocalCluster of two single-threaded workers)::

    pip install -e ".[dask]"
    python examples/dask_grid_search.py --quick

Point the same script at a running multi-node cluster (``dask scheduler`` on
one machine, ``dask worker tcp://HOST:8786 --nthreads 1`` on each node, or
dask-jobqueue / dask-kubernetes) with::

    python examples/dask_grid_search.py --scheduler tcp://HOST:8786

See ``docs/scaling.rst`` for threads per worker and GPUs.
"""

from __future__ import annotations

import argparse
import time

import joblib
import sklearn
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from petmtl import MultiTaskPETEstimator
from petmtl.datasets import make_pet_cohort


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scheduler", default=None,
                        help="address of a running scheduler (default: start a LocalCluster)")
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny data and network")
    parser.add_argument("--compare-serial", action="store_true",
                        help="also run the search serially and compare the results")
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    shape, n, params = (48, 48, 48), 60, dict(max_epochs=30)
    if args.quick:
        shape, n, params = (16, 16, 16), 16, dict(base_width=4, depth=2, max_epochs=2)
    cohort = make_pet_cohort(n, shape=shape, spacing=192 / shape[0] / 2, random_state=0)
    X, y, masks, pathology = cohort.X, cohort.y, cohort.masks, cohort.pathology
    sklearn.set_config(enable_metadata_routing=True)
    est = MultiTaskPETEstimator(random_state=0, **params)
    est.set_fit_request(masks=True, pathology=True)

    def search() -> GridSearchCV:
        return GridSearchCV(est, {"lam": [0.1, 0.3, 0.5]},
                            scoring={"auc": "roc_auc", "logloss": "neg_log_loss"},
                            refit="logloss", cv=StratifiedKFold(3), n_jobs=-1)

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.n_workers, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    print(f"dask dashboard / workers: {client}")
    try:
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            distributed_search = search().fit(X, y, masks=masks, pathology=pathology)
        print(f"on dask: best {distributed_search.best_params_} in "
              f"{time.perf_counter() - start:.1f} s; mean test log-loss "
              f"{distributed_search.cv_results_['mean_test_logloss'].round(4).tolist()}")
    finally:
        client.close()
        if not args.scheduler:
            cluster.close()

    if args.compare_serial:
        start = time.perf_counter()
        serial = search().set_params(n_jobs=1).fit(X, y, masks=masks, pathology=pathology)
        print(f"serial:  best {serial.best_params_} in {time.perf_counter() - start:.1f} s; "
              f"mean test log-loss {serial.cv_results_['mean_test_logloss'].round(4).tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
