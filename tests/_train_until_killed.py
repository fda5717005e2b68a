"""Helper of test_reliability: a slow checkpointed fit that the test kills with SIGKILL.

Usage: python tests/_train_until_killed.py CHECKPOINT_PATH

Every training batch sleeps 0.15 s; the first batch that starts after the first checkpoint
was written creates ``CHECKPOINT_PATH.mid-epoch``, the test's signal to kill.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

PARAMS = dict(base_width=2, depth=2, batch_size=4, max_epochs=6, random_state=0)


def dataset():
    rng = np.random.default_rng(3)
    X = rng.normal(1.0, 0.1, (8, 8, 8, 8)).astype(np.float32)
    masks = np.zeros(X.shape, dtype=np.uint8)
    masks[:, 2:5, 2:5, 2:5] = 1
    y = np.arange(8) % 2
    X[masks == 1] += 4 + 4 * np.repeat(y, 27)
    pathology = np.array(["a", "b"] * 4, dtype=object)
    return X, y, masks, pathology


def main(path: str) -> None:
    from petmtl import MultiTaskPETEstimator
    from petmtl.network import MultiTaskWNet

    original = MultiTaskWNet.forward
    marker = f"{path}.mid-epoch"

    def slow_forward(self, x, **kwargs):  # every batch takes a while: SIGKILL lands mid-epoch
        if self.training and os.path.exists(path) and not os.path.exists(marker):
            open(marker, "w").close()  # the first batch after the first checkpoint
        time.sleep(0.15)
        return original(self, x, **kwargs)

    MultiTaskWNet.forward = slow_forward
    X, y, masks, pathology = dataset()
    MultiTaskPETEstimator(**PARAMS, checkpoint_path=path).fit(
        X, y, masks=masks, pathology=pathology)
    print("finished", os.getpid())


if __name__ == "__main__":
    main(sys.argv[1])
