"""Benchmark the long-convolution op against the plain FFT conv and the FFT floor, side by side in one run.

Rows per length (batch * dim * length kept near ``--elements`` so every length fits in memory):

* ``floor``   -- one ``rfft`` + ``irfft`` pair of the padded input alone (forward); three pairs for
  forward+backward (the forward pair, one pair for the input gradient, one for the kernel gradient).
* ``plain``   -- the textbook conv through autograd: rfft of u and k at n = 2L, multiply, irfft, slice, + u*D.
* ``long_conv`` -- this library's op (``layout="BHL"``, the floor's layout); ``long_conv[BLH]`` the same op on
  (batch, length, dim) input, which pays for a transpose.
* ``monarch`` -- the Monarch (FlashButterfly) PyTorch backend, when present.

Columns: median milliseconds forward and forward+backward (methods timed round robin, ``--clock`` wall or
process CPU time), ratios to the floor and to ``plain``, and peak extra
memory of forward+backward (see ``experiments/benchutil.py`` for how it is measured).

Usage:  python -m experiments.bench_conv [--lengths 1024 16384 ...] [--device cuda] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

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
from seqconv.ops import long_conv

DEFAULT_LENGTHS = [1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20]


def shape_for(length: int, elements: int) -> tuple[int, int]:
    """(batch, dim) with batch * dim * length close to ``elements``: batch up to 8 (at least 4 while dim >= 4)."""
    per_length = max(elements // length, 4)
    batch = min(8, max(1, per_length // 4))
    return batch, max(4, per_length // batch)


def plain_conv(u: torch.Tensor, k: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    L = u.shape[-1]
    n = 2 * L
    y = torch.fft.irfft(torch.fft.rfft(u.float(), n=n) * torch.fft.rfft(k.float(), n=n), n=n)[..., :L]
    return (y + u * D[:, None]).to(u.dtype)


def floor_forward(u: torch.Tensor, k: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    n = 2 * u.shape[-1]
    return torch.fft.irfft(torch.fft.rfft(u.float(), n=n), n=n)


def methods() -> dict[str, Callable]:
    found = {
        "floor": floor_forward,
        "plain": plain_conv,
        "long_conv": lambda u, k, D: long_conv(u, k, D, layout="BHL", backend="fft"),
        "long_conv[BLH]": None,  # made by `case`: the same op on (batch, length, dim) input
    }
    try:
        from seqconv.ops import monarch  # noqa: F401  (registers the backend)

        found["monarch"] = lambda u, k, D: long_conv(u, k, D, layout="BHL", backend="monarch")
    except ImportError:
        pass
    return found


def case(name: str, batch: int, dim: int, length: int, dtype: torch.dtype, device: str, backward: bool) -> Callable:
    """Make inputs and return a zero-argument callable running one forward (and backward) of ``name``."""
    g = torch.Generator(device="cpu").manual_seed(0)
    u = torch.randn(batch, dim, length, generator=g).to(device=device, dtype=dtype)
    k = (torch.randn(dim, length, generator=g) / length**0.5).to(device)
    D = torch.randn(dim, generator=g).to(device)
    if name == "long_conv[BLH]":
        u = u.transpose(1, 2).contiguous()
        call = lambda u, k, D: long_conv(u, k, D, backend="fft")  # noqa: E731
    else:
        call = methods()[name]
    if name == "floor" and backward:
        n = 2 * length

        def three_pairs():
            for _ in range(3):
                torch.fft.irfft(torch.fft.rfft(u.float(), n=n), n=n)

        return three_pairs
    if not backward:

        def fwd():
            with torch.no_grad():
                call(u, k, D)

        return fwd
    for t in (u, k, D):
        t.requires_grad_()
    with torch.no_grad():
        grad = torch.randn_like(call(u, k, D))

    def fwd_bwd():
        call(u, k, D).backward(grad)
        u.grad = k.grad = D.grad = None

    return fwd_bwd


def run(
    lengths: list[int], elements: int, dtype: torch.dtype, device: str, min_run_time: float,
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict]:
    rows = []
    all_methods = methods()
    for length in lengths:
        batch, dim = shape_for(length, elements)
        times = {}
        for mode in ("fwd", "fwd+bwd"):
            # the methods are timed round robin (one call each per round), so load from other processes hits
            # them alike; ``min_run_time`` seconds per method, median per call
            fns = {name: case(name, batch, dim, length, dtype, device, mode == "fwd+bwd") for name in all_methods}
            for name, ts in time_interleaved(fns, min_run_time, min_reps=3, max_reps=50, device=device,
                                             clock=clock).items():
                times[(name, mode)] = median(ts)
            del fns
        for name in all_methods:
            fb_args = (name, batch, dim, length, dtype, device, True)
            rows.append(
                {
                    "L": length,
                    "B x H": f"{batch} x {dim}",
                    "method": name,
                    "fwd ms": times[(name, "fwd")] * 1e3,
                    "fwd / floor": times[(name, "fwd")] / times[("floor", "fwd")],
                    "fwd / plain": times[(name, "fwd")] / times[("plain", "fwd")],
                    "fwd+bwd ms": times[(name, "fwd+bwd")] * 1e3,
                    "fwd+bwd / floor": times[(name, "fwd+bwd")] / times[("floor", "fwd+bwd")],
                    "fwd+bwd / plain": times[(name, "fwd+bwd")] / times[("plain", "fwd+bwd")],
                    "peak MiB (fwd+bwd)": mib(peak_memory(case, fb_args, device)),
                }
            )
        print(markdown_table([r for r in rows if r["L"] == length]), file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=DEFAULT_LENGTHS)
    p.add_argument("--elements", type=int, default=1 << 22, help="batch * dim * length per case")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "float64"])
    add_machine_options(p)
    p.add_argument("--min-run-time", type=float, default=0.5, help="seconds of repeated runs per timing")
    args = p.parse_args(argv)
    machine = apply_machine_options(args)
    print(f"bench_conv: {machine}; dtype {args.dtype}", file=sys.stderr)
    rows = run(args.lengths, args.elements, getattr(torch, args.dtype), args.device, args.min_run_time,
               CLOCKS[args.clock])
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
