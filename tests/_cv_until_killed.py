"""Helper of test_cv: a cross-validation run that the test kills with SIGKILL.

Usage: python tests/_cv_until_killed.py OUT_DIR
"""

from __future__ import annotations

import sys


def run(out_dir: str):
    """The run of the test: 18 tiny synthetic patients, two folds, one repeat."""
    from petmtl import MultiTaskPETEstimator
    from petmtl.datasets import make_pet_cohort
    from petmtl.model_selection import cross_validate_cohort

    cohort = make_pet_cohort(18, shape=(16, 16, 16), spacing=8.0, random_state=3)
    est = MultiTaskPETEstimator(base_width=2, depth=2, max_epochs=1, refit_outcome=False)
    return cross_validate_cohort(est, cohort.X, cohort.y, masks=cohort.masks,
                                 pathology=cohort.pathology, n_splits=2, n_repeats=1,
                                 out_dir=out_dir, spacing=8.0, n_resamples=20, verbose=0)


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    run(sys.argv[1])
