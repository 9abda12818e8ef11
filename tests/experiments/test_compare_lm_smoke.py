"""Time-budget training (seqconv.training.budget) and the equal-parameter / equal-time LM comparison (compare_lm)."""

from __future__ import annotations

import csv
import random

import pytest
import torch
from transformers import TrainerControl, TrainerState, TrainingArguments
from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

from experiments import compare_lm
from experiments.plot_lm_curves import load_curves
from seqconv.training.budget import TimeBudgetCallback, budget_lr_factor


class FakeClocks:
    """Wall and CPU clocks advanced by hand (CPU runs at half speed: a shared machine)."""

    def __init__(self) -> None:
        self.t = 0.0

    def wall(self) -> float:
        return self.t

    def cpu(self) -> float:
        return self.t / 2


def _drive(cb: TimeBudgetCallback, clocks: FakeClocks, step_s: float, eval_s: float, max_steps: int = 100) -> list[int]:
    """Simulate the Trainer loop: each step takes step_s, each requested evaluation eval_s; returns eval steps."""
    args, state, control = TrainingArguments(output_dir="unused", report_to="none"), TrainerState(), TrainerControl()
    cb.on_train_begin(args, state, control)
    evals = []
    for _ in range(max_steps):
        control.should_evaluate = control.should_training_stop = False
        cb.on_step_begin(args, state, control)
        clocks.t += step_s
        state.global_step += 1
        cb.on_step_end(args, state, control)
        if control.should_evaluate:
            clocks.t += eval_s
            cb.on_evaluate(args, state, control)
            evals.append(state.global_step)
        if control.should_training_stop:
            break
    cb.on_train_end(args, state, control)
    return evals


def test_budget_callback_stops_and_excludes_eval_time(tmp_path) -> None:
    clocks = FakeClocks()
    cb = TimeBudgetCallback(10.0, "wall", eval_every_s=3.0, log_path=tmp_path / "b.csv", clocks=(clocks.wall, clocks.cpu))
    evals = _drive(cb, clocks, step_s=1.0, eval_s=5.0)
    # 10 one-second steps fit the budget; the 5 s evaluations (at 3, 6, 9 s of training) are not counted
    assert cb.steps == 10 and cb.stopped_by_budget
    assert evals == [3, 6, 9]
    assert cb.wall_s == pytest.approx(10.0) and cb.cpu_s == pytest.approx(5.0)
    assert clocks.t == pytest.approx(25.0)  # 10 s training + 3 evaluations of 5 s
    with open(tmp_path / "b.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 11))
    assert float(rows[3]["wall_s"]) == pytest.approx(4.0)  # step 4 ends 4 training seconds in, after one eval


def test_budget_callback_cpu_clock() -> None:
    clocks = FakeClocks()
    cb = TimeBudgetCallback(4.0, "cpu", clocks=(clocks.wall, clocks.cpu))
    _drive(cb, clocks, step_s=1.0, eval_s=0.0)
    assert cb.steps == 8  # the CPU clock runs at half the wall speed here
    assert cb.cpu_s == pytest.approx(4.0) and cb.wall_s == pytest.approx(8.0)


def test_budget_callback_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="budget_s"):
        TimeBudgetCallback(0.0)
    with pytest.raises(ValueError, match="kind"):
        TimeBudgetCallback(1.0, "gpu")
    with pytest.raises(ValueError, match="LambdaLR"):
        TimeBudgetCallback(1.0, time_lr_schedule=True)._install_lr_schedule(object())


def test_budget_lr_factor_shape() -> None:
    assert budget_lr_factor(0.0, 0.1, 0.1) == 0.0
    assert budget_lr_factor(0.05, 0.1, 0.1) == pytest.approx(0.5)
    assert budget_lr_factor(0.1, 0.1, 0.1) == pytest.approx(1.0)
    assert budget_lr_factor(1.0, 0.1, 0.1) == pytest.approx(0.1)
    assert budget_lr_factor(2.0, 0.1, 0.1) == pytest.approx(0.1)  # clipped past the budget
    after = [budget_lr_factor(f / 20, 0.1, 0.1) for f in range(2, 21)]
    assert all(a >= b for a, b in zip(after, after[1:]))


