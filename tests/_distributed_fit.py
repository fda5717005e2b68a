"""Fit a small estimator in every process of a torchrun launch; save what the tests compare.

Usage: ``torchrun --nproc_per_node=N tests/_distributed_fit.py OUT_DIR [CHECKPOINT [MODE]]``
(``-`` for no checkpoint). With a checkpoint the fit writes it every epoch and resumes
from it when it exists. MODE ``slow``: every training batch sleeps, and the first batch
after the first checkpoint creates ``CHECKPOINT.mid-epoch``, so that a test can kill the
run mid-epoch. MODE ``batchnorm``: after the group-norm fit, a second fit with the default
batch normalisation, whose files start with ``batchnorm-`` (one launch for both).
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import make_blob_volumes  # noqa: E402

from petmtl import MultiTaskPETEstimator  # noqa: E402
from petmtl.network import MultiTaskWNet  # noqa: E402

# group norm, no dropout, no flips: what differs with the number of processes is then
# only the order of floating-point sums (see docs/distributed.rst)
PARAMS = dict(base_width=2, depth=2, batch_size=4, max_epochs=4, norm="group", dropout=0.0,
              augment=False, random_state=0, n_iter_no_change=10)


def data():
    return make_blob_volumes(n_samples=20, size=12, seed=4)


def main(out: str, checkpoint: str | None = None, mode: str = "") -> None:
    checkpoint = None if checkpoint in (None, "-") else checkpoint
    if mode == "slow":
        original = MultiTaskWNet.forward
        marker = f"{checkpoint}.mid-epoch"

        def slow(self, x, **kwargs):
            if self.training:
                if os.path.exists(checkpoint) and not os.path.exists(marker):
                    open(marker, "w").close()
                time.sleep(0.2)
            return original(self, x, **kwargs)

        MultiTaskWNet.forward = slow
    X, y, masks, pathology = data()
    resume = checkpoint if checkpoint and os.path.exists(checkpoint) else None
    fits = [("", PARAMS)]
    if mode == "batchnorm":
        fits.append(("batchnorm-", {**PARAMS, "norm": "batch"}))
    for prefix, params in fits:
        est = MultiTaskPETEstimator(**params, checkpoint_path=checkpoint, resume=resume)
        est.fit(X, y, masks=masks, pathology=pathology)
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        folder = Path(out)
        torch.save(est.module_.state_dict(), folder / f"{prefix}weights-{rank}.pt")
        (folder / f"{prefix}history-{rank}.json").write_text(json.dumps(est.history_))
        np.save(folder / f"{prefix}proba-{rank}.npy", est.predict_proba(X))


if __name__ == "__main__":
    main(*sys.argv[1:])
