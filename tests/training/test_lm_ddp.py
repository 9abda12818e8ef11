"""pretrain_lm under torchrun with 2 CPU processes (DDP over gloo): completes, ranks agree."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORDS = "the a king queen of to and is was my thy lord love sweet night day fair death crown sword".split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    rng = random.Random(0)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(1500)) + "\n")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(_free_port()), str(REPO / "experiments" / "pretrain_lm.py"),
        "--train-files", str(corpus), "--output-dir", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"),
        "--model", "gpt2", "--d-model", "32", "--n-layer", "1", "--n-head", "2", "--block-size", "32",
        "--batch-size", "8", "--max-steps", "6", "--logging-steps", "1", "--eval-steps", "3", "--save-steps", "3",
        "--lr", "1e-2", "--warmup", "2", "--report-to", "none", "--max-eval-blocks", "8", *extra,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_two_process_cpu_ddp_ranks_agree(tmp_path: Path) -> None:
    proc = _torchrun(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s0, s1 = (json.loads((tmp_path / "run" / f"summary_rank{r}.json").read_text()) for r in (0, 1))
    assert s0["world_size"] == s1["world_size"] == 2 and s0["global_step"] == s1["global_step"] == 6
    assert s0["tokens_per_step"] == 2 * 8 * 32  # both ranks' batches count
    # the reported losses are all-reduced, and DDP keeps the replicas identical
    assert s0["train_loss"] == s1["train_loss"] and s0["eval_loss"] == s1["eval_loss"]
    assert s0["param_checksum"] == s1["param_checksum"]
    assert s0["eval_loss"] < 5.0 < 5.55  # below the uniform 257-way start, ln(257) = 5.55
    assert (tmp_path / "run" / "checkpoint-6" / "rng_state_1.pth").is_file()
