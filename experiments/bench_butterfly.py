"""Benchmark the FlashButterfly backends (Monarch PyTorch on CPU, Triton on CUDA) against the torch.fft conv.

Usage:
    python experiments/bench_butterfly.py                      # CPU: monarch vs fft, L = 1K..64K, B=2, H=4, fp32
    python experiments/bench_butterfly.py --device cuda        # GPU: triton vs fft, B=16, H=768, fp16 and bf16

Prints a markdown table: time per forward call, speedup over the FFT conv, and the fraction of the
memory-bandwidth bound (bytes = 2*B*H*L*itemsize (read u, write y) + kernel spectrum bytes (fp32 complex, N per
row), divided by the bandwidth of a large device copy measured in the same run) -- REFERENCE §5.
:func:`bench_rows` is importable (experiments/bench_conv.py uses it for the CPU monarch row).
"""

from __future__ import annotations

import argparse
import time
from typing import Optional

import torch

from seqconv.ops import long_conv
from seqconv.ops.monarch import conv_fft_size


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_ms(fn, device: torch.device, min_time: float = 0.2, max_iters: int = 50) -> float:
    """Median-free simple timing: one warm-up, then repeat until min_time seconds; mean ms per call."""
    fn()
    _sync(device)
    iters, start = 0, time.perf_counter()
    while True:
        fn()
        iters += 1
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or iters >= max_iters:
            return 1e3 * elapsed / iters


def copy_bandwidth(device: torch.device, nbytes: int = 1 << 28) -> float:
    """Bytes/s of a large device copy (read + write counted)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).normal_()
    dst = torch.empty_like(src)
    ms = _time_ms(lambda: dst.copy_(src), device, min_time=0.3)
    return 2 * nbytes / (ms * 1e-3)


def bench_rows(lengths: list[int], batch: int, dim: int, dtype: torch.dtype, device, backend: Optional[str] = None,
               bandwidth: Optional[float] = None) -> list[dict]:
    """Time ``long_conv`` forward with the butterfly backend vs the "fft" backend.

    Args:
        lengths: sequence lengths L (causal, full-length kernels).
        batch, dim: B and H. dtype: input dtype. device: "cpu" or "cuda".
        backend: "monarch" (default on CPU) or "triton" (default on CUDA).
        bandwidth: copy bandwidth in bytes/s (measured if None).

    Returns:
        one dict per length: L, backend, dtype, ms, fft_ms, speedup (fft_ms / ms), bound_ms (bytes-moved bound at the
        measured bandwidth), frac_bound (bound_ms / ms), fft_frac_bound.
    """
    device = torch.device(device)
    backend = backend or ("triton" if device.type == "cuda" else "monarch")
    bw = bandwidth or copy_bandwidth(device)
    rows = []
    for length in lengths:
        u = torch.randn(batch, dim, length, device=device, dtype=dtype)
        k = torch.randn(dim, length, device=device, dtype=torch.float32) / length**0.5
        d = torch.randn(dim, device=device)
        times = {}
        for name in (backend, "fft"):
            fn = lambda name=name, u=u, k=k, d=d: long_conv(u, k, d, backend=name, layout="BHL")
            times[name] = _time_ms(fn, device)
        n = conv_fft_size(length, length, False)
        nbytes = 2 * batch * dim * length * u.element_size() + dim * n * 8
        bound_ms = 1e3 * nbytes / bw
        rows.append(dict(L=length, backend=backend, dtype=str(dtype).replace("torch.", ""), ms=times[backend],
                         fft_ms=times["fft"], speedup=times["fft"] / times[backend], bound_ms=bound_ms,
                         frac_bound=bound_ms / times[backend], fft_frac_bound=bound_ms / times["fft"]))
    return rows


def to_markdown(rows: list[dict], batch: int, dim: int, bw: float, device: str) -> str:
    out = [f"device={device} B={batch} H={dim} copy bandwidth {bw / 1e9:.1f} GB/s", "",
           "| L | dtype | backend | ms | fft ms | speedup vs fft | frac of BW bound | fft frac of BW bound |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['L']} | {r['dtype']} | {r['backend']} | {r['ms']:.3f} | {r['fft_ms']:.3f} | "
                   f"{r['speedup']:.2f}x | {100 * r['frac_bound']:.1f}% | {100 * r['fft_frac_bound']:.1f}% |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--lengths", default="1024,2048,4096,8192,16384,32768,65536")
    ap.add_argument("--batch", type=int, default=None, help="default 2 on CPU, 16 on CUDA")
    ap.add_argument("--dim", type=int, default=None, help="default 4 on CPU, 768 on CUDA")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but torch.cuda.is_available() is False")
    lengths = [int(x) for x in args.lengths.split(",")]
    device = torch.device(args.device)
    batch = args.batch or (16 if device.type == "cuda" else 2)
    dim = args.dim or (768 if device.type == "cuda" else 4)
    dtypes = [torch.float16, torch.bfloat16] if device.type == "cuda" else [torch.float32]
    bw = copy_bandwidth(device)
    rows = [r for dt in dtypes for r in bench_rows(lengths, batch, dim, dt, device, bandwidth=bw)]
    print(to_markdown(rows, batch, dim, bw, args.device))


if __name__ == "__main__":
    main()
