"""Long-conv op efficiency: its time as a multiple of the FFT floor and of the memory-bandwidth bound.

Per length (batch * dim * length near ``--elements``, shapes from :func:`experiments.bench_conv.shape_for`),
timed round robin in one process (median):

* ``floor``: one rfft + irfft pair of the padded input (forward); three pairs for forward+backward
  (the inputs of :mod:`experiments.bench_conv`, reused as is);
* ``long_conv``: the op, ``layout="BHL"`` (the floor's layout), FFT backend; ``long_conv[BLH]``: on
  (batch, length, dim) input;
* ``copy``: ``dst.copy_(src)`` of a ``--copy-mib`` MiB fp32 tensor, timed in the same rounds; the bandwidth is
  ``2 * bytes / time`` (read + write).

Bandwidth bound of the op: the bytes it must move at the least, divided by the measured copy bandwidth.
Forward: read u, write y, read the kernel spectrum (dim x (n/2+1) complex64). Forward+backward: that plus
read the output gradient and the input, write the input gradient and the kernel gradient.

Usage:  python -m experiments.bench_op_efficiency [--lengths 1024 16384 65536] [--elements 4194304]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable, Optional

import torch

from experiments.bench_conv import case, shape_for
from experiments.benchutil import (
    CLOCKS,
    add_machine_options,
    apply_machine_options,
    markdown_table,
    median,
    time_interleaved,
)
from seqconv.ops.fftconv import fft_size

DEFAULT_LENGTHS = [1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18]
METHODS = ["floor", "long_conv", "long_conv[BLH]"]


def copy_fn(mib: int, device: str) -> tuple[Callable[[], None], int]:
    src = torch.randn(mib * (1 << 18), device=device)
    dst = torch.empty_like(src)
    return (lambda: dst.copy_(src)), 2 * src.numel() * 4


def min_bytes(batch: int, dim: int, length: int, backward: bool, itemsize: int = 4) -> int:
    """Least bytes the op moves (see the module docstring)."""
    n = fft_size(length, length)
    act = batch * dim * length * itemsize
    spectrum = dim * (n // 2 + 1) * 8
    fwd = 2 * act + spectrum
    if not backward:
        return fwd
    return fwd + 3 * act + spectrum + dim * length * itemsize


def run(
    lengths: list[int],
    elements: int = 1 << 22,
    device: str = "cpu",
    budget_s: float = 1.0,
    copy_mib: int = 256,
    clock: Callable[[], float] = time.perf_counter,
    verbose: bool = True,
) -> list[dict[str, Any]]:
    rows = []
    copy, copy_bytes = copy_fn(copy_mib, device)
    for length in lengths:
        batch, dim = shape_for(length, elements)
        for mode, backward in (("fwd", False), ("fwd+bwd", True)):
            fns = {m: case(m, batch, dim, length, torch.float32, device, backward) for m in METHODS}
            fns["copy"] = copy
            times = {k: median(v) for k, v in time_interleaved(fns, budget_s, device=device, clock=clock).items()}
            bandwidth = copy_bytes / times["copy"]
            bound = min_bytes(batch, dim, length, backward) / bandwidth
            for m in METHODS:
                rows.append({
                    "L": length, "B x H": f"{batch} x {dim}", "mode": mode, "method": m,
                    "ms": times[m] * 1e3, "x floor": times[m] / times["floor"], "x bandwidth bound": times[m] / bound,
                    "bound ms": bound * 1e3, "copy GB/s": bandwidth / 1e9,
                })
        if verbose:
            print(markdown_table([r for r in rows if r["L"] == length], COLUMNS), flush=True)
    return rows


COLUMNS = ["L", "B x H", "mode", "method", "ms", "x floor", "x bandwidth bound", "bound ms", "copy GB/s"]


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", type=int, nargs="+", default=DEFAULT_LENGTHS)
    p.add_argument("--elements", type=int, default=1 << 22, help="batch * dim * length per case")
    p.add_argument("--copy-mib", type=int, default=256)
    add_machine_options(p)
    p.add_argument("--budget-s", type=float, default=1.0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    machine = apply_machine_options(args)
    print(f"# bench_op_efficiency: {machine}\n")
    rows = run(args.lengths, args.elements, args.device, args.budget_s, args.copy_mib, clock=CLOCKS[args.clock])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
