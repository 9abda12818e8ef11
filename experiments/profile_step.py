"""Profile one training step of an SGConv and a Hyena LM (torch.profiler), and the kernel-generation share.

1. ``profile``: one training step (forward, cross-entropy, backward, AdamW) of the TinyLM of
   :mod:`experiments.bench_lm_throughput` per mixer, after two warm-up steps, under ``torch.profiler``; the table
   lists the ops with the most self time (CPU or CUDA), with call counts, so repeated FFTs, copies
   (``aten::copy_``, ``aten::contiguous``, ``aten::to``) and kernel generation are visible.
2. ``kernel share``: the time of the layer's kernel generation ``layer.kernel(L)`` / ``layer.filter_fn(L)``
   (training mode, gradients on: what every training step pays) against one forward of the whole layer at
   the same length, timed round robin; also in eval mode, where the kernel is cached.

Usage:  python -m experiments.profile_step [--length 4096] [--share-length 16384] [--out benchmarks]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch.profiler import ProfilerActivity, profile

from experiments.bench_lm_throughput import TinyLM, train_step_fn
from experiments.bench_mixers import build
from experiments.benchutil import (
    CLOCKS,
    add_machine_options,
    apply_machine_options,
    markdown_table,
    median,
    time_interleaved,
)


def profile_rows(mixer: str, length: int, d_model: int, n_layer: int, device: str, top: int) -> list[dict[str, Any]]:
    """Top ``top`` ops by self time in one training step."""
    torch.manual_seed(0)
    step = train_step_fn(TinyLM(mixer, d_model, n_layer, length).to(device), 1, length, device)
    for _ in range(2):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    events = prof.key_averages()
    cuda = device.startswith("cuda")
    total = sum((e.self_device_time_total if cuda else e.self_cpu_time_total) for e in events) or 1.0
    ranked = sorted(events, key=lambda e: -(e.self_device_time_total if cuda else e.self_cpu_time_total))
    rows = []
    for e in ranked[:top]:
        self_us = e.self_device_time_total if cuda else e.self_cpu_time_total
        rows.append({"mixer": mixer, "op": e.key, "calls": e.count, "self ms": self_us / 1e3,
                     "self %": 100.0 * self_us / total})
    return rows


def kernel_module(layer: torch.nn.Module) -> torch.nn.Module:
    return layer.filter_fn if hasattr(layer, "filter_fn") else layer.kernel


def share_rows(
    mixers: list[str], length: int, d_model: int, batch: int, device: str, budget_s: float, clock: Callable[[], float]
) -> list[dict[str, Any]]:
    """Kernel generation time vs one layer forward, training (grad on) and eval (no grad, cached)."""
    rows = []
    for mode in ("train", "eval"):
        fns = {}
        for m in mixers:
            torch.manual_seed(0)
            layer = build(m, d_model, length, 4).to(device).train(mode == "train")
            x = torch.randn(batch, length, d_model, device=device)
            kern = kernel_module(layer)
            grad = mode == "train"

            def gen(kern=kern, grad=grad) -> None:
                with torch.set_grad_enabled(grad):
                    kern(length)

            def fwd(layer=layer, x=x, grad=grad) -> None:
                with torch.set_grad_enabled(grad):
                    layer(x)

            fns[(m, "kernel")], fns[(m, "layer")] = gen, fwd
        times = {k: median(v) for k, v in time_interleaved(fns, budget_s, device=device, clock=clock).items()}
        for m in mixers:
            k_t, l_t = times[(m, "kernel")], times[(m, "layer")]
            rows.append({"mixer": m, "L": length, "mode": mode, "kernel ms": k_t * 1e3, "layer fwd ms": l_t * 1e3,
                         "kernel share %": 100.0 * k_t / l_t})
    return rows


PROFILE_COLUMNS = ["mixer", "op", "calls", "self ms", "self %"]
SHARE_COLUMNS = ["mixer", "L", "mode", "kernel ms", "layer fwd ms", "kernel share %"]


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixers", nargs="+", default=["sgconv", "hyena"])
    p.add_argument("--share-mixers", nargs="+", default=["sgconv", "hyena", "longconv", "s4d"])
    p.add_argument("--length", type=int, default=4096, help="context of the profiled training step")
    p.add_argument("--share-length", type=int, default=16384)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--top", type=int, default=15)
    add_machine_options(p)
    p.add_argument("--budget-s", type=float, default=1.0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    machine = apply_machine_options(args)
    print(f"# profile_step: {machine}\n")
    prof = []
    for m in args.mixers:
        prof += profile_rows(m, args.length, args.d_model, args.n_layer, args.device, args.top)
        print(markdown_table([r for r in prof if r["mixer"] == m], PROFILE_COLUMNS), flush=True)
    share = share_rows(args.share_mixers, args.share_length, args.d_model, 1, args.device, args.budget_s,
                       CLOCKS[args.clock])
    print(markdown_table(share, SHARE_COLUMNS))
    if args.json:
        Path(args.json).write_text(json.dumps({"profile": prof, "share": share}, indent=1))


if __name__ == "__main__":
    main()
