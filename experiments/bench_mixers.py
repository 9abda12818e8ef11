"""Mixer scaling: forward and forward+backward time and peak memory of one layer of every mixer, side by side.

One layer each of SGConv, long conv, Hyena, TCN, TCNCA, S4D (all causal, built by
:func:`seqconv.modules.build_mixer` with ``l_max = L``) and the Transformer baseline
(:class:`seqconv.modules.MultiHeadAttention`, ``F.scaled_dot_product_attention`` with ``is_causal=True``), at the
same ``d_model`` and batch, for lengths 1K..64K. Per length, the methods are timed *interleaved* (round robin,
one call each per round) and the median per method is reported, so load from other processes hits all
methods alike. A method whose single forward+backward already takes longer than ``--max-call-s`` is timed
with that one call at this length and skipped at longer lengths ("time cap"); likewise if it runs out of memory.

Peak memory: the rise of the peak resident set of a fresh child process over its second forward+backward (CPU), or
the CUDA allocator's peak (GPU); see :func:`experiments.benchutil.peak_memory`.

Usage:  python -m experiments.bench_mixers [--lengths 1024 4096 ...] [--d-model 128] [--batch 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable, Optional

import torch

from experiments.benchutil import (
    CLOCKS,
    add_machine_options,
    apply_machine_options,
    markdown_table,
    median,
    mib,
    peak_memory,
    time_interleaved,
)


def mixer_list() -> list[str]:
    """Every mixer of the registry (aliases dropped), custom ones registered so far included; attention last."""
    from seqconv.modules.registry import is_attention, mixer_names

    names = mixer_names(canonical=True)
    return [n for n in names if not is_attention(n)] + [n for n in names if is_attention(n)]


MIXERS = mixer_list()  # the built-in list at import time; use mixer_list() to see mixers registered later
DEFAULT_LENGTHS = [1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15, 1 << 16]


def build(name: str, d_model: int, length: int, n_heads: int) -> torch.nn.Module:
    """One causal layer of mixer ``name`` sized for ``length``."""
    from seqconv.modules import build_mixer
    from seqconv.modules.registry import is_attention

    kwargs: dict[str, Any] = {"n_heads": n_heads} if is_attention(name) else {}
    return build_mixer(name, d_model, causal=True, l_max=length, **kwargs)


def case(
    name: str, d_model: int, length: int, batch: int, n_heads: int, device: str, dtype: str, backward: bool
) -> Callable[[], Any]:
    """Build the layer and its input; return a callable running one forward (and backward)."""
    torch.manual_seed(0)
    layer = build(name, d_model, length, n_heads).to(device=device, dtype=getattr(torch, dtype))
    x = torch.randn(batch, length, d_model, device=device, dtype=getattr(torch, dtype))
    if not backward:
        layer.eval()

        def fwd() -> None:
            with torch.no_grad():
                layer(x)

        return fwd
    layer.train()
    x.requires_grad_()

    def fwd_bwd() -> None:
        layer(x).sum().backward()
        x.grad = None
        for p in layer.parameters():
            p.grad = None

    return fwd_bwd


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc).lower()


def run(
    lengths: list[int],
    mixers: Optional[list[str]] = None,
    d_model: int = 128,
    batch: int = 1,
    n_heads: int = 4,
    device: str = "cpu",
    dtype: str = "float32",
    budget_s: float = 1.0,
    max_call_s: float = 8.0,
    memory: bool = True,
    verbose: bool = True,
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict[str, Any]]:
    """Rows ``{L, mixer, params, fwd ms, fwd+bwd ms, peak MiB, note}`` for every (length, mixer)."""
    if mixers is None:
        mixers = mixer_list()
    rows: list[dict[str, Any]] = []
    dropped: dict[str, str] = {}
    for length in lengths:
        active = [m for m in mixers if m not in dropped]
        results: dict[str, dict[str, Any]] = {
            m: {"L": length, "mixer": m, "params": sum(p.numel() for p in build(m, d_model, length, n_heads).parameters())}
            for m in active
        }
        for mode, backward in (("fwd ms", False), ("fwd+bwd ms", True)):
            fns = {}
            for m in active:
                try:
                    fns[m] = case(m, d_model, length, batch, n_heads, device, dtype, backward)
                except Exception as exc:  # noqa: BLE001 - recorded in the table
                    if not _is_oom(exc):
                        raise
                    results[m]["note"] = "out of memory"
            try:
                times = time_interleaved(fns, budget_s, device=device, max_call_s=max_call_s, clock=clock)
            except Exception as exc:  # noqa: BLE001
                if not _is_oom(exc):
                    raise
                times = {}
                for m, fn in fns.items():  # find the culprit one by one
                    try:
                        times.update(time_interleaved({m: fn}, budget_s, device=device, max_call_s=max_call_s, clock=clock))
                    except Exception as exc2:  # noqa: BLE001
                        if not _is_oom(exc2):
                            raise
                        results[m]["note"] = "out of memory"
            for m, ts in times.items():
                results[m][mode] = median(ts) * 1e3
                results[m].setdefault("reps", {})[mode] = len(ts)
                if len(ts) == 1 and ts[0] > max_call_s:
                    results[m]["note"] = f"time cap ({max_call_s:g} s/call): 1 call, longer L skipped"
            del fns
        for m in active:
            r = results[m]
            if memory and "fwd+bwd ms" in r and "out of memory" not in r.get("note", ""):
                try:
                    r["peak MiB"] = mib(
                        peak_memory(case, (m, d_model, length, batch, n_heads, device, dtype, True), device)
                    )
                except RuntimeError as exc:
                    r["note"] = f"memory child failed: {exc}"[:80]
            if "note" in r:
                dropped[m] = r["note"]
            r["reps"] = "/".join(str(r.get("reps", {}).get(k, 0)) for k in ("fwd ms", "fwd+bwd ms"))
            rows.append(r)
        if verbose:
            print(markdown_table([r for r in rows if r["L"] == length], COLUMNS), flush=True)
    return rows


COLUMNS = ["L", "mixer", "params", "fwd ms", "fwd+bwd ms", "peak MiB", "reps", "note"]


def summarize(rows: list[dict[str, Any]], reference: str = "transformer", at: int = 1 << 14) -> dict[str, Any]:
    """Crossover length (first L where a conv mixer's fwd+bwd beats attention's and stays ahead) and ratios at ``at``."""
    by = {(r["L"], r["mixer"]): r for r in rows}
    lengths = sorted({r["L"] for r in rows})
    out: dict[str, Any] = {"crossover": {}, "speedup_at": at, "speedup": {}, "memory_ratio": {}}
    for m in sorted({r["mixer"] for r in rows} - {reference}):
        faster = [
            L
            for L in lengths
            if "fwd+bwd ms" in by.get((L, m), {}) and "fwd+bwd ms" in by.get((L, reference), {})
            and by[(L, m)]["fwd+bwd ms"] < by[(L, reference)]["fwd+bwd ms"]
        ]
        compared = [L for L in lengths if "fwd+bwd ms" in by.get((L, m), {}) and "fwd+bwd ms" in by.get((L, reference), {})]
        cross = None
        for i, L in enumerate(compared):
            if all(x in faster for x in compared[i:]):
                cross = L
                break
        out["crossover"][m] = cross
        a, b = by.get((at, m), {}), by.get((at, reference), {})
        if "fwd+bwd ms" in a and "fwd+bwd ms" in b:
            out["speedup"][m] = b["fwd+bwd ms"] / a["fwd+bwd ms"]
        if a.get("peak MiB") and b.get("peak MiB"):
            out["memory_ratio"][m] = a["peak MiB"] / b["peak MiB"]
    return out


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=DEFAULT_LENGTHS)
    names = mixer_list()
    p.add_argument("--mixers", nargs="+", default=names, choices=names)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--n-heads", type=int, default=4)
    add_machine_options(p)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--budget-s", type=float, default=1.0, help="seconds of timed calls per method and length")
    p.add_argument("--max-call-s", type=float, default=8.0, help="skip longer lengths once one call takes this long")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    p.add_argument("--json", default=None, help="also write rows and summary here")
    args = p.parse_args(argv)
    machine = apply_machine_options(args)
    print(f"# bench_mixers: {machine}; d_model {args.d_model}, batch {args.batch}\n")
    rows = run(args.lengths, args.mixers, args.d_model, args.batch, args.n_heads, args.device, args.dtype,
               args.budget_s, args.max_call_s, not args.no_memory, clock=CLOCKS[args.clock])
    summary = summarize(rows)
    print(json.dumps(summary, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
