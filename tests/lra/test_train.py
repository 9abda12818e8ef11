"""Training loop: deterministic order, sharding, end-to-end tiny runs, kill -9 + --resume == uninterrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lra import train as lra_train
from lra.cli import build_config
from lra.train import TaskData, epoch_order, global_batches, shard

REPO = Path(__file__).resolve().parents[2]

# A tiny run: 1 layer x 16, dropout on (so the torch RNG state matters), 12 steps per epoch, 3 epochs,
# checkpoints every 2 steps (mid-epoch checkpoints get exercised).
TINY = [
    "data.n_train=96", "data.batch_size=8", "data.eval_batch_size=32", "backbone.n_layer=1", "backbone.d_model=16",
    "backbone.dropout=0.1", "train.epochs=3", "train.checkpoint_every=2", "optim.lr=0.01",
]


def tiny_task_data(cfg: dict, data_dir=None) -> TaskData:
    """Associative recall (lra.data.synthetic), 96/48/48 examples of length 24, collated in-test."""
    from lra.data.synthetic import associative_recall_dataset

    n_train = int(cfg["data"]["n_train"])

    def collate(rows):
        x = torch.tensor([r["input_ids"] for r in rows])
        return {"inputs": x, "mask": torch.ones_like(x, dtype=torch.bool),
                "labels": torch.tensor([r["label"] for r in rows])}

    mk = lambda n, s: associative_recall_dataset(n, 24, 16, s)  # noqa: E731
    return TaskData(train=mk(n_train, 1), val=mk(48, 2), test=mk(48, 3), collate=collate, n_classes=16,
                    vocab_size=16, seq_len=24)


def child_main(argv: list[str]) -> int:
    """Entry point for the subprocess runs: the CLI with the tiny in-test data source."""
    lra_train.load_data = tiny_task_data
    from lra.cli import main

    return main(argv)


def _cli_args(out: Path, *extra: str) -> list[str]:
    args = ["run", "--task", "assoc_recall", "--model", "sgconv", "--preset", "cpu", "--out", str(out),
            "--name", "r", "--no-progress", "--device", "cpu"]
    for s in TINY:
        args += ["--set", s]
    return args + list(extra)


def _child(out: Path, *extra: str) -> list[str]:
    code = "import sys; from tests.lra.test_train import child_main; sys.exit(child_main(sys.argv[1:]))"
    return [sys.executable, "-c", code, *_cli_args(out, *extra)]


def _env() -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return env


def test_epoch_order_is_a_deterministic_permutation():
    a, b = epoch_order(50, 3, 7), epoch_order(50, 3, 7)
    assert a == b and sorted(a) == list(range(50))
    assert epoch_order(50, 3, 8) != a and epoch_order(50, 4, 7) != a


@pytest.mark.parametrize("world", [1, 2, 3])
def test_shards_partition_every_global_batch(world):
    batches = global_batches(23, 6, seed=0, epoch=1, world_size=world)
    seen = []
    for b in batches:
        parts = [shard(b, r, world) for r in range(world)]
        assert sorted(sum(parts, [])) == sorted(b)
        seen += b
    # only a trailing batch smaller than the world size may be dropped
    assert len(seen) >= 23 - (world - 1) and len(set(seen)) == len(seen)


def test_inprocess_run_writes_results(tmp_path, monkeypatch):
    monkeypatch.setattr(lra_train, "load_data", tiny_task_data)
    cfg = build_config("assoc_recall", "sgconv", "cpu", 0, TINY + ["train.epochs=2"])
    res = lra_train.run(cfg, tmp_path / "r", progress=False, device="cpu")
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    assert saved["status"] == "finished" and len(saved["history"]) == 2
    best = max(saved["history"], key=lambda h: h["val_acc"])  # first max = the epoch kept as best
    assert saved["test_acc_at_best_val"] == best["test_acc"] and saved["best_epoch"] == best["epoch"]
    assert saved["n_params"] == res["n_params"] > 0
    assert saved["steps"] == 2 * 12 and saved["config"]["optim"]["lr"] == 0.01
    assert (tmp_path / "r" / "best.safetensors").is_file()
    # a second run into the same dir without --resume is refused; with --resume the finished run is returned
    with pytest.raises(FileExistsError, match="--resume"):
        lra_train.run(cfg, tmp_path / "r", progress=False, device="cpu")
    again = lra_train.run(cfg, tmp_path / "r", progress=False, device="cpu", resume=True)
    assert again["history"] == saved["history"]


def test_resume_refuses_a_different_config(tmp_path, monkeypatch):
    monkeypatch.setattr(lra_train, "load_data", tiny_task_data)
    cfg = build_config("assoc_recall", "sgconv", "cpu", 0, TINY + ["train.epochs=1", "train.max_steps=3"])
    lra_train.run(cfg, tmp_path / "r", progress=False, device="cpu")
    (tmp_path / "r" / "results.json").unlink()  # pretend it was killed after the last checkpoint
    other = build_config("assoc_recall", "sgconv", "cpu", 0, TINY + ["train.epochs=1", "optim.lr=0.5"])
    with pytest.raises(ValueError, match="different configuration"):
        lra_train.run(other, tmp_path / "r", progress=False, device="cpu", resume=True)


def test_interrupted_inprocess_run_resumes_bitwise(tmp_path, monkeypatch):
    """Fast variant of the kill test: an exception in step 7 (checkpoints at 2, 4, 6) kills the run in-process."""
    monkeypatch.setattr(lra_train, "load_data", tiny_task_data)
    cfg = build_config("assoc_recall", "sgconv", "cpu", 0, TINY + ["train.epochs=2"])
    ref = lra_train.run(cfg, tmp_path / "ref", progress=False, device="cpu")
    calls = {"n": 0}
    orig_step = torch.optim.AdamW.step

    def exploding_step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt("simulated kill")
        return orig_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", exploding_step)
    with pytest.raises(KeyboardInterrupt):
        lra_train.run(cfg, tmp_path / "cut", progress=False, device="cpu")
    monkeypatch.setattr(torch.optim.AdamW, "step", orig_step)
    cut = lra_train.run(cfg, tmp_path / "cut", progress=False, device="cpu", resume=True)
    assert cut["resumes"] == [{"from": "step-000000006.json", "global_step": 6}]
    strip = lambda hs: [{k: v for k, v in h.items() if k != "train_seconds_total"} for h in hs]  # noqa: E731
    assert strip(cut["history"]) == strip(ref["history"])
    wa, wb = load_file(str(tmp_path / "ref/final.safetensors")), load_file(str(tmp_path / "cut/final.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_kill9_then_resume_matches_uninterrupted_run_bitwise(tmp_path):
    ref_out, cut_out = tmp_path / "ref", tmp_path / "cut"
    subprocess.run(_child(ref_out), cwd=REPO, env=_env(), check=True, capture_output=True, timeout=300)

    proc = subprocess.Popen(_child(cut_out), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpts = cut_out / "r" / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not list(ckpts.glob("step-*.json")):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    rc = proc.wait(timeout=60)
    assert rc == -signal.SIGKILL, "the run finished before it could be killed; make the tiny run longer"
    assert not (cut_out / "r" / "results.json").exists()

    subprocess.run(_child(cut_out, "--resume"), cwd=REPO, env=_env(), check=True, capture_output=True, timeout=300)
    ref = json.loads((ref_out / "r" / "results.json").read_text())
    cut = json.loads((cut_out / "r" / "results.json").read_text())
    assert cut["resumes"], "the second run did not resume from a checkpoint"
    assert cut["resumes"][0]["global_step"] < cut["steps"]
    assert cut["history"] == [dict(h, train_seconds_total=c["train_seconds_total"])
                              for h, c in zip(ref["history"], cut["history"])]
    for key in ("test_acc_at_best_val", "best_val_acc", "best_epoch", "steps"):
        assert cut[key] == ref[key]
    wa, wb = load_file(str(ref_out / "r" / "final.safetensors")), load_file(str(cut_out / "r" / "final.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k  # bitwise: same ops, same order, same RNG streams


def test_real_loader_tiny_listops_run(tmp_path, monkeypatch):
    """End to end through lra.data (the real ListOps generator + load_task + collate), one short epoch."""
    monkeypatch.setenv("SEQCONV_CACHE", str(tmp_path / "cache"))
    cfg = build_config("listops", "sgconv", "cpu", 0, [
        "data.n_train=64", "data.n_eval=16", "data.gen.min_length=20", "data.gen.max_length=60",
        "data.max_length=64", "backbone.n_layer=1", "backbone.d_model=16", "train.epochs=1", "data.batch_size=16"])
    res = lra_train.run(cfg, tmp_path / "r", progress=False, device="cpu")
    assert res["status"] == "finished" and 0.0 <= res["test_acc_at_best_val"] <= 1.0
    assert res["data"]["n_classes"] == 10 and res["data"]["vocab_size"] == 16
    assert (res["data"]["n_train"], res["data"]["n_val"], res["data"]["n_test"]) == (64, 16, 16)
    assert res["data"]["seq_len"] < 60  # generator bound honoured (not truncated 500..2000 trees)


def _presence_task(cfg: dict, data_dir=None) -> TaskData:
    """Easy task: label = whether token 3 occurs in a random length-16 sequence (learnable by mean pooling)."""
    from datasets import Dataset

    g = torch.Generator().manual_seed(0)

    def make(n):
        x = torch.randint(1, 16, (n, 16), generator=g)
        return Dataset.from_dict({"input_ids": x.tolist(), "label": (x == 3).any(1).long().tolist()})

    return TaskData(train=make(256), val=make(128), test=make(128), collate=lra_train._synthetic_collate,
                    n_classes=2, vocab_size=16, seq_len=16)


def test_training_learns_an_easy_task(tmp_path, monkeypatch):
    monkeypatch.setattr(lra_train, "load_data", _presence_task)
    # ListOps cpu recipe (bidirectional SGConv, BatchNorm post-norm, mean pooling), 1 x 32, on the easy data
    cfg = build_config("listops", "sgconv", "cpu", 0, [
        "data.batch_size=16", "backbone.n_layer=1", "backbone.d_model=32", "train.epochs=4", "optim.lr=0.01"])
    res = lra_train.run(cfg, tmp_path / "r", progress=False, device="cpu")
    assert res["history"][0]["train_loss"] > res["history"][-1]["train_loss"]
    assert res["test_acc_at_best_val"] > 0.85  # majority class is about 0.67; 6 epochs reach 0.97


@pytest.mark.parametrize("task", ["assoc_recall", "selective_copy"])
def test_synthetic_tasks_run(tmp_path, task):
    cfg = build_config(task, "sgconv", "cpu", 0, [
        "data.n_train=32", "data.n_eval=8", "data.gen.seq_len=40", "backbone.n_layer=1", "backbone.d_model=16",
        "train.epochs=1", "data.batch_size=16"])
    res = lra_train.run(cfg, tmp_path / "r", progress=False, device="cpu")
    assert res["data"]["n_train"] == 32 and res["data"]["seq_len"] == 40
    assert 0.0 <= res["test_acc_at_best_val"] <= 1.0


def test_dual_pair_batches_are_split():
    x = torch.arange(24).view(3, 2, 4)
    b = lra_train.unpack_batch({"inputs": x, "mask": x > 0, "labels": torch.zeros(3)}, dual=True)
    assert torch.equal(b["inputs"], x[:, 0]) and torch.equal(b["inputs2"], x[:, 1])
    assert torch.equal(b["mask2"], x[:, 1] > 0)


@pytest.mark.slow
def test_torchrun_two_process_gloo_run(tmp_path):
    """DDP on CPU (gloo): 2 processes share the deterministic global batches; rank 0 writes the results."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           "-m", "tests.lra.test_train", *_cli_args(tmp_path, "--set", "train.epochs=1")]
    subprocess.run(cmd, cwd=REPO, env=_env(), check=True, capture_output=True, timeout=300)
    res = json.loads((tmp_path / "r" / "results.json").read_text())
    assert res["world_size"] == 2 and res["steps"] == 12 and res["status"] == "finished"
    assert res["data"]["n_val"] == 48 and 0.0 <= res["test_acc_at_best_val"] <= 1.0


if __name__ == "__main__":  # subprocess entry (torchrun -m tests.lra.test_train ...)
    sys.exit(child_main(sys.argv[1:]))
