"""Hyena vs SGConv vs Transformer language models at the same parameter count and the same training-time budget.

Each model (``--models``, run one after another in this process) gets a ``d_model`` chosen so its parameter count is
the closest to ``--target-params`` at ``--n-layer`` layers (all within ``--param-tolerance``; the counts are printed),
then trains with ``experiments/pretrain_lm.py`` (the ``--recipe`` data, batch, optimizer) until ``--budget`` seconds
of training time are spent on the ``--budget-kind`` clock: ``wall`` (wall-clock seconds, the default) or ``cpu``
(this process's CPU seconds, robust when the machine is shared). Both clocks are always recorded. Evaluation (every
``--eval-every`` budget seconds for the curves, and once at the end on the same validation blocks for all models)
is not counted in the budget. The LR follows warmup + cosine over the *time* budget, so every model completes its
schedule whatever its speed.

Writes ``OUT/<model>/`` (pretrain_lm run dirs with metrics.csv and budget.csv), ``OUT/results.json``, the table
``--markdown`` (default OUT/lm_shakespeare.md) and the loss-curve PNG ``--plot`` (default OUT/lm_shakespeare_loss.png).

    python experiments/compare_lm.py --budget 420 --threads 1 --out runs/compare_lm \\
        --markdown benchmarks/lm_shakespeare.md --plot benchmarks/lm_shakespeare_loss.png

Arguments not listed here (e.g. ``--batch-size 8``, ``--lr 1e-3``, ``--train-files x.txt``) go to pretrain_lm.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from experiments import pretrain_lm
from experiments.benchutil import machine_description, markdown_table

DEFAULT_MODELS = ("hyena", "sgconv", "transformer")
# flags compare_lm sets itself for every run; passing them through would break the matching
_RESERVED = ("--model", "--d-model", "--n-layer", "--max-steps", "--output-dir", "--eval-steps", "--save-steps",
             "--threads", "--recipe", "--seed", "--resume")
TABLE_COLUMNS = [
    "model", "d_model", "n_layer", "params", "budget", "steps", "tokens seen", "tokens/s", "tokens/CPU-s",
    "train wall s", "train CPU s", "final val loss", "val bpb",
]


def count_params(model: str, d_model: int, n_layer: int, n_head: int, block_size: int, vocab: int,
                 model_kwargs: dict | None = None) -> int:
    """Parameter count of ``pretrain_lm.build_model`` for these sizes (the model is built on the CPU and dropped)."""
    ns = argparse.Namespace(model=model, d_model=d_model, n_layer=n_layer, n_head=n_head, block_size=block_size,
                            dropout=0.0, model_kwargs=model_kwargs)
    return sum(p.numel() for p in pretrain_lm.build_model(ns, vocab).parameters())


def match_width(model: str, target: int, n_layer: int, n_head: int, block_size: int, vocab: int,
                multiple: int = 4, tolerance: float = 0.05, model_kwargs: dict | None = None) -> tuple[int, int]:
    """The ``d_model`` (a multiple of ``multiple`` and of ``n_head``, that the model accepts) whose parameter count is
    closest to ``target``, counted with ``model_kwargs`` (pretrain_lm's ``--model-kwargs``, as in training).

    Returns ``(d_model, params)``; ValueError if the closest count is more than ``tolerance`` (relative) away.
    """
    step = multiple * n_head // _gcd(multiple, n_head)
    best: tuple[int, int] | None = None
    last_error: ValueError | None = None
    d = step
    while d <= 2048:
        try:
            n = count_params(model, d, n_layer, n_head, block_size, vocab, model_kwargs)
        except ValueError as e:  # a width the model rejects (e.g. an odd head dim for rotary attention): skip it
            last_error = e
            d += step
            continue
        if best is None or abs(n - target) < abs(best[1] - target):
            best = (d, n)
        if n >= target:
            break
        d += step
    if best is None:
        raise ValueError(f"{model}: no d_model up to 2048 (multiples of {step}) builds with n_layer={n_layer}, "
                         f"n_head={n_head}, block_size={block_size}; last error: {last_error}")
    rel = abs(best[1] - target) / target
    if rel > tolerance:
        raise ValueError(
            f"--target-params {target}: the closest {model} width with n_layer={n_layer} is d_model={best[0]} with "
            f"{best[1]} parameters ({rel:.1%} off, more than --param-tolerance {tolerance}); change --n-layer, "
            f"--target-params or --param-tolerance"
        )
    return best


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="cpu-tinyshakespeare", help="pretrain_lm recipe (data, batch, optimizer)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated pretrain_lm --model names")
    ap.add_argument("--target-params", type=float, default=0.92e6, help="parameter count to match (all models)")
    ap.add_argument("--param-tolerance", type=float, default=0.05, help="max relative distance from the target")
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--budget", type=float, default=420.0, help="training seconds per model")
    ap.add_argument("--budget-kind", choices=("wall", "cpu"), default="wall",
                    help="wall: wall-clock seconds; cpu: this process's CPU seconds (time.process_time)")
    ap.add_argument("--eval-every", type=float, default=None, help="budget seconds between evals (default budget/8)")
    ap.add_argument("--warmup-frac", type=float, default=0.05, help="LR warmup as a fraction of the budget")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/compare_lm", help="directory for the runs and results.json")
    ap.add_argument("--markdown", default=None, help="table output (default OUT/lm_shakespeare.md)")
    ap.add_argument("--plot", default=None, help="loss-curve PNG (default OUT/lm_shakespeare_loss.png); 'none' skips")
    ap.add_argument("--date", default=None, help="date printed in the table (default today)")
    return ap


def run_model(model: str, d_model: int, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """Train one model for the budget; returns its table row (plus raw fields)."""
    from seqconv.training.budget import TimeBudgetCallback

    run_dir = Path(args.out) / model
    recipe = pretrain_lm.load_recipe(args.recipe)
    eval_every = args.eval_every if args.eval_every is not None else args.budget / 8
    cb = TimeBudgetCallback(
        args.budget,
        args.budget_kind,
        eval_every_s=eval_every,
        time_lr_schedule=True,
        warmup_frac=args.warmup_frac,
        min_lr_ratio=float(recipe.get("min_lr_ratio", 0.0)),
        log_path=run_dir / "budget.csv",
    )
    argv = [
        "--recipe", args.recipe, "--model", model, "--d-model", str(d_model), "--n-layer", str(args.n_layer),
        "--output-dir", str(run_dir), "--overwrite-output-dir", "--max-steps", "1000000", "--eval-steps", "0",
        "--save-steps", "1000000", "--threads", str(args.threads), "--seed", str(args.seed), "--report-to", "none",
        *extra,
    ]
    summary = pretrain_lm.main(argv, callbacks=[cb])
    tokens = summary["global_step"] * summary["tokens_per_step"]
    return {
        "model": model,
        "d_model": d_model,
        "n_layer": args.n_layer,
        "params": summary["params"],
        "budget": f"{args.budget:g} s {args.budget_kind}",
        "steps": summary["global_step"],
        "tokens seen": tokens,
        "tokens/s": tokens / max(cb.wall_s, 1e-9),
        "tokens/CPU-s": tokens / max(cb.cpu_s, 1e-9),
        "train wall s": cb.wall_s,
        "train CPU s": cb.cpu_s,
        "final val loss": summary.get("eval_loss"),
        "val bpb": summary.get("eval_bpb"),
        "max step wall s": cb.max_step_wall_s,
        "max step CPU s": cb.max_step_cpu_s,
        "stopped_by_budget": cb.stopped_by_budget,
        "run_dir": str(run_dir),
    }


def render_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The comparison table with its command, date, machine and notes."""
    fmt_rows = []
    for r in rows:
        f = dict(r)
        f["params"] = f"{r['params'] / 1e6:.3f}M"
        f["tokens seen"] = f"{r['tokens seen'] / 1e6:.2f}M"
        for k in ("tokens/s", "tokens/CPU-s", "train wall s", "train CPU s"):
            f[k] = f"{r[k]:.0f}"
        for k in ("final val loss", "val bpb"):
            f[k] = f"{r[k]:.4f}" if r.get(k) is not None else "n/a"
        fmt_rows.append(f)
    lines = [
        "# Tiny Shakespeare: Hyena vs SGConv vs Transformer at equal parameters and equal time",
        "",
        f"Byte-level Tiny Shakespeare (recipe `{meta['recipe']}`: block {meta['block_size']}, batch "
        f"{meta['batch_size']}, AdamW lr {meta['lr']:g}, weight decay {meta['weight_decay']:g}), "
        f"{meta['n_layer']} layers, widths chosen so the parameter counts match within "
        f"{meta['param_spread']:.1%} (target {meta['target_params'] / 1e6:.2f}M). Each model trains for "
        f"**{meta['budget']:g} {meta['budget_kind']} seconds** (`--budget-kind {meta['budget_kind']}`; evaluation "
        "time excluded) with warmup + cosine LR over the time budget, then all are evaluated on the same "
        f"{meta['eval_blocks']} validation blocks (the last 10% of the file).",
        "",
        markdown_table(fmt_rows, TABLE_COLUMNS),
        "",
        "tokens/s = tokens seen / training wall seconds; tokens/CPU-s = tokens seen / CPU seconds of the process "
        "(both clocks are recorded whatever the budget kind). val bpb = bits per byte (byte tokenizer: loss / ln 2).",
        "",
        f"![loss curves]({meta['plot_name']})" if meta.get("plot_name") else "",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Date: {meta['date']}",
        "",
        f"Machine: {meta['machine']}; load average {meta['load_before']} before, {meta['load_after']} after "
        "(the machine was shared with other jobs, so wall-clock throughput is noisy; compare tokens/CPU-s too).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison; returns ``{"rows": [...], "meta": {...}}`` (also written to OUT/results.json)."""
    args, extra = build_parser().parse_known_args(argv)
    bad = [a for a in extra if a.split("=")[0] in _RESERVED]
    if bad:
        raise ValueError(f"compare_lm sets {bad} itself for every model; drop them (use --n-layer / --target-params "
                         f"/ --threads / --seed of compare_lm)")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    choices = pretrain_lm.model_choices()
    unknown = [m for m in models if m not in choices]
    if not models or unknown:
        raise ValueError(f"--models {args.models!r}: each must be one of {choices}")
    if not args.budget > 0:
        raise ValueError(f"--budget must be > 0 seconds, got {args.budget}")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # sizes as pretrain_lm will see them (recipe defaults + pass-through flags)
    p_args = pretrain_lm.parse_args(["--recipe", args.recipe, "--output-dir", str(out), *extra])
    vocab = 257  # byte tokenizer: 256 bytes + <|endoftext|>
    if p_args.tokenizer != "byte" or p_args.train_tokenizer != "none":
        raise ValueError("compare_lm matches parameter counts for the byte tokenizer only; drop --tokenizer / "
                         "--train-tokenizer")
    target = int(args.target_params)
    widths = {}
    for m in models:
        d, n = match_width(m, target, args.n_layer, p_args.n_head, p_args.block_size, vocab,
                           tolerance=args.param_tolerance, model_kwargs=p_args.model_kwargs)
        widths[m] = d
        print(f"[compare_lm] {m}: d_model={d} n_layer={args.n_layer} params={n} ({(n - target) / target:+.1%} vs "
              f"target {target})", flush=True)

    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = []
    for m in models:
        t0 = time.perf_counter()
        rows.append(run_model(m, widths[m], args, extra))
        r = rows[-1]
        print(f"[compare_lm] {m}: {r['steps']} steps, {r['train wall s']:.0f} s wall / {r['train CPU s']:.0f} s CPU "
              f"training, val loss {r['final val loss']}, {time.perf_counter() - t0:.0f} s total", flush=True)
    load_after = " ".join(f"{x:.1f}" for x in os.getloadavg())

    params = [r["params"] for r in rows]
    md_path = Path(args.markdown) if args.markdown else out / "lm_shakespeare.md"
    plot_path = None if args.plot == "none" else Path(args.plot) if args.plot else out / "lm_shakespeare_loss.png"
    shown = [a for a in (sys.argv[1:] if argv is None else argv)]
    meta = {
        "recipe": args.recipe,
        "block_size": p_args.block_size,
        "batch_size": p_args.batch_size * p_args.grad_accum,
        "lr": p_args.lr,
        "weight_decay": p_args.weight_decay,
        "n_layer": args.n_layer,
        "target_params": target,
        "param_spread": (max(params) - min(params)) / min(params),
        "budget": args.budget,
        "budget_kind": args.budget_kind,
        "eval_blocks": p_args.max_eval_blocks,
        "command": "python experiments/compare_lm.py " + " ".join(shlex.quote(a) for a in shown),
        "date": args.date or datetime.date.today().isoformat(),
        "machine": machine_description("cpu"),
        "load_before": load_before,
        "load_after": load_after,
        "plot_name": os.path.relpath(plot_path, md_path.parent) if plot_path else None,
    }
    result = {"rows": rows, "meta": meta}
    (out / "results.json").write_text(json.dumps(result, indent=1, default=str))
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(render_markdown(rows, meta))
    if plot_path is not None:
        from experiments.plot_lm_curves import plot_curves

        plot_curves([Path(r["run_dir"]) for r in rows], plot_path, title=(
            f"Tiny Shakespeare, {target / 1e6:.2f}M params, {args.budget:g} s {args.budget_kind} budget each"))
    print(md_path.read_text(), flush=True)
    return result


if __name__ == "__main__":
    main()
