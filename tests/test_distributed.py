"""torchrun + DistributedDataParallel on CPU (gloo): the same steps as one process, a full tiny run, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from .conftest import KERMANY, REPO

TINY = ["--arch", "mobilenet_v2", "--data", str(KERMANY), "--limit", "48", "--image-size", "32", "--no-progress"]
TINY += ["--threads", "1"]


def torchrun(nproc: int, args: list[str]) -> subprocess.CompletedProcess:
    """``torchrun --standalone`` (a free local port, gloo) running ``python -m trainer train ...``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    if sys.platform == "linux":
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only: the test suite runs offline
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    out = subprocess.run(
        [*cmd, "-m", "trainer", "train", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=420
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out


def test_two_processes_take_the_same_step_as_one(tmp_path):
    """After one optimizer step on the same global batch of 16, 2 ranks (8 films each, BatchNorm over the
    global batch, data streamed by DataLoader workers) hold the weights 1 rank (in-RAM cache) holds."""
    step = [*TINY, "--epochs", "1", "--batch-size", "16", "--max-steps", "1", "--lr", "0.05"]
    step += ["--no-augment", "--no-dropout", "--dtype", "float64"]
    torchrun(1, [*step, "--out", str(tmp_path / "one")])
    torchrun(2, [*step, "--cache", "none", "--workers", "1", "--out", str(tmp_path / "two")])
    one = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    two = torch.load(tmp_path / "two" / "last.pt", weights_only=True)
    assert one["scheduler"]["last_epoch"] == two["scheduler"]["last_epoch"] == 1
    diff = max((one["model"][k] - two["model"][k]).abs().max().item() for k in one["model"])
    assert diff <= 1e-5, diff

    from trainer.backbones import init_model

    start = init_model("mobilenet_v2", "imagenet")[0].state_dict()
    convs = [k for k, v in start.items() if k.endswith("weight") and v.dim() == 4]
    moved = max((two["model"][k].float() - start[k]).abs().max().item() for k in convs)
    assert moved > 100 * 1e-5, moved  # the step is real: far larger than the tolerance

    summaries = [json.loads((tmp_path / name / "run.json").read_text()) for name in ("one", "two")]
    assert [s["world_size"] for s in summaries] == [1, 2]
    two_summary = summaries[1]
    assert two_summary["distributed"]["per_rank_batch_size"] == 8
    assert two_summary["distributed"]["sync_batchnorm"] is True
    # validation and test metrics cover every image of the split, gathered from both ranks
    assert two_summary["validation"]["n_images"] == sum(two_summary["split_counts"]["val"])
    assert two_summary["internal_test"]["n_images"] == sum(two_summary["split_counts"]["test"])
    assert two_summary["validation"]["roc_auc"] == summaries[0]["validation"]["roc_auc"]


def test_full_run_on_two_processes_exports_and_resumes_on_one(tmp_path):
    from cxrviewer.core import load_bundle
    from trainer.__main__ import main as trainer_main

    run = tmp_path / "run"
    args = [*TINY, "--epochs", "2", "--batch-size", "16", "--cache", "disk", "--workers", "1", "--out", str(run)]
    torchrun(2, [*args, "--max-minutes", "0.001"])  # stops after epoch 1 (time budget), then calibrates
    summary = json.loads((run / "run.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs_run"] == 1
    assert summary["stop_reason"].startswith("time budget")
    assert summary["validation"]["n_images"] == sum(summary["split_counts"]["val"])
    assert summary["internal_test"]["n_images"] == sum(summary["split_counts"]["test"])
    # logging and checkpoints on rank 0 only: one line per epoch, not one per rank
    assert len((run / "epochs.jsonl").read_text().splitlines()) == 1
    for name in ("splits.csv", "best.pt", "last.pt", "learning_curves.png"):
        assert (run / name).is_file(), name
    (cache_file,) = (run / "cache").glob("*.npy")  # one memory-mapped file, written once
    written = cache_file.stat().st_mtime_ns

    trainer_main(["export", "--run", str(run), "--name", "ddp", "--models-dir", str(tmp_path / "models")])
    assert load_bundle(tmp_path / "models" / "ddp").card.training["world_size"] == 2

    trainer_main(["train", *args, "--resume"])  # one process, without torchrun, continues the 2-rank run
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert json.loads((run / "run.json").read_text())["world_size"] == 1
    assert cache_file.stat().st_mtime_ns == written  # the cache was reused, not rebuilt
