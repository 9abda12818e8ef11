"""``transformers.Trainer`` pieces for causal-LM pretraining (model-agnostic: any HF causal LM).

* ``LMTrainer``: AdamW over parameter groups built from the kernels' ``param._optim`` hints
  (``seqconv.training.param_groups.build_param_groups`` when present, else ``hinted_param_groups`` here), and
  evaluation metrics ``eval_ppl`` = exp(loss) and ``eval_bpb`` = loss * tokens / bytes / ln 2.
* ``CSVMetricsCallback``: every log line (train and eval) into ``metrics.csv``, with tokens/s; on resume the rows past
  the checkpoint's step are dropped so the file continues the same run.
* ``check_context_length``, ``validate_checkpoint``, ``causal_lm_collator``: clear errors and glue.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

# ------------------------------------------------------------------------------------------------------------ optimizer


def hinted_param_groups(model: nn.Module, lr: float, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on >=2-D weights, none on biases/norm scales/1-D params; ``param._optim`` overrides.

    A parameter carrying ``param._optim = {"lr": ..., "weight_decay": ...}`` (S4/safari convention) gets those values.
    Parameters with equal (lr, weight_decay) share a group; order follows ``model.named_parameters()``.
    """
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        hint = dict(getattr(p, "_optim", None) or {})
        key = (float(hint.get("lr", lr)), float(hint.get("weight_decay", weight_decay if p.ndim >= 2 else 0.0)))
        groups.setdefault(key, []).append(p)
    return [{"params": ps, "lr": k[0], "weight_decay": k[1]} for k, ps in groups.items()]


def make_param_groups(model: nn.Module, lr: float, weight_decay: float) -> list[dict[str, Any]]:
    """Use ``seqconv.training.param_groups.build_param_groups`` if that module exists, else ``hinted_param_groups``."""
    try:
        from seqconv.training.param_groups import build_param_groups
    except ImportError:
        return hinted_param_groups(model, lr, weight_decay)
    return build_param_groups(model, lr, weight_decay)


# ------------------------------------------------------------------------------------------------------------- trainer


