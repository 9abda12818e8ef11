"""Pretrain a causal language model (seqconv Hyena / SGConv / attention, or HF GPT-2) with ``transformers.Trainer``.

Examples (from the repository root):

    # about 10 minutes on 2 CPU cores, byte-level Tiny Shakespeare
    python experiments/pretrain_lm.py --recipe cpu-tinyshakespeare --output-dir runs/tiny
    # same, continue after an interruption (same LR schedule and data order)
    python experiments/pretrain_lm.py --recipe cpu-tinyshakespeare --output-dir runs/tiny --resume
    # any files/dirs/globs, a BPE tokenizer trained on the corpus (saved as runs/x/tokenizer.json)
    python experiments/pretrain_lm.py --train-files 'corpus/*.txt' --train-tokenizer bpe --vocab-size 8192 \
        --block-size 512 --model hyena --output-dir runs/x
    # 2 processes (DDP; gloo on CPU, nccl on GPUs)
    torchrun --nproc_per_node 2 experiments/pretrain_lm.py --recipe cpu-tinyshakespeare --output-dir runs/ddp
    # FSDP (GPUs): --fsdp "full_shard auto_wrap" --fsdp-config '{"transformer_layer_cls_to_wrap": ["Block"]}'

Recipes (experiments/recipes/NAME.yaml) give defaults; explicit command-line flags override them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch import nn

from seqconv.data_paths import shared_data_dir

RECIPE_DIR = Path(__file__).resolve().parent / "recipes"
REPO_ROOT = Path(__file__).resolve().parents[1]


def model_choices() -> tuple[str, ...]:
    """``--model`` values: every mixer of ``seqconv.modules.registry`` (custom ones registered so far included)
    plus ``"gpt2"`` (the transformers GPT-2 baseline)."""
    from seqconv.modules.registry import mixer_names

    return (*mixer_names(), "gpt2")


MODEL_CHOICES = model_choices()  # at import time; call model_choices() to see mixers registered later
DEFAULT_MODEL = "sgconv"


# --------------------------------------------------------------------------------------------------------------- model
def build_model(args: argparse.Namespace, vocab_size: int, eos_token_id: int | None = None) -> nn.Module:
    """The causal LM named by ``args.model`` (one of :func:`model_choices`), sized by d_model / n_layer / n_head /
    block_size.

    ``gpt2`` is ``transformers.GPT2LMHeadModel`` (no download). Every other name is a mixer of the registry
    (``seqconv.modules.registry.mixer_names()``), built as ``seqconv.models.SeqConvForCausalLM`` with that mixer
    (``SeqConvConfig(mixer=...)``), imported lazily; attention mixers get ``n_heads=args.n_head``.
    ``args.model_kwargs`` (a dict, e.g. ``{"mixer_kwargs": {"order": 3}}``) is applied to the config on top.
    """
    extra: dict[str, Any] = dict(args.model_kwargs or {})
    if args.model == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        cfg = dict(
            vocab_size=vocab_size,
            n_positions=args.block_size,
            n_embd=args.d_model,
            n_layer=args.n_layer,
            n_head=args.n_head,
            resid_pdrop=args.dropout,
            embd_pdrop=args.dropout,
            attn_pdrop=args.dropout,
            bos_token_id=eos_token_id,
            eos_token_id=eos_token_id,
        )
        cfg.update(extra)
        return GPT2LMHeadModel(GPT2Config(**cfg))
    from seqconv.modules.registry import is_attention, mixer_names

    if args.model in mixer_names():
        try:
            from seqconv.models import SeqConvConfig, SeqConvForCausalLM
        except ImportError as e:
            raise RuntimeError(
                f"--model {args.model} needs seqconv.models.SeqConvConfig / SeqConvForCausalLM, which could not be "
                f"imported ({e}). Use --model gpt2 until seqconv.models is available."
            ) from e
        cfg = dict(
            vocab_size=vocab_size,
            mixer=args.model,
            d_model=args.d_model,
            n_layer=args.n_layer,
            max_position_embeddings=args.block_size,
            dropout=args.dropout,
            eos_token_id=eos_token_id,
        )
        if is_attention(args.model):
            cfg["mixer_kwargs"] = {"n_heads": args.n_head}
        if args.model == "sgconv" and args.block_size < 64:
            # SGConvKernel's default kernel_dim (64) must not exceed l_max: use the largest power of two <= block_size
            cfg["kernel_kwargs"] = {"kernel_dim": 1 << (args.block_size.bit_length() - 1)}
        for k, v in extra.items():  # dict-valued options (mixer_kwargs, kernel_kwargs) merge
            cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
        return SeqConvForCausalLM(SeqConvConfig(**cfg))
    raise ValueError(f"--model must be one of {model_choices()}; got {args.model!r}")


# -------------------------------------------------------------------------------------------------------------- recipes
def _expand(value: Any, key: str, recipe: str) -> Any:
    if isinstance(value, list):
        return [_expand(v, key, recipe) for v in value]
    if not isinstance(value, str):
        return value
    out = os.path.expandvars(value.replace("{shared_data}", str(shared_data_dir())))
    if "$" in out:
        raise ValueError(
            f"recipe {recipe!r}: {key} = {value!r} needs an environment variable that is not set ({out!r}); "
            f"set it or pass --{key.replace('_', '-')} explicitly"
        )
    return out


def load_recipe(name_or_path: str) -> dict[str, Any]:
    """Recipe defaults from experiments/recipes/NAME.yaml (or a .yaml/.json path); keys are argument names."""
    import yaml

    p = Path(name_or_path)
    if not p.is_file():
        p = RECIPE_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        known = sorted(q.stem for q in RECIPE_DIR.glob("*.yaml"))
        raise ValueError(f"--recipe {name_or_path!r}: no such file or recipe; known recipes: {known}")
    data = json.loads(p.read_text()) if p.suffix == ".json" else yaml.safe_load(p.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"recipe {str(p)!r} must be a mapping of argument names to values")
    return data


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", help="recipe name in experiments/recipes or a .yaml/.json path (defaults)")
    d = ap.add_argument_group("data")
    d.add_argument("--train-files", nargs="+", default=[], help="text files, directories or glob patterns")
    d.add_argument("--val-files", nargs="+", default=[], help="validation text (else --val-fraction of train)")
    d.add_argument("--dataset-name", help="a datasets hub name (needs a reachable hub)")
    d.add_argument("--dataset-config")
    d.add_argument("--text-column", default="text")
    d.add_argument("--val-fraction", type=float, default=0.05)
    d.add_argument("--max-eval-blocks", type=int, default=None)
    d.add_argument("--block-size", type=int, default=256, help="context length in tokens")
    d.add_argument("--num-proc", type=int, default=None, help="processes for datasets.map")
    d.add_argument("--cache-dir", default=None, help="datasets cache (default: seqconv cache_dir()/lm_data)")
    d.add_argument("--tokenizer", default="byte", help="'byte' or a tokenizer.json path")
    d.add_argument("--train-tokenizer", choices=("none", "bpe"), default="none")
    d.add_argument("--vocab-size", type=int, default=None, help="BPE vocabulary size (with --train-tokenizer bpe)")
    m = ap.add_argument_group("model")
    m.add_argument("--model", choices=model_choices(), default=DEFAULT_MODEL,
                   help="a seqconv mixer of the registry, or gpt2 (the transformers GPT-2 baseline)")
    m.add_argument("--d-model", type=int, default=128)
    m.add_argument("--n-layer", type=int, default=4)
    m.add_argument("--n-head", type=int, default=4)
    m.add_argument("--dropout", type=float, default=0.0)
    m.add_argument("--model-kwargs", type=json.loads, default=None, help="JSON dict passed to the model config")
    t = ap.add_argument_group("training")
    t.add_argument("--output-dir", required=False, help="run directory (checkpoints, metrics.csv, tokenizer.json)")
    t.add_argument("--resume", nargs="?", const="last", default=None, help="resume: last checkpoint, or a path")
    t.add_argument("--overwrite-output-dir", action="store_true")
    t.add_argument("--max-steps", type=int, default=1000)
    t.add_argument("--batch-size", type=int, default=16, help="per device")
    t.add_argument("--grad-accum", type=int, default=1)
    t.add_argument("--lr", type=float, default=6e-4)
    t.add_argument("--min-lr-ratio", type=float, default=0.0, help="cosine floor as a fraction of --lr")
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--warmup", type=float, default=0.01, help="warmup: ratio of max steps if < 1, else steps")
    t.add_argument("--adam-beta1", type=float, default=0.9)
    t.add_argument("--adam-beta2", type=float, default=0.95)
    t.add_argument("--max-grad-norm", type=float, default=1.0)
    t.add_argument("--bf16", choices=("auto", "true", "false"), default="auto")
    t.add_argument("--gradient-checkpointing", action="store_true")
    t.add_argument("--logging-steps", type=int, default=10)
    t.add_argument("--eval-steps", type=int, default=200)
    t.add_argument("--save-steps", type=int, default=200)
    t.add_argument("--save-total-limit", type=int, default=3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dataloader-workers", type=int, default=0)
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads per process (CPU default: cores / local processes)")
    t.add_argument("--fsdp", default="", help='Trainer fsdp option, e.g. "full_shard auto_wrap"')
    t.add_argument("--fsdp-config", default=None, help="Trainer fsdp_config: JSON dict or a JSON file path")
    t.add_argument("--report-to", default="auto", help="'auto' (tensorboard if installed), 'none', or names")
    t.add_argument("--no-final-eval", action="store_true")
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse arguments; recipe values become defaults that explicit flags override."""
    ap = build_parser()
    pre, _ = ap.parse_known_args(argv)
    if pre.recipe:
        recipe = load_recipe(pre.recipe)
        known = {a.dest for a in ap._actions}
        unknown = sorted(set(recipe) - known)
        if unknown:
            raise ValueError(f"recipe {pre.recipe!r} has unknown keys {unknown}; valid keys are argument names")
        ap.set_defaults(**{k: _expand(v, k, pre.recipe) for k, v in recipe.items()})
    args = ap.parse_args(argv)
    if isinstance(args.model_kwargs, str):
        args.model_kwargs = json.loads(args.model_kwargs)
    if not args.output_dir:
        ap.error("--output-dir is required")
    if not args.train_files and not args.dataset_name:
        ap.error("give --train-files (text files/dirs/globs), --dataset-name, or a --recipe that sets one")
    if args.train_tokenizer == "bpe" and not args.vocab_size:
        ap.error("--train-tokenizer bpe needs --vocab-size N")
    return args


