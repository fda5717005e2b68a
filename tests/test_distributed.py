"""Data-parallel fit with torchrun on CPU processes (gloo): equal ranks, equal history."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from petmtl.serialization import read_record

from .conftest import made_once, wait_for_file

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes

HELPER = Path(__file__).resolve().parent / "_distributed_fit.py"
ROOT = HELPER.parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def launch(out: Path, n: int, *args: str, wait: bool = True):
    out.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={n}", str(HELPER), str(out), *args]
    if n == 1:
        command = [sys.executable, str(HELPER), str(out), *args]
    proc = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    if wait:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-3000:]
    return proc


def history(out: Path, rank: int = 0, prefix: str = "") -> list[dict]:
    return [{k: v for k, v in r.items() if k != "duration"}
            for r in json.loads((out / f"{prefix}history-{rank}.json").read_text())]


def weights(out: Path, rank: int = 0, prefix: str = "") -> dict:
    return torch.load(out / f"{prefix}weights-{rank}.pt", weights_only=True)


def assert_histories_close(a, b, rtol=1e-4):
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for key in ra:
            assert ra[key] == pytest.approx(rb[key], rel=rtol, abs=1e-6), (ra["epoch"], key)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return made_once(tmp_path_factory, "single-process-fit", lambda out: launch(out, 1))


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """One launch of 2 gloo processes: a group-norm fit, then a batch-norm one."""
    return made_once(tmp_path_factory, "two-rank-fits",
                     lambda out: launch(out, 2, "-", "batchnorm"))


def test_two_gloo_processes_train_like_one_at_the_same_global_batch(single, two_ranks):
    first, second = weights(two_ranks, 0), weights(two_ranks, 1)
    assert all(torch.equal(first[k], second[k]) for k in first)  # identical on both ranks
    assert history(two_ranks, 0) == history(two_ranks, 1)
    np.testing.assert_array_equal(np.load(two_ranks / "proba-0.npy"),
                                  np.load(two_ranks / "proba-1.npy"))
    # the same global batches and the same statistics; only float sums differ in order
    assert_histories_close(history(single), history(two_ranks))
    np.testing.assert_allclose(np.load(two_ranks / "proba-0.npy"),
                               np.load(single / "proba-0.npy"), atol=1e-3)


def test_every_rank_ends_with_the_same_batch_norm_statistics(two_ranks):
    """With batch norm on CPUs each process normalises its own share of every batch; the
    running statistics are averaged after each epoch, so both ranks end with one model."""
    first, second = (weights(two_ranks, rank, "batchnorm-") for rank in (0, 1))
    assert any("running_mean" in k for k in first)
    assert first.keys() == second.keys()
    different = [k for k in first if not torch.equal(first[k], second[k])]
    assert different == []
    np.testing.assert_array_equal(np.load(two_ranks / "batchnorm-proba-0.npy"),
                                  np.load(two_ranks / "batchnorm-proba-1.npy"))


def test_a_killed_distributed_run_resumes_from_its_checkpoint(single, tmp_path):
    """(One process killed and resumed: ``test_reliability.py``.)"""
    checkpoint = tmp_path / "run.ckpt"
    n = 2
    proc = launch(tmp_path, n, str(checkpoint), "slow", wait=False)
    try:
        # rank 0 marks the first batch after the first checkpoint: mid-epoch 2
        wait_for_file(Path(f"{checkpoint}.mid-epoch"), proc, timeout=300)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    saved = read_record(checkpoint).training_state["epoch"]
    assert 1 <= saved < 4
    launch(tmp_path, n, str(checkpoint))  # resumes: the checkpoint exists
    assert read_record(checkpoint).training_state["epoch"] == 4
    assert_histories_close(history(single), history(tmp_path))
