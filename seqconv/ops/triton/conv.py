"""Fused Monarch FFT convolution in Triton (the "triton" ``long_conv`` backend), forward and backward.

Public: :func:`triton_conv` (backend fn, (batch, dim, length) layout), :func:`triton_supports`, :func:`plan_for`.

Plans (FFT size N, always a power of two, padded up to at least 256 so every ``tl.dot`` dim is >= 16):

* single pass, ``256 <= N <= MAX_SINGLE_N`` (4096): one program per (packed batch pair, output row) reads u once and
  writes y once (``_fused_conv_kernel``);
* multi pass, ``MAX_SINGLE_N < N <= MAX_N`` (2**18, so lengths up to 128K causal): ``N = P*M``, ``P = max(16, N/4096)``;
  columns / rows / columns kernels with a complex fp32 scratch of 2 x (ceil(B/2), C*dim, N) floats (read and written
  twice), i.e. order-3 Monarch split across programs.

Backward (``torch.autograd.Function``): with ``g = grad_y * gate`` (or ``grad_y``), ``grad_u`` is the correlation of
g with the kernel = the same fused conv with the *conjugate* spectrum (plus ``D*g``), summed over channels in PyTorch;
``grad_gate = grad_y * (conv(u) + D*u)`` (the pre-gate output, stored by the forward kernel only when the gate needs a
gradient); ``grad_D = sum(g * u)`` in PyTorch. Kernel gradient: single pass, ``_spectrum_corr_kernel`` accumulates
``sum conj(U)*G`` per row in Triton and PyTorch does the final ``Re(ifft)`` + un-permutation; multi pass, the kernel
gradient is computed entirely in PyTorch (``torch.fft.rfft``/``irfft``, fp32).

Interpreter: set ``TRITON_INTERPRET=1`` to run on CPU tensors (slowly). The env var is read when the kernel module is
(re)imported, which :func:`_kernels` does on first use and again whenever the value changed, so it may be set any time
before the first call. Autotune is bypassed when interpreting.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import torch
from torch import Tensor

from ..monarch import _check_backend_args, _perm_list, conv_fft_size, padded_kernel, skip_rows

__all__ = ["MIN_N", "MAX_SINGLE_N", "MAX_N", "Plan", "plan_for", "triton_conv", "triton_supports", "interpreting"]

MIN_N = 256
MAX_SINGLE_N = 4096
MAX_N = 2**18
_COL_BLOCK = 64
#: ``tl.dot`` input precision for the fp32 DFT matmuls ("ieee" exact fp32; "tf32" faster on GPUs, ~1e-3 rel error)
DOT_PRECISION = "ieee"


def interpreting() -> bool:
    """True when TRITON_INTERPRET is set to a non-zero value (kernels then run on CPU tensors)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def _kernels():
    """Import (or re-import when TRITON_INTERPRET changed) the kernel module."""
    name = __name__.rsplit(".", 1)[0] + "._kernels"
    mod = sys.modules.get(name)
    if mod is None:
        return importlib.import_module(name)
    if mod.INTERPRET != interpreting():
        mod = importlib.reload(mod)
    return mod


@dataclass(frozen=True)
class Plan:
    """FFT size ``n`` and its Monarch split: ``p`` = 1 (single pass, factors (m1, m2)) or the column DFT size."""

    n: int
    p: int
    m1: int
    m2: int

    @property
    def single(self) -> bool:
        return self.p == 1

    @property
    def factors(self) -> tuple[int, ...]:
        return (self.m1, self.m2) if self.single else (self.p, self.m1, self.m2)