# ---------------------------------------------------------------------------------------------------------------- run
def _rank_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def prepare_tokenizer(args: argparse.Namespace, out_dir: Path, train_segments: Any) -> Any:
    """Tokenizer for the run: reuse OUT/tokenizer.json when resuming, else byte / file / freshly trained BPE."""
    from seqconv.training.lm_data import corpus_texts
    from seqconv.training.tokenization import byte_tokenizer, load_tokenizer, train_bpe_tokenizer

    saved = out_dir / "tokenizer.json"
    if args.resume and saved.is_file():
        return load_tokenizer(saved)
    if args.train_tokenizer == "bpe":
        tok = train_bpe_tokenizer(corpus_texts(train_segments), args.vocab_size)
    elif args.tokenizer == "byte":
        tok = byte_tokenizer()
    else:
        tok = load_tokenizer(args.tokenizer)
    return tok


def main(argv: list[str] | None = None, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Run pretraining; returns a summary dict (train loss, eval metrics, tokens/s, paths). Extra Trainer callbacks
    may be passed by Python callers."""
    args = parse_args(argv)
    if args.threads is None and not torch.cuda.is_available():
        # CPU: one share of the cores per local process (oversubscribed OpenMP threads slow steps down many-fold)
        args.threads = max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.cache_dir is None:
        try:
            from seqconv.data_paths import cache_dir

            args.cache_dir = str(Path(cache_dir()) / "lm_data")
        except ImportError:
            pass
    from transformers import TrainingArguments, set_seed
    from transformers.trainer_utils import get_last_checkpoint

    from seqconv.training.lm_data import LMDataConfig, build_lm_data, load_segments
    from seqconv.training.lm_trainer import (
        CSVMetricsCallback,
        LMTrainer,
        causal_lm_collator,
        check_context_length,
        param_checksum,
        validate_checkpoint,
    )
    from seqconv.training.tokenization import load_tokenizer

    rank, world = _rank_world()
    out_dir = Path(args.output_dir)
    resume_ckpt = None
    if args.resume:
        if args.resume == "last":
            resume_ckpt = get_last_checkpoint(str(out_dir)) if out_dir.is_dir() else None
            if resume_ckpt is None:
                raise ValueError(f"--resume: no checkpoint-N directory in {str(out_dir)!r} to resume from")
        else:
            resume_ckpt = args.resume
        validate_checkpoint(resume_ckpt)
    elif out_dir.is_dir() and not args.overwrite_output_dir:
        last = get_last_checkpoint(str(out_dir))
        if last is not None:
            raise ValueError(
                f"--output-dir {str(out_dir)!r} already holds checkpoints (last: {last}); pass --resume to continue "
                "or --overwrite-output-dir to start over"
            )

    use_cuda = torch.cuda.is_available()
    bf16 = {"true": True, "false": False, "auto": use_cuda and torch.cuda.is_bf16_supported()}[args.bf16]
    report_to: Any = args.report_to
    if report_to == "auto":
        try:
            import tensorboard  # noqa: F401

            report_to = ["tensorboard"]
        except ImportError:
            report_to = "none"
    if args.fsdp and not use_cuda:
        raise ValueError(
            f"--fsdp {args.fsdp!r} needs GPUs: Trainer runs FSDP through accelerate, which enables it only for GPU-like "
            "device types (MULTI_GPU/NPU/XPU/...) and silently ignores it for CPU processes (MULTI_CPU), so this run "
            "would be plain DDP. Drop --fsdp on CPU (torchrun + gloo DDP works), or run on GPUs."
        )
    fsdp_config = None
    if args.fsdp_config:
        fsdp_config = json.loads(Path(args.fsdp_config).read_text() if Path(args.fsdp_config).is_file() else args.fsdp_config)
    warmup: float = args.warmup if args.warmup < 1 else int(args.warmup)
    lr_sched, lr_kwargs = ("cosine", {})
    if args.min_lr_ratio > 0:
        lr_sched, lr_kwargs = ("cosine_with_min_lr", {"min_lr_rate": args.min_lr_ratio})
    fields = TrainingArguments.__dataclass_fields__
    ckpt_field = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    targs = TrainingArguments(
        output_dir=str(out_dir),
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        adam_beta1=args.adam_beta1,
        adam_beta2=args.adam_beta2,
        max_grad_norm=args.max_grad_norm,
        lr_scheduler_type=lr_sched,
        lr_scheduler_kwargs=lr_kwargs,
        warmup_steps=warmup,
        bf16=bf16,
        **{ckpt_field: args.gradient_checkpointing},
        logging_steps=args.logging_steps,
        eval_strategy="steps" if args.eval_steps > 0 else "no",
        eval_steps=args.eval_steps if args.eval_steps > 0 else None,
        save_strategy="steps",
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        seed=args.seed,
        data_seed=args.seed,
        dataloader_num_workers=args.dataloader_workers,
        ddp_backend="gloo" if (world > 1 and not use_cuda) else None,
        ddp_find_unused_parameters=False,
        fsdp=args.fsdp or None,
        fsdp_config=fsdp_config,
        report_to=report_to,
        prediction_loss_only=True,
        remove_unused_columns=False,
        use_cpu=not use_cuda,
        disable_tqdm=True,
    )

    # data: global rank 0 picks/trains the tokenizer and builds the datasets cache first; the other ranks then load
    # the same tokenizer.json and the cache
    with targs.main_process_first(local=False, desc="tokenize and pack"):
        data_cfg = LMDataConfig(
            block_size=args.block_size,
            train_files=args.train_files,
            val_files=args.val_files,
            dataset_name=args.dataset_name,
            dataset_config=args.dataset_config,
            text_column=args.text_column,
            val_fraction=args.val_fraction,
            max_eval_blocks=args.max_eval_blocks,
            num_proc=args.num_proc,
            cache_dir=args.cache_dir,
        )
        segments = load_segments(data_cfg)
        if rank == 0:
            tokenizer = prepare_tokenizer(args, out_dir, segments[0])
            out_dir.mkdir(parents=True, exist_ok=True)
            tokenizer.save(str(out_dir / "tokenizer.json"))
        else:
            tokenizer = load_tokenizer(out_dir / "tokenizer.json")
        data = build_lm_data(data_cfg, tokenizer, segments)
    if rank == 0:
        (out_dir / "run_args.json").write_text(json.dumps(vars(args), indent=1, default=str))

    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    # seed the global RNGs before the weights are drawn: Trainer seeds only in its own __init__, after the model
    # exists, so without this the initial weights depend on whatever used the RNG earlier in the process
    set_seed(args.seed)
    model = build_model(args, vocab, eos_token_id=tokenizer.token_to_id("<|endoftext|>"))
    check_context_length(model, args.block_size)
    if args.gradient_checkpointing and not getattr(model, "supports_gradient_checkpointing", False):
        raise ValueError(f"--gradient-checkpointing: model {type(model).__name__} does not support it; drop the flag")
    n_params = sum(p.numel() for p in model.parameters())
    tokens_per_step = args.batch_size * args.grad_accum * world * args.block_size
    if rank == 0:
        print(
            f"[pretrain_lm] model={args.model} params={n_params / 1e6:.2f}M vocab={vocab} block={args.block_size} "
            f"train_blocks={len(data.train)} eval_blocks={len(data.eval) if data.eval is not None else 0} "
            f"eval_tokens/byte={data.eval_tokens_per_byte:.4f} world={world} tokens/step={tokens_per_step} bf16={bf16}",
            flush=True,
        )
    trainer = LMTrainer(
        model=model,
        args=targs,
        train_dataset=data.train,
        eval_dataset=data.eval,
        data_collator=causal_lm_collator,
        callbacks=[CSVMetricsCallback(out_dir / "metrics.csv", tokens_per_step), *(callbacks or [])],
        eval_tokens_per_byte=data.eval_tokens_per_byte,
    )
    try:
        result = trainer.train(resume_from_checkpoint=resume_ckpt)
    except (RuntimeError, OSError, KeyError) as e:
        if resume_ckpt is not None:
            raise ValueError(f"resuming from checkpoint {resume_ckpt!r} failed; it may be corrupt or from a "
                             f"different model/config: {type(e).__name__}: {e}") from e
        raise
    summary: dict[str, Any] = {
        "rank": rank,
        "world_size": world,
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "train_runtime_s": result.metrics.get("train_runtime"),
        "params": n_params,
        "tokens_per_step": tokens_per_step,
        "fsdp": bool(trainer.is_fsdp_enabled),
        "output_dir": str(out_dir),
    }
    if summary["train_runtime_s"]:
        steps_run = trainer.state.global_step - (getattr(trainer, "_initial_global_step", 0) or 0)
        summary["tokens_per_sec"] = steps_run * tokens_per_step / summary["train_runtime_s"]
    if data.eval is not None and not args.no_final_eval:
        summary.update(trainer.evaluate())
    summary["param_checksum"] = param_checksum(trainer.model.parameters())
    if world > 1 or rank == 0:
        (out_dir / f"summary_rank{rank}.json").write_text(json.dumps(summary, indent=1, default=str))
    if rank == 0:
        trainer.save_model(str(out_dir / "final"))
        tokenizer.save(str(out_dir / "final" / "tokenizer.json"))
        print(f"[pretrain_lm] done: {json.dumps({k: v for k, v in summary.items() if k != 'output_dir'})}", flush=True)
    if math.isnan(summary["train_loss"]):
        raise RuntimeError("training loss is NaN; lower --lr or check the data")
    return summary


if __name__ == "__main__":
    main()
