"""``pretrain_lm --seed`` reproduces a run bit for bit, whatever used the global RNG before it in the process."""

from __future__ import annotations

from pathlib import Path

import torch

from experiments.pretrain_lm import main

from .test_lm_trainer import Recorder, corpus, tiny_args  # noqa: F401  (corpus is a fixture)


def test_same_seed_same_run_despite_prior_rng_use(corpus: Path, tmp_path: Path) -> None:  # noqa: F811
    runs = []
    for i, draws in enumerate((0, 12345)):
        torch.rand(draws)  # earlier work in the process moved the global RNG (a different amount each time)
        rec = Recorder()
        summary = main(tiny_args(corpus, tmp_path / f"run{i}", 3, "--no-final-eval"), callbacks=[rec])
        runs.append((rec.losses, summary["param_checksum"]))
    (losses_a, sum_a), (losses_b, sum_b) = runs
    assert losses_a == losses_b  # exact: same initial weights, same data order, deterministic CPU kernels
    assert sum_a == sum_b