def test_time_lr_schedule_replaces_step_schedule() -> None:
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.AdamW([p], lr=1.0)
    sched = get_cosine_with_min_lr_schedule_with_warmup(opt, 10, 1_000_000, min_lr_rate=0.1)
    clocks = FakeClocks()
    cb = TimeBudgetCallback(10.0, "wall", time_lr_schedule=True, warmup_frac=0.2, min_lr_ratio=0.1,
                            clocks=(clocks.wall, clocks.cpu))
    args, state, control = TrainingArguments(output_dir="unused", report_to="none"), TrainerState(), TrainerControl()
    cb.on_train_begin(args, state, control, lr_scheduler=sched)
    assert opt.param_groups[0]["lr"] == 0.0
    clocks.t = 1.0
    opt.step()  # (no gradient: a no-op, but the scheduler expects an optimizer step first)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)  # halfway through the 2 s warmup
    clocks.t = 10.0
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)  # end of the budget: the floor, whatever the step count


def _corpus(path) -> None:
    rng = random.Random(0)
    words = "the king queen lord lady sword crown night day love death speak hear thou thee art doth".split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 12))).capitalize() + "." for _ in range(3000)]
    path.write_text("\n".join(lines))


def test_compare_lm_smoke(tmp_path) -> None:
    text = tmp_path / "corpus.txt"
    _corpus(text)
    common = ["--target-params", "40000", "--param-tolerance", "0.2", "--n-layer", "1", "--eval-every", "1.5",
              "--train-files", str(text), "--block-size", "64", "--batch-size", "4", "--max-eval-blocks", "4",
              "--logging-steps", "5", "--date", "2026-11-29"]
    res = compare_lm.main(["--budget", "3", "--out", str(tmp_path / "wall"), *common])
    rows = res["rows"]
    assert [r["model"] for r in rows] == ["hyena", "sgconv", "transformer"]
    for r in rows:
        assert r["stopped_by_budget"]
        # the budget is spent, and overshot by at most the one step that crossed it (plus clock-read slack)
        assert 3.0 <= r["train wall s"] <= 3.0 + r["max step wall s"] + 0.05, r
        assert r["steps"] > 0 and r["final val loss"] is not None and r["tokens/s"] > 0
        assert abs(r["params"] - 40000) / 40000 <= 0.2
        curves = load_curves(tmp_path / "wall" / r["model"])
        assert curves["train"] and len(curves["eval"]) >= 2
        assert max(s for s, _, _ in curves["train"]) <= r["train wall s"] + 1e-6  # x axis = budget seconds
    md = (tmp_path / "wall" / "lm_shakespeare.md").read_text()
    assert "| model | d_model | n_layer | params | budget |" in md
    assert md.count("| 3 s wall |") == 3 and "Date: 2026-11-29" in md and "Machine: " in md
    assert (tmp_path / "wall" / "lm_shakespeare_loss.png").stat().st_size > 5000

    res = compare_lm.main(["--budget", "1", "--budget-kind", "cpu", "--models", "sgconv", "--plot", "none",
                           "--out", str(tmp_path / "cpu"), *common])
    (r,) = res["rows"]
    assert 1.0 <= r["train CPU s"] <= 1.0 + r["max step CPU s"] + 0.05, r


def test_compare_lm_rejects_reserved_and_unmatchable(tmp_path) -> None:
    with pytest.raises(ValueError, match="--d-model"):
        compare_lm.main(["--d-model", "64", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="param-tolerance"):
        compare_lm.match_width("hyena", 60000, 2, 4, 64, 257, tolerance=0.001)


def test_match_width_counts_with_model_kwargs() -> None:
    kw = {"mlp_ratio": 8.0}  # a bigger MLP per width: the matched width must shrink, the count must still match
    target = 120_000
    d0, n0 = compare_lm.match_width("sgconv", target, 2, 4, 64, 257, tolerance=0.2)
    d1, n1 = compare_lm.match_width("sgconv", target, 2, 4, 64, 257, tolerance=0.2, model_kwargs=kw)
    assert d1 < d0
    assert n1 == compare_lm.count_params("sgconv", d1, 2, 4, 64, 257, kw)
    assert abs(n1 - target) / target <= 0.2