class LMTrainer(Trainer):
    """Trainer with hint-aware AdamW param groups and perplexity / bits-per-byte evaluation.

    Args (besides Trainer's):
        eval_tokens_per_byte: predicted tokens / UTF-8 bytes of the eval split (``LMData.eval_tokens_per_byte``);
            None or nan leaves ``eval_bpb`` out.
    """

    def __init__(self, *args: Any, eval_tokens_per_byte: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.eval_tokens_per_byte = eval_tokens_per_byte

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        opt_model = self.model if model is None else model
        if self.optimizer is None:
            groups = make_param_groups(opt_model, self.args.learning_rate, self.args.weight_decay)
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            # group-level lr / weight_decay win over the defaults in optimizer_kwargs
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    def evaluation_loop(
        self,
        dataloader: Any,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> Any:
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        prefix = metric_key_prefix
        loss = output.metrics.get(f"{prefix}_loss")
        if loss is not None:
            output.metrics[f"{prefix}_ppl"] = math.exp(min(loss, 700.0))
            tpb = self.eval_tokens_per_byte
            if tpb is not None and not math.isnan(tpb):
                output.metrics[f"{prefix}_bpb"] = loss * tpb / math.log(2)
        return output


def causal_lm_collator(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack packed blocks: ``input_ids`` (batch, block_size) int64 and ``labels`` = ``input_ids`` (the model shifts)."""
    ids = torch.stack([torch.as_tensor(f["input_ids"], dtype=torch.long) for f in features])
    return {"input_ids": ids, "labels": ids.clone()}


# ----------------------------------------------------------------------------------------------------------- callbacks


class CSVMetricsCallback(TrainerCallback):
    """Write every ``Trainer`` log entry to ``path`` (CSV, one row per log call, columns = union of keys).

    Adds ``tokens_per_sec`` (training tokens processed per wall second since the previous train log, all ranks)
    and ``tokens_seen``. Only the world-process-zero writes.
    """

    def __init__(self, path: str | os.PathLike, tokens_per_step: int) -> None:
        self.path = Path(path)
        self.tokens_per_step = int(tokens_per_step)
        self.rows: list[dict[str, Any]] = []
        self._t_last: float | None = None
        self._step_last = 0

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self.rows = []
        if state.is_world_process_zero and self.path.is_file() and state.global_step > 0:
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if r.get("step") and int(r["step"]) <= state.global_step]
        self._t_last = time.perf_counter()
        self._step_last = state.global_step

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs: dict | None = None, **kw: Any
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        row: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch, "time": time.time()}
        row.update(logs)
        if "loss" in logs and self._t_last is not None:
            now = time.perf_counter()
            steps = state.global_step - self._step_last
            if steps > 0:
                row["tokens_per_sec"] = steps * self.tokens_per_step / max(now - self._t_last, 1e-9)
            self._t_last, self._step_last = now, state.global_step
        row["tokens_seen"] = state.global_step * self.tokens_per_step
        self.rows.append(row)
        keys: list[str] = []
        for r in self.rows:
            keys.extend(k for k in r if k not in keys)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        os.replace(tmp, self.path)


class StopAtStepCallback(TrainerCallback):
    """Stop training (saving a checkpoint) once ``global_step`` reaches ``step``: a clean interruption."""

    def __init__(self, step: int) -> None:
        self.step = int(step)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if state.global_step >= self.step:
            control.should_save = True
            control.should_training_stop = True


# ------------------------------------------------------------------------------------------------------------- checks

_CONTEXT_ATTRS = ("max_position_embeddings", "n_positions", "l_max", "max_seq_len", "max_sequence_length", "n_ctx")


def model_max_length(model: nn.Module) -> int | None:
    """The longest context the model's config declares (first of ``_CONTEXT_ATTRS`` found), or None if unbounded."""
    cfg = getattr(model, "config", None)
    for attr in _CONTEXT_ATTRS:
        v = getattr(cfg, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


def check_context_length(model: nn.Module, block_size: int) -> None:
    """ValueError if ``block_size`` exceeds what the model supports."""
    limit = model_max_length(model)
    if limit is not None and block_size > limit:
        raise ValueError(
            f"context length (--block-size) {block_size} is larger than the model supports ({limit}, from its config); "
            f"lower --block-size to <= {limit} or build the model with a larger maximum length"
        )


def validate_checkpoint(path: str | os.PathLike) -> Path:
    """Check that a Trainer checkpoint directory is complete and readable; ValueError naming the bad file otherwise.

    Checks ``trainer_state.json`` (valid JSON with ``global_step``), the model weights (safetensors headers, or
    a readable torch zip archive), and ``optimizer.pt`` / ``scheduler.pt`` / ``rng_state*.pth`` archives (CRC test).
    """
    ckpt = Path(path)
    if not ckpt.is_dir():
        raise ValueError(f"checkpoint {str(ckpt)!r} is not a directory; pass a checkpoint-N directory or --resume")
    state_file = ckpt / "trainer_state.json"
    try:
        state = json.loads(state_file.read_text())
        int(state["global_step"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"checkpoint {str(ckpt)!r} is corrupt: {state_file.name} unreadable ({e})") from None
    weights = sorted(ckpt.glob("*.safetensors"))
    torch_files = [p for p in ckpt.glob("*.bin")] + [p for p in ckpt.glob("*.pt")] + list(ckpt.glob("rng_state*.pth"))
    fsdp_dirs = [p for p in ckpt.iterdir() if p.is_dir() and p.name.startswith(("pytorch_model_fsdp", "optimizer"))]
    bin_weights = [p for p in torch_files if p.suffix == ".bin" and p.name != "training_args.bin"]
    if not weights and not bin_weights and not fsdp_dirs:
        raise ValueError(f"checkpoint {str(ckpt)!r} is corrupt: no model weights (*.safetensors / *.bin) inside")
    from safetensors import safe_open

    for w in weights:
        try:
            with safe_open(str(w), framework="pt") as f:
                for key in f.keys():
                    f.get_slice(key)
        except Exception as e:  # safetensors raises its own error types
            raise ValueError(f"checkpoint {str(ckpt)!r} is corrupt: {w.name} unreadable ({e})") from None
    for t in torch_files:
        try:
            with zipfile.ZipFile(t) as z:
                bad = z.testzip()
        except (OSError, zipfile.BadZipFile) as e:
            raise ValueError(f"checkpoint {str(ckpt)!r} is corrupt: {t.name} unreadable ({e})") from None
        if bad is not None:
            raise ValueError(f"checkpoint {str(ckpt)!r} is corrupt: {t.name} fails its CRC check at {bad!r}")
    return ckpt


def param_checksum(params: Iterable[torch.Tensor]) -> float:
    """Sum of all parameter values in float64 (equal across DDP ranks when they stay in sync)."""
    return float(sum(p.detach().double().sum().item() for p in params))