def plan_for(n: int) -> Plan:
    """Split a power-of-two FFT size ``MIN_N <= n <= MAX_N`` into the kernels' Monarch factors."""
    if n < MIN_N or n > MAX_N or n & (n - 1):
        raise ValueError(f"triton conv FFT size must be a power of two in [{MIN_N}, {MAX_N}], got {n}")
    p = 1 if n <= MAX_SINGLE_N else max(16, n // MAX_SINGLE_N)
    m = n // p
    bits = m.bit_length() - 1
    m1 = 2 ** ((bits + 1) // 2)
    return Plan(n, p, m1, m // m1)


@lru_cache(maxsize=32)
def _tables(plan: Plan, device: torch.device) -> dict[str, Tensor]:
    """fp32 DFT matrices and twiddles (computed in float64) for a plan, as contiguous real/imag pairs."""

    def cis(num: Tensor, den: int) -> tuple[Tensor, Tensor]:
        ang = (-2.0 * math.pi / den) * (num % den).to(torch.float64)
        return (ang.cos().float().to(device).contiguous(), ang.sin().float().to(device).contiguous())

    def outer(a: int, b: int) -> Tensor:
        return torch.arange(a, dtype=torch.long)[:, None] * torch.arange(b, dtype=torch.long)[None, :]

    m = plan.m1 * plan.m2
    t = {}
    t["f1"] = cis(outer(plan.m1, plan.m1), plan.m1)
    t["f2"] = cis(outer(plan.m2, plan.m2), plan.m2)
    t["tw"] = cis(outer(plan.m1, plan.m2), m)
    if not plan.single:
        t["fp"] = cis(outer(plan.p, plan.p), plan.p)
        t["twp"] = cis(outer(plan.p, m), plan.n)
    t["perm"] = torch.tensor(_perm_list(plan.factors), dtype=torch.long, device=device)
    t["iperm"] = torch.argsort(t["perm"])
    return t


def _spectrum(kf: Tensor, plan: Plan) -> tuple[Tensor, Tensor]:
    """(R, n) real kernel -> its DFT in the plan's Monarch-permuted order, as contiguous fp32 (re, im)."""
    spec = torch.fft.fft(kf.float(), dim=-1)[:, _tables(plan, kf.device)["perm"]]
    return spec.real.contiguous(), spec.imag.contiguous()


def _run_conv(x: Tensor, hin: int, spec: tuple[Tensor, Tensor], d: Optional[Tensor], gate: Optional[Tensor],
              plan: Plan, length: int, out_dtype: torch.dtype, conj: bool,
              store_pre: bool) -> tuple[Tensor, Optional[Tensor]]:
    """y[b, r] = gate * (circ_conv(x[b, r % hin], k_r)[:L] + d[r] * x[b, r % hin]) (conj: correlation)."""
    kern = _kernels()
    b = x.shape[0]
    rows = spec[0].shape[0]
    y = torch.empty(b, rows, length, device=x.device, dtype=out_dtype)
    pre = torch.empty(b, rows, length, device=x.device, dtype=torch.float32) if store_pre else None
    t = _tables(plan, x.device)
    pairs = (b + 1) // 2
    common = dict(HAS_D=d is not None, HAS_GATE=gate is not None, STORE_PRE=store_pre, PREC=DOT_PRECISION)
    if plan.single:
        kern._fused_conv_kernel[(pairs, rows)](
            x, spec[0], spec[1], d, gate, pre, y, *t["f1"], *t["f2"], *t["tw"],
            b, hin, rows, length, 1.0 / plan.n, M1=plan.m1, M2=plan.m2, CONJ_K=conj, **common)
        return y, pre
    m = plan.m1 * plan.m2
    s = [torch.empty(pairs, rows, plan.n, device=x.device, dtype=torch.float32) for _ in range(4)]
    grid = (pairs, rows, m // _COL_BLOCK)
    kern._col_fwd_kernel[grid](x, s[0], s[1], *t["fp"], *t["twp"], b, hin, rows, length,
                               P=plan.p, M=m, BM=_COL_BLOCK, PREC=DOT_PRECISION)
    kern._mid_kernel[(pairs, rows, plan.p)](s[0], s[1], s[2], s[3], spec[0], spec[1], *t["f1"], *t["f2"], *t["tw"],
                                            rows, P=plan.p, M1=plan.m1, M2=plan.m2, CONJ_K=conj, PREC=DOT_PRECISION)
    kern._col_inv_kernel[grid](s[2], s[3], x, d, gate, pre, y, *t["fp"], *t["twp"], b, hin, rows, length,
                               1.0 / plan.n, P=plan.p, M=m, BM=_COL_BLOCK, **common)
    return y, pre


def _kernel_grad(u: Tensor, g: Tensor, plan: Plan, channels: int) -> Tensor:
    """dL/dkf (R, n) = sum_b circ_corr(u[b, r % H], g[b, r]) (fp32)."""
    b, h, length = u.shape
    rows = g.shape[1]
    if plan.single:
        kern = _kernels()
        t = _tables(plan, u.device)
        accr = torch.empty(rows, plan.n, device=u.device, dtype=torch.float32)
        acci = torch.empty_like(accr)
        kern._spectrum_corr_kernel[(rows,)](u, g, accr, acci, *t["f1"], *t["f2"], *t["tw"], b, h, rows, length,
                                            M1=plan.m1, M2=plan.m2, PREC=DOT_PRECISION)
        acc = torch.complex(accr, acci)[:, t["iperm"]]
        return torch.fft.ifft(acc, dim=-1).real
    # multi pass: kernel gradient in PyTorch
    uf = torch.fft.rfft(u.float(), n=plan.n).repeat(1, channels, 1)
    gf = torch.fft.rfft(g.float(), n=plan.n)
    return torch.fft.irfft((uf.conj() * gf).sum(0), n=plan.n)


class _TritonConvFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: Tensor, kf: Tensor, d: Optional[Tensor], gate: Optional[Tensor], channels: int) -> Tensor:
        plan = plan_for(kf.shape[-1])
        b, h, length = u.shape
        spec = _spectrum(kf, plan)
        need_pre = gate is not None and ctx.needs_input_grad[3]
        dd = d.float().contiguous() if d is not None else None
        gg = gate.contiguous() if gate is not None else None
        y, pre = _run_conv(u, h, spec, dd, gg, plan, length, u.dtype, conj=False, store_pre=need_pre)
        ctx.plan, ctx.channels = plan, channels
        ctx.save_for_backward(u, spec[0], spec[1], d, gate, pre)
        return y

    @staticmethod
    def backward(ctx, gy: Tensor):
        u, sr, si, d, gate, pre = ctx.saved_tensors
        plan, c = ctx.plan, ctx.channels
        b, h, length = u.shape
        g = gy.float() * gate.float() if gate is not None else gy.float()
        g = g.contiguous()
        gu = gk = gd = gg = None
        if ctx.needs_input_grad[0]:
            dd = d.float().contiguous() if d is not None else None
            gr, _ = _run_conv(g, g.shape[1], (sr, si), dd, None, plan, length, torch.float32, conj=True,
                              store_pre=False)
            gu = gr.view(b, c, h, length).sum(1).to(u.dtype)
        if ctx.needs_input_grad[1]:
            gk = _kernel_grad(u, g, plan, c)
        if d is not None and ctx.needs_input_grad[2]:
            gd = (g.view(b, c, h, length) * u.float().unsqueeze(1)).sum((0, 3)).reshape(-1).to(d.dtype)
        if gate is not None and ctx.needs_input_grad[3]:
            gg = (gy.float() * pre).to(gate.dtype)
        return gu, gk, gd, gg, None


def triton_supports(u: Tensor, k: Tensor, bidirectional: bool) -> Optional[str]:
    """None when the Triton backend can run (triton installed, u on CUDA or TRITON_INTERPRET=1, fp16/bf16/fp32,
    FFT size <= 2**18), else the reason."""
    if not triton_available():
        return "the `triton` package is not installed (pip install triton; Linux + NVIDIA GPU only)"
    if not u.is_cuda and not interpreting():
        return (f"u is on {u.device} and there is no CUDA tensor to run on; Triton kernels need a CUDA device "
                "(or TRITON_INTERPRET=1 to run them slowly on CPU)")
    if u.is_cuda and interpreting():
        return "TRITON_INTERPRET=1 is set but u is a CUDA tensor; the interpreter runs on CPU tensors only"
    if u.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        return f"u has dtype {u.dtype}; the Triton backend supports float32, float16 and bfloat16 (use 'fft' for fp64)"
    n = conv_fft_size(u.shape[-1], k.shape[-1], bidirectional, min_n=MIN_N)
    if n > MAX_N:
        most = MAX_N // 2  # full-length kernels; shorter kernels allow longer inputs
        return (f"length {u.shape[-1]} with {k.shape[-1]} kernel taps needs FFT size {n} > {MAX_N}; the Triton "
                f"backend supports lengths up to {most} with full-length kernels (FFT sizes {MIN_N}..{MAX_N}); use backend 'fft'")
    return None


def triton_conv(u: Tensor, k: Tensor, D: Optional[Tensor] = None, bidirectional: bool = False,
                gate: Optional[Tensor] = None) -> Tensor:
    """Fused Monarch FFT long convolution (backend fn, differentiable in u, k, D and gate).

    Args:
        u: (batch, dim, length), fp32/fp16/bf16, on CUDA (or CPU under TRITON_INTERPRET=1).
        k: causal (channels, dim, klen); bidirectional (channels, 2, dim, klen).
        D: optional skip, (dim,) or (channels, dim).
        gate: optional (batch, channels*dim, length).

    Returns:
        (batch, channels*dim, length) in ``u.dtype``; ``y = gate * (conv(u, k) + D*u)``, FFT math in fp32.
    """
    b, h, length, c = _check_backend_args(u, k, D, bidirectional, gate)
    reason = triton_supports(u, k, bidirectional)
    if reason is not None:
        raise RuntimeError(f"triton_conv cannot run: {reason}")
    n = conv_fft_size(length, k.shape[-1], bidirectional, min_n=MIN_N)
    kf = padded_kernel(k.float(), length, n, bidirectional)
    return _TritonConvFn.apply(u.contiguous(), kf, skip_rows(D, c, h), gate, c)
