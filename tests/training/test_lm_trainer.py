"""pretrain_lm end to end on a tiny GPT-2 (CPU): loss goes down, metrics, resume, clear errors."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import TrainerCallback

from experiments.pretrain_lm import main, parse_args
from seqconv.training.lm_trainer import (
    StopAtStepCallback,
    check_context_length,
    hinted_param_groups,
    make_param_groups,
    validate_checkpoint,
)

WORDS = "the a king queen of to and is was my thy lord love sweet night day fair death crown sword".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(" ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(1500)) + "\n")
    return path


def tiny_args(corpus: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return [
        "--train-files", str(corpus), "--output-dir", str(out), "--cache-dir", str(out.parent / "cache"),
        "--model", "gpt2", "--d-model", "32", "--n-layer", "1", "--n-head", "2", "--block-size", "32",
        "--batch-size", "8", "--max-steps", str(steps), "--logging-steps", "1", "--eval-steps", "0",
        "--save-steps", "1000", "--lr", "1e-2", "--warmup", "2", "--threads", "1", "--report-to", "none",
        "--max-eval-blocks", "8", "--seed", "3", *extra,
    ]  # fmt: skip


def read_metrics(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_tiny_run_lowers_loss_and_reports_metrics(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = main(tiny_args(corpus, out, 40))
    rows = [r for r in read_metrics(out) if r.get("loss")]
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 40
    assert losses[0] > math.log(257) - 0.5  # starts near uniform over the 257 byte-level ids
    assert sum(losses[-5:]) / 5 < losses[0] - 1.5  # 20-word corpus: learned quickly
    assert all(float(r["tokens_per_sec"]) > 0 for r in rows[1:])
    # eval metrics: ppl = exp(loss), bpb = loss * tokens/bytes / ln 2 (byte tokenizer: tokens/byte ~ 1 + EOS share)
    assert summary["eval_ppl"] == pytest.approx(math.exp(summary["eval_loss"]), rel=1e-9)
    assert summary["eval_bpb"] == pytest.approx(summary["eval_loss"] / math.log(2), rel=0.01)
    assert summary["eval_loss"] < losses[0] - 1.0
    assert (out / "tokenizer.json").is_file() and (out / "final" / "config.json").is_file()
    # a rerun into the same directory without --resume is refused instead of silently mixing runs
    main(tiny_args(corpus, tmp_path / "run2", 2, "--save-steps", "1", "--no-final-eval"))
    with pytest.raises(ValueError, match="already holds checkpoints"):
        main(tiny_args(corpus, tmp_path / "run2", 2, "--no-final-eval"))


class Recorder(TrainerCallback):
    """Per optimizer step: the LR of every param group after the step and the input batches that built it."""

    def __init__(self) -> None:
        self.lrs: dict[int, list[float]] = {}
        self.batches: dict[int, list[torch.Tensor]] = {}
        self.losses: dict[int, float] = {}
        self._pending: list[torch.Tensor] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        def hook(mod: torch.nn.Module, a: tuple, kwargs: dict) -> None:
            if mod.training:
                self._pending.append(kwargs["input_ids"].clone())

        model.register_forward_pre_hook(hook, with_kwargs=True)

    def on_step_end(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kw: Any) -> None:
        self.lrs[state.global_step] = [g["lr"] for g in optimizer.param_groups]
        self.batches[state.global_step], self._pending = self._pending, []

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
        if logs and "loss" in logs:
            self.losses[state.global_step] = logs["loss"]


def test_resume_continues_same_schedule_and_data_order(corpus: Path, tmp_path: Path) -> None:
    steps, cut = 10, 4
    extra = ("--grad-accum", "2", "--save-steps", str(cut), "--no-final-eval", "--min-lr-ratio", "0.1")
    full = Recorder()
    s_full = main(tiny_args(corpus, tmp_path / "full", steps, *extra), callbacks=[full])
    first = Recorder()
    main(tiny_args(corpus, tmp_path / "cut", steps, *extra), callbacks=[first, StopAtStepCallback(cut)])
    assert max(first.lrs) == cut and (tmp_path / "cut" / f"checkpoint-{cut}").is_dir()
    resumed = Recorder()
    s_res = main(tiny_args(corpus, tmp_path / "cut", steps, *extra, "--resume"), callbacks=[resumed])
    assert sorted(resumed.lrs) == list(range(cut + 1, steps + 1))
    for k in range(1, steps + 1):
        part = first if k <= cut else resumed
        assert part.lrs[k] == full.lrs[k], f"LR differs at step {k}"
        assert len(part.batches[k]) == 2  # grad accumulation: 2 micro-batches per step
        for a, b in zip(part.batches[k], full.batches[k]):
            assert torch.equal(a, b), f"data order differs at step {k}"
        # same weights and data on CPU -> same losses (deterministic kernels; tolerance for summation order only)
        assert part.losses[k] == pytest.approx(full.losses[k], rel=1e-5)
    assert s_res["param_checksum"] == pytest.approx(s_full["param_checksum"], rel=1e-6)
    # metrics.csv continues the same run: one train row per step, no duplicates
    train_steps = [int(r["step"]) for r in read_metrics(tmp_path / "cut") if r.get("loss")]
    assert train_steps == list(range(1, steps + 1))


def test_corrupt_checkpoint_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    main(tiny_args(corpus, out, 2, "--save-steps", "2", "--no-final-eval"))
    ckpt = out / "checkpoint-2"
    validate_checkpoint(ckpt)
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt.*model.safetensors"):
        main(tiny_args(corpus, out, 4, "--save-steps", "2", "--no-final-eval", "--resume"))
    weights.unlink()
    with pytest.raises(ValueError, match="no model weights"):
        validate_checkpoint(ckpt)
    (ckpt / "trainer_state.json").write_text("{")
    with pytest.raises(ValueError, match="corrupt.*trainer_state.json"):
        validate_checkpoint(ckpt)
    with pytest.raises(ValueError, match="no checkpoint"):
        main(tiny_args(corpus, tmp_path / "empty", 4, "--resume"))


def test_context_length_error(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="larger than the model supports"):
        main(tiny_args(corpus, tmp_path / "run", 2, "--model-kwargs", json.dumps({"n_positions": 16})))
    # FSDP through Trainer/accelerate is GPU-only (accelerate ignores it for CPU processes): refused, not faked
    with pytest.raises(ValueError, match="needs GPUs"):
        main(tiny_args(corpus, tmp_path / "fsdp", 2, "--fsdp", "full_shard auto_wrap"))
    model = torch.nn.Linear(2, 2)
    check_context_length(model, 10**6)  # no declared limit: anything goes


def test_param_groups_honor_hints() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    model[2].weight._optim = {"lr": 1e-3, "weight_decay": 0.0}
    for build in (hinted_param_groups, make_param_groups):
        groups = build(model, 0.1, 0.05)
        by_param = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
        assert by_param[id(model[2].weight)] == (1e-3, 0.0)
        assert by_param[id(model[0].weight)] == (0.1, 0.05)
        assert by_param[id(model[0].bias)][1] == 0.0 and by_param[id(model[1].weight)][1] == 0.0
        assert len(by_param) == sum(1 for _ in model.parameters())


def test_recipes_parse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    args = parse_args(["--recipe", "cpu-tinyshakespeare", "--output-dir", str(tmp_path), "--max-steps", "7"])
    assert args.train_files[0].endswith("tinyshakespeare/input.txt") and args.max_steps == 7
    assert parse_args(["--recipe", "cpu-shakespeare", "--output-dir", "x"]).train_files[0].endswith("shakespeare")
    monkeypatch.delenv("WIKITEXT103_DIR", raising=False)
    with pytest.raises(ValueError, match="WIKITEXT103_DIR"):
        parse_args(["--recipe", "wikitext103", "--output-dir", "x"])
    monkeypatch.setenv("WIKITEXT103_DIR", "/data/wt103")
    args = parse_args(["--recipe", "wikitext103", "--output-dir", "x"])
    assert args.train_files == ["/data/wt103/wiki.train.raw"] and args.model == "hyena" and args.block_size == 1024
    with pytest.raises(ValueError, match="known recipes"):
        parse_args(["--recipe", "nope", "--output-dir", "x"])


def test_seqconv_model_missing_or_built(corpus: Path) -> None:
    from experiments.pretrain_lm import build_model

    args = parse_args(["--train-files", str(corpus), "--output-dir", "x", "--model", "hyena", "--d-model", "16",
                       "--n-layer", "1", "--block-size", "32"])
    try:
        import seqconv.models as sm

        available = hasattr(sm, "SeqConvForCausalLM")
    except ImportError:
        available = False
    if not available:
        with pytest.raises(RuntimeError, match="seqconv.models"):
            build_model(args, 257)
    else:
        model = build_model(args, 257, eos_token_id=256)
        out = model(input_ids=torch.randint(0, 257, (2, 32)), labels=torch.randint(0, 257, (2, 32)))
        assert out.logits.shape == (2, 32, 257) and torch.isfinite(out.loss)


@pytest.mark.parametrize("name", ["sgconv", "longconv", "s4d", "hyena", "tcn", "tcnca", "transformer", "attention"])
@pytest.mark.parametrize("block_size", [16, 32])
def test_every_builtin_mixer_builds(name: str, block_size: int) -> None:
    from experiments.pretrain_lm import build_model, build_parser, model_choices

    assert name in model_choices()
    args = build_parser().parse_args(["--output-dir", "x", "--model", name, "--d-model", "16", "--n-layer", "1",
                                      "--n-head", "2", "--block-size", str(block_size)])
    model = build_model(args, 257, eos_token_id=256)
    out = model(input_ids=torch.randint(0, 257, (1, block_size)), labels=torch.randint(0, 257, (1, block_size)))
    assert out.logits.shape == (1, block_size, 257) and torch.isfinite(out.loss)


def test_default_model_is_a_seqconv_mixer() -> None:
    from experiments.pretrain_lm import build_parser
    from seqconv.modules.registry import mixer_names

    assert build_parser().parse_args(["--output-dir", "x"]).model == "sgconv" in mixer_names()
