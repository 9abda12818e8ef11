"""End-to-end LM training throughput (tokens/s) of Hyena / SGConv vs the Transformer at equal parameter count.

Model: :class:`seqconv.modules.Backbone` (byte vocabulary, causal, pre-norm, MLP ratio 2) + a linear LM head.
The Transformer (SDPA attention, rotary positions) at ``--d-model`` sets the parameter count; every other mixer
gets the ``d_model`` (a multiple of 8) whose total parameter count is closest to it (reported per row). One
training step = forward, cross-entropy, backward, AdamW step, on ``--tokens`` tokens (batch = tokens / context).
Per context the models are stepped round robin (interleaved) and the median step time is reported.

Usage:  python -m experiments.bench_lm_throughput [--contexts 1024 4096 16384] [--mixers transformer hyena sgconv]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from experiments.benchutil import (
    CLOCKS,
    add_machine_options,
    apply_machine_options,
    markdown_table,
    median,
    time_interleaved,
)

DEFAULT_CONTEXTS = [1 << 10, 1 << 12, 1 << 14]
VOCAB = 256


class TinyLM(nn.Module):
    """Backbone + linear head: ids (batch, length) -> logits (batch, length, vocab)."""

    def __init__(self, mixer: str, d_model: int, n_layer: int, context: int, n_heads: int = 4) -> None:
        super().__init__()
        from seqconv.modules import Backbone, BackboneConfig

        kwargs = {"n_heads": n_heads} if mixer == "transformer" else {}
        cfg = BackboneConfig(d_model=d_model, n_layer=n_layer, mixer=mixer, mixer_kwargs=kwargs, vocab_size=VOCAB,
                             l_max=context, causal=True, mlp_ratio=2.0)
        self.backbone = Backbone(cfg)
        self.head = nn.Linear(d_model, VOCAB, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(ids))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_d_model(mixer: str, target: int, n_layer: int, context: int, lo: int = 8, hi: int = 512) -> int:
    """Multiple of 8 in [lo, hi] whose TinyLM parameter count is closest to ``target`` (params grow with d)."""
    best, best_err = lo, float("inf")
    left, right = lo // 8, hi // 8
    while left <= right:  # binary search on the monotone count, then check the neighbours
        mid = (left + right) // 2
        count = n_params(TinyLM(mixer, 8 * mid, n_layer, context))
        if abs(count - target) < best_err:
            best, best_err = 8 * mid, abs(count - target)
        if count < target:
            left = mid + 1
        else:
            right = mid - 1
    return best


def train_step_fn(model: nn.Module, batch: int, context: int, device: str) -> Callable[[], None]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (batch, context + 1), generator=g).to(device)
    x, y = ids[:, :-1], ids[:, 1:]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def run(
    contexts: list[int],
    mixers: list[str],
    d_model: int = 128,
    n_layer: int = 2,
    tokens: int = 1 << 14,
    device: str = "cpu",
    budget_s: float = 2.0,
    max_call_s: float = 20.0,
    clock: Callable[[], float] = time.perf_counter,
    verbose: bool = True,
) -> list[dict[str, Any]]:
    rows = []
    for context in contexts:
        batch = max(1, tokens // context)
        torch.manual_seed(0)
        ref = n_params(TinyLM("transformer", d_model, n_layer, context))
        fns, info = {}, {}
        for m in mixers:
            d = d_model if m == "transformer" else matched_d_model(m, ref, n_layer, context)
            torch.manual_seed(0)
            model = TinyLM(m, d, n_layer, context).to(device)
            info[m] = {"context": context, "mixer": m, "d_model": d, "n_layer": n_layer, "params": n_params(model),
                       "batch": batch}
            fns[m] = train_step_fn(model, batch, context, device)
        times = time_interleaved(fns, budget_s, min_reps=2, max_reps=8, device=device, max_call_s=max_call_s,
                                 clock=clock)
        ref_tps = batch * context / median(times["transformer"]) if "transformer" in times else None
        for m in mixers:
            t = median(times[m])
            r = info[m]
            r["step ms"] = t * 1e3
            r["tokens/s"] = batch * context / t
            r["vs transformer"] = r["tokens/s"] / ref_tps if ref_tps else None
            r["steps timed"] = len(times[m])
            rows.append(r)
        if verbose:
            print(markdown_table([r for r in rows if r["context"] == context], COLUMNS), flush=True)
    return rows


COLUMNS = ["context", "mixer", "d_model", "n_layer", "params", "batch", "step ms", "tokens/s", "vs transformer",
           "steps timed"]


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contexts", type=int, nargs="+", default=DEFAULT_CONTEXTS)
    p.add_argument("--mixers", nargs="+", default=["transformer", "hyena", "sgconv"])
    p.add_argument("--d-model", type=int, default=128, help="the Transformer's width (sets the parameter count)")
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--tokens", type=int, default=1 << 14, help="tokens per training step")
    add_machine_options(p)
    p.add_argument("--budget-s", type=float, default=2.0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if "transformer" not in args.mixers:
        raise ValueError(f"--mixers must include 'transformer' (it sets the parameter count), got {args.mixers}")
    machine = apply_machine_options(args)
    print(f"# bench_lm_throughput: {machine}\n")
    rows = run(args.contexts, args.mixers, args.d_model, args.n_layer, args.tokens, args.device, args.budget_s,
               clock=CLOCKS[args.clock])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
