"""FFT long convolution (torch.fft), causal or bidirectional, any length, with a lean custom autograd.

Canonical layout as in :mod:`seqconv.ops.reference`: ``u`` (batch, dim, length), ``k`` (channels, dim, klen) or
(channels, 2, dim, klen) when bidirectional, output (batch, channels * dim, length).

How it works (REFERENCE §1): the kernel is laid out on a circle of ``n`` points -- lags ``0..K0-1`` at the
start, negative lags ``-1..-K1`` at the end -- with ``n >= L + max(K0 - 1, K1)`` so that the circular
convolution of the zero-padded input equals the linear one on the first ``L`` outputs. ``n`` is the smallest
even 5-smooth number above that bound (FFT libraries are fastest on such sizes), not blindly ``2 * next_pow2``.

Memory and work: ``D`` is folded into the kernel spectrum; the forward keeps the input spectrum, that kernel
spectrum (no batch dimension) and ``gate`` -- never more than plain autograd through rfft/irfft keeps. The
backward is one rfft and two irffts: a correlation with the kernel for ``grad_u`` and a correlation with the input
for ``grad_k``, whose lag-0 value is ``grad_D``.

Precision: FFTs run in float32 for float16/bfloat16/float32 inputs and in float64 for float64 inputs; the
output has the input's dtype.

Inference: when no gradient flows to the kernel, its spectrum is cached (keyed by the kernel tensor's identity
and version counter), so repeated calls with an unchanged kernel skip the kernel FFT.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Optional

import torch
from torch import Tensor

__all__ = ["fft_conv", "fft_size", "next_fast_len", "kernel_spectrum", "clear_spectrum_cache"]


def next_fast_len(target: int) -> int:
    """Smallest even integer ``>= target`` whose prime factors are 2, 3 and 5 only."""
    if target < 1:
        raise ValueError(f"next_fast_len: target must be >= 1, got {target}")
    best = 2 * (1 << max(0, (target - 1)).bit_length())  # an even power of two always qualifies
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            # smallest 2^a * p35 >= target with a >= 1 (even)
            quotient = -(-target // p35)
            p2 = 2 if quotient <= 2 else 1 << (quotient - 1).bit_length()
            best = min(best, p2 * p35)
            p35 *= 3
        p5 *= 5
    return best


def fft_size(length: int, k0_len: int, k1_len: int = 0) -> int:
    """FFT size for a linear convolution of ``length`` outputs with lags ``-k1_len .. k0_len - 1``."""
    return next_fast_len(length + max(k0_len - 1, k1_len))


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _circular_kernel(k: Tensor, length: int, n: int, bidirectional: bool) -> Tensor:
    """Place the kernel on a circle of ``n`` points: (channels, dim, klen_or_n)."""
    if not bidirectional:
        return k[..., :length]
    k0, k1 = k[:, 0, :, :length], k[:, 1, :, : length - 1]
    if k1.shape[-1] == 0:
        return k0
    zeros = k0.new_zeros(*k0.shape[:-1], n - k0.shape[-1] - k1.shape[-1])
    return torch.cat([k0, zeros, k1.flip(-1)], dim=-1)


_SPECTRUM_CACHE: OrderedDict = OrderedDict()
_SPECTRUM_CACHE_SIZE = 64


def clear_spectrum_cache() -> None:
    """Drop every cached kernel spectrum."""
    _SPECTRUM_CACHE.clear()


def _owner(t: Tensor) -> Tensor:
    """The tensor whose version counter ``t`` shares (a view shares its base's)."""
    return t if t._base is None else t._base


def kernel_spectrum(
    k: Tensor, D: Optional[Tensor], length: int, n: int, bidirectional: bool, dtype: torch.dtype, cache: bool = True
) -> Tensor:
    """``rfft`` of the circular kernel plus ``D`` (a delta at lag 0 has a flat spectrum): (channels, dim, n//2+1).

    Computed without autograd. With ``cache=True`` the result is kept, keyed by the identity, view geometry and
    version counter of ``k`` and ``D`` (views are traced to their base, so the fresh views ``long_conv`` makes
    of an unchanged parameter still hit), until either is changed in place or freed.
    """
    tensors = [k] if D is None else [k, D]
    # Inference-mode tensors have no version counter, so a change in place could not be detected: no cache.
    cache = cache and not any(t.is_inference() for t in tensors)
    if cache:
        owners = tuple(_owner(t) for t in tensors)
        geometry = tuple((id(o), t.storage_offset(), tuple(t.shape), tuple(t.stride())) for o, t in zip(owners, tensors))
        key = (geometry, length, n, bidirectional, dtype)
        versions = tuple(o._version for o in owners)
        hit = _SPECTRUM_CACHE.get(key)
        if hit is not None and all(r() is o for r, o in zip(hit[0], owners)) and hit[1] == versions:
            _SPECTRUM_CACHE.move_to_end(key)
            return hit[2]
    with torch.no_grad():
        spec = torch.fft.rfft(_circular_kernel(k, length, n, bidirectional).to(dtype), n=n)
        if D is not None:
            spec = spec + D.to(dtype)[..., None]
    if cache:
        refs = tuple(weakref.ref(o, lambda _ref, key=key: _SPECTRUM_CACHE.pop(key, None)) for o in owners)
        _SPECTRUM_CACHE[key] = (refs, versions, spec)
        while len(_SPECTRUM_CACHE) > _SPECTRUM_CACHE_SIZE:
            _SPECTRUM_CACHE.popitem(last=False)
    return spec


class _FFTConv(torch.autograd.Function):
    """The FFT conv with a hand-written backward.

    ``kd_f`` is the kernel spectrum with the ``D`` skip folded in (:func:`kernel_spectrum`), so the skip costs
    no pass over the data in the forward nor in ``grad_u``; ``D`` itself is passed only for its gradient.
    Saved for the backward: the input spectrum (not the input: ``grad_D`` is the lag-0 value of the kernel's
    correlation), ``kd_f`` (no batch dimension) and the gate -- never more than plain autograd keeps (both
    spectra and the input). No ``rfft(u)`` is recomputed: the backward costs one rfft (of the output gradient)
    and two irffts, plus one irfft for the gate's gradient.
    """

    @staticmethod
    def forward(ctx, u: Tensor, k_circ: Tensor, kd_f: Tensor, D: Optional[Tensor], gate: Optional[Tensor], n: int):
        cdt = kd_f.real.dtype
        u_f = torch.fft.rfft(u.to(cdt), n=n)
        B, H, L = u.shape
        if kd_f.shape[0] == 1 and not any(ctx.needs_input_grad):
            y = torch.fft.irfft(u_f.mul_(kd_f[0]).unsqueeze(1), n=n)[..., :L]  # u_f is not needed later: in place
        else:
            y = torch.fft.irfft(u_f.unsqueeze(1) * kd_f, n=n)[..., :L]
        if gate is not None:
            out = y * gate.to(cdt).view(B, -1, H, L)
        elif any(ctx.needs_input_grad):
            out = y.contiguous()  # training: do not keep the (.., n) buffer alive through later layers
        else:
            out = y  # inference: a strided view of the irfft output, no copy (the buffer lives as long as it)
        ctx.save_for_backward(u_f, kd_f, D, gate)
        ctx.n, ctx.length, ctx.u_dtype = n, L, u.dtype
        ctx.k_len, ctx.k_dtype = k_circ.shape[-1], k_circ.dtype
        return out.view(B, -1, L).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        u_f, kd_f, D, gate = ctx.saved_tensors
        n, L = ctx.n, ctx.length
        cdt = kd_f.real.dtype
        B, C, H = u_f.shape[0], kd_f.shape[0], kd_f.shape[1]
        g = grad_out.to(cdt).reshape(B, C, H, L)
        grad_gate = None
        if gate is not None:
            if ctx.needs_input_grad[4]:
                pre = torch.fft.irfft(u_f.unsqueeze(1) * kd_f, n=n)[..., :L]
                grad_gate = (g * pre).view(B, C * H, L).to(gate.dtype)
            g = g * gate.to(cdt).view_as(g)
        g_f = torch.fft.rfft(g, n=n)
        del g
        grad_u = grad_k = grad_D = None
        # Memory: the kernel-side correlation first (it reads g_f), then grad_u multiplies g_f in place; singleton
        # batch / channel sums are squeezes, not copies; every full-length irfft output is sliced into a
        # contiguous tensor at once so the (.., n) buffer is freed.
        if ctx.needs_input_grad[1] or (D is not None and ctx.needs_input_grad[3]):
            # correlation of the output gradient with the input, summed over the batch: the kernel's gradient at
            # every lag; D acts as a delta at lag 0, so its gradient is the lag-0 value
            cross = g_f * u_f.conj().unsqueeze(1)
            cross = cross.squeeze(0) if B == 1 else cross.sum(0)
            corr = torch.fft.irfft(cross, n=n)
            del cross
            if ctx.needs_input_grad[1]:
                grad_k = corr[..., : ctx.k_len].contiguous().to(ctx.k_dtype)
            if D is not None and ctx.needs_input_grad[3]:
                grad_D = corr[..., 0].to(D.dtype)
            del corr
        if ctx.needs_input_grad[0]:
            prod = g_f.mul_(kd_f.conj())
            prod = prod.squeeze(1) if C == 1 else prod.sum(1)
            grad_u = torch.fft.irfft(prod, n=n)[..., :L].contiguous().to(ctx.u_dtype)
        return grad_u, grad_k, None, grad_D, grad_gate, None


def fft_conv(
    u: Tensor, k: Tensor, D: Optional[Tensor] = None, bidirectional: bool = False, gate: Optional[Tensor] = None
) -> Tensor:
    """FFT long convolution in the canonical layout; see the module docstring.

    Args:
        u: (batch, dim, length) real floating tensor.
        k: (channels, dim, klen), or (channels, 2, dim, klen) when ``bidirectional``.
        D: optional skip (channels, dim).
        bidirectional: use the second kernel for negative lags.
        gate: optional (batch, channels * dim, length) multiplier applied to the result.

    Returns:
        (batch, channels * dim, length) in ``u.dtype``.
    """
    L = u.shape[-1]
    klen = k.shape[-1]
    k1_len = min(klen, L - 1) if bidirectional else 0
    n = fft_size(L, min(klen, L), k1_len)
    cdt = _compute_dtype(u.dtype)
    k_grad = torch.is_grad_enabled() and k.requires_grad
    # Gradients reach k through the circular layout (slice/flip/cat) and the Function's grad w.r.t. k_circ.
    k_circ = _circular_kernel(k, L, n, bidirectional) if k_grad else k  # without a kernel grad k_circ is unused
    cache = not (k_grad or (torch.is_grad_enabled() and D is not None and D.requires_grad))
    kd_f = kernel_spectrum(k, D, L, n, bidirectional, cdt, cache=cache)
    return _FFTConv.apply(u, k_circ, kd_f, D, gate, n)
