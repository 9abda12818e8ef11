"""Command line: ``python -m lra {run,report,generate,config}``.

Examples::

    python -m lra run --task listops --model sgconv --preset cpu
    python -m lra run --task text --model transformer --preset cpu --set optim.lr=1e-3 --set train.epochs=2
    python -m lra run --task listops --model sgconv --preset cpu --resume          # continue a killed run
    torchrun --nproc_per_node=2 -m lra run --task image --model sgconv --preset paper
    python -m lra report --runs runs/
    python -m lra config --task listops --model sgconv --preset cpu                 # print the resolved config
    python -m lra generate --task listops --preset cpu                            # build/cache data offline
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Optional

from lra.tasks import MODELS, PRESETS, TASKS, apply_overrides, describe_cpu_preset, get_config


def build_config(task: str, model: str, preset: str, seed: int, overrides: list[str]) -> dict:
    """Preset config with ``--seed`` and ``--set`` overrides applied."""
    cfg = get_config(task, model, preset, seed=seed)
    return apply_overrides(cfg, overrides or [])


def run_name(cfg: dict, overrides: list[str]) -> str:
    """``<task>-<model>-<preset>-seed<seed>`` plus an 8-hex hash of the overrides when there are any."""
    name = f"{cfg['task']}-{cfg['model']}-{cfg['preset']}-seed{cfg['seed']}"
    if overrides:
        h = hashlib.sha256(json.dumps(sorted(overrides)).encode()).hexdigest()[:8]
        name += f"-{h}"
    return name


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--model", default="sgconv", choices=MODELS)
    p.add_argument("--preset", default="cpu", choices=PRESETS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value by dotted key, e.g. optim.lr=1e-3 or backbone.n_layer=2 "
                        "(repeatable; see `python -m lra config` for the keys)")
    p.add_argument("--data-dir", default=None, help="data root (default: lra.data's default / SEQCONV_DATA)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lra", description="Long Range Arena runner for seqconv")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train + evaluate one task/model/preset")
    _add_common(p)
    p.add_argument("--out", default="runs", help="parent folder of run dirs (default: runs/)")
    p.add_argument("--name", default=None, help="run dir name (default: task-model-preset-seedN[-hash])")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the run dir")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run in the run dir and start over")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda if available")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")

    p = sub.add_parser("report", help="markdown table of finished runs beside the published numbers")
    p.add_argument("--runs", default="runs", help="folder holding run dirs (searched recursively)")
    p.add_argument("--output", default=None, help="also write the table to this file")

    p = sub.add_parser("config", help="print the resolved config (JSON), the valid --set keys and cpu-vs-paper")
    _add_common(p)
    p.add_argument("--keys", action="store_true", help="list the valid --set keys")

    p = sub.add_parser("generate", help="generate / cache a task's data offline (loads it once)")
    _add_common(p)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command == "report":
        from lra.report import collect_results, render_report

        text = render_report(collect_results(args.runs))
        print(text, end="")
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        return 0
    try:
        cfg = build_config(args.task, args.model, args.preset, args.seed, args.overrides)
    except ValueError as e:
        parser.exit(2, f"error: {e}\n")
    if args.command == "config":
        from lra.tasks import valid_keys

        print(json.dumps(cfg, indent=1))
        if args.keys:
            print("valid --set keys:\n  " + "\n  ".join(valid_keys(cfg)))
        if args.preset == "cpu":
            print(f"cpu preset differs from paper ({args.task}, sgconv):\n{describe_cpu_preset(args.task)}")
        return 0
    if args.command == "generate":
        from lra.train import load_data

        try:
            data = load_data(cfg, args.data_dir)
        except (FileNotFoundError, ValueError) as e:  # missing or corrupt data: the message names file and fix
            parser.exit(2, f"error: {e}\n")
        print(f"{args.task}: train {len(data.train)}, val {len(data.val)}, test {len(data.test)}, "
              f"seq_len {data.seq_len}, vocab {data.vocab_size}, classes {data.n_classes}")
        return 0
    # run
    from lra.train import DataError, run

    run_dir = Path(args.out) / (args.name or run_name(cfg, args.overrides))
    try:
        res = run(cfg, run_dir, data_dir=args.data_dir, resume=args.resume, overwrite=args.overwrite,
                  device=args.device, progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, DataError) as e:  # existing run dir, missing or corrupt data
        parser.exit(2, f"error: {e}\n")
    if res.get("world_size", 1) == 1 or _is_rank0():
        t = res["timings"]
        print(
            f"RESULT task={res['task']} model={res['model']} preset={res['preset']} seed={res['seed']} "
            f"test_acc_at_best_val={100 * res['test_acc_at_best_val']:.2f}% best_val={100 * res['best_val_acc']:.2f}% "
            f"(epoch {res['best_epoch']}/{len(res['history'])}) params={res['n_params']} "
            f"train_s={t['train_seconds']:.0f} eval_s={t['eval_seconds']:.0f} run_dir={run_dir}"
        )
    return 0


def _is_rank0() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
