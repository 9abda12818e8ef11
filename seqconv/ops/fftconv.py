"""FFT long convolution (torch.fft), causal or bidirectional, any length, with a lean custom autograd.

Canonical layout as in :mod:`seqconv.ops.reference`: ``u`` (batch, dim, length), ``k`` (channels, dim, klen) or
(channels, 2, dim, klen) when bidirectional, output (batch, channels * dim, length).

How it works (REFERENCE §1): the kernel is laid out on a circle of ``n`` points -- lags ``0..K0-1`` at the
start, negative lags ``-1..-K1`` at the end -- with ``n >= L + max(K0 - 1, K1)`` so that the circular
convolution of the zero-padded input equals the linear one on the first ``L`` outputs. ``n`` is the smallest
even 5-smooth number above that bound (FFT libraries are fastest on such sizes), not blindly ``2 * next_pow2``.

Memory and work: ``D`` is folded into the kernel spectrum. Training saves the input and the circular kernel,
not their spectra (twice their size), and recomputes the spectra in the backward: the forward is two rffts and
one irfft, the backward three rffts and two irffts -- a correlation with the kernel for ``grad_u`` and one with
the input for ``grad_k``, whose lag-0 value is ``grad_D``.

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


def _spectrum_from_circ(k_circ: Tensor, D: Optional[Tensor], n: int, dtype: torch.dtype) -> Tensor:
    """``rfft`` of a circular kernel (as laid out by :func:`_circular_kernel`) plus ``D``: (channels, dim, n//2+1)."""
    spec = torch.fft.rfft(k_circ.to(dtype), n=n)
    if D is not None:
        spec += D.to(dtype)[..., None]
    return spec


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
        spec = _spectrum_from_circ(_circular_kernel(k, length, n, bidirectional), D, n, dtype)
    if cache:
        refs = tuple(weakref.ref(o, lambda _ref, key=key: _SPECTRUM_CACHE.pop(key, None)) for o in owners)
        _SPECTRUM_CACHE[key] = (refs, versions, spec)
        while len(_SPECTRUM_CACHE) > _SPECTRUM_CACHE_SIZE:
            _SPECTRUM_CACHE.popitem(last=False)
    return spec


def _kernel_block(k: Tensor, D: Optional[Tensor], s: slice, n: int, dtype: torch.dtype, is_spectrum: bool) -> Tensor:
    """Kernel spectrum plus ``D`` of the dims ``s``: a slice of a full spectrum, or the rfft of the circular kernel."""
    if is_spectrum:
        return k[:, s]
    return _spectrum_from_circ(k[:, s], None if D is None else D[:, s], n, dtype)


# Blocked transforms. On CPUs about 2**20 complex values per block (8 MiB in complex64; blocks that stay in cache
# made the backward faster than one big batch), but never fewer than 16 rows (batch x channels x dims) when there
# are that many: MKL's batched FFTs ran 2-6x slower per row on one or two rows than on 16 or more. On GPUs blocks
# are 16x larger (128 MiB), so that the per-block launches stay negligible next to the transforms.
_BLOCK_ELEMENTS = 1 << 20
_BLOCK_ELEMENTS_GPU = 1 << 24
_BLOCK_MIN_ROWS = 16


def _dim_blocks(dim: int, rows_per_dim: int, spectrum_len: int, device: torch.device) -> list[slice]:
    """Slices of ``range(dim)`` for blocks of ``rows_per_dim`` spectra of ``spectrum_len`` values per dim."""
    budget = _BLOCK_ELEMENTS if device.type == "cpu" else _BLOCK_ELEMENTS_GPU
    step = max(-(-_BLOCK_MIN_ROWS // rows_per_dim), budget // (rows_per_dim * spectrum_len), 1)
    return [slice(i, min(i + step, dim)) for i in range(0, dim, step)]


class _FFTConv(torch.autograd.Function):
    """The FFT conv with a hand-written, blocked backward.

    ``D`` is folded into the kernel spectrum (a delta at lag 0 has a flat spectrum), so the skip costs no pass
    over the data in the forward nor in ``grad_u``; ``D`` itself is an input only for its gradient.

    Memory. Saved for the backward: the input ``u`` and the circular kernel ``k_circ`` -- not their spectra, which
    are twice as large (``n // 2 + 1`` complex values for ``length`` reals, ``n >= 2 * length - 1`` for a
    full-length kernel) -- plus the gate. ``u`` is usually a view of a tensor the caller keeps anyway (the layer
    input), so the op adds at most one kernel-sized tensor to what autograd holds. In training, forward and
    backward run over blocks of the ``dim`` axis of about ``_BLOCK_ELEMENTS`` spectrum values each, so the
    temporaries (spectra, products, full-length irfft buffers) are block-sized rather than activation-sized: a
    training step's extra memory is the outputs and gradients themselves. At batch 1 the kernel is as large as
    the activations and these temporaries used to set the peak.

    Work: forward two rffts (input, kernel) and one irfft; backward three rffts (output gradient, input and
    kernel recomputed) and two irffts -- ``grad_u`` is the correlation of the output gradient with the kernel,
    ``grad_k`` its correlation with the input summed over the batch, whose lag-0 value is ``grad_D``. When no
    kernel gradient is needed, the cached full spectrum ``kd_f`` is used (and saved) instead.
    """

    @staticmethod
    def forward(
        ctx, u: Tensor, k_circ: Tensor, kd_f: Optional[Tensor], D: Optional[Tensor], gate: Optional[Tensor], n: int
    ):
        B, H, L = u.shape
        cdt = _compute_dtype(u.dtype)
        k_src = k_circ if kd_f is None else kd_f  # what the blocks transform or slice, and what the backward keeps
        C = k_src.shape[0]
        training = any(ctx.needs_input_grad)
        # inference keeps nothing for a backward: one block, whose output is a view of the irfft buffer (no copy)
        blocks = _dim_blocks(H, B * C, n // 2 + 1, u.device) if training else [slice(None)]
        gate4 = None if gate is None else gate.view(B, C, H, L)
        # training: a contiguous output, so no (.., n) irfft buffer stays alive through later layers
        out = torch.empty(B, C, H, L, dtype=cdt, device=u.device) if training else None
        for s in blocks:
            spec = _kernel_block(k_src, D, s, n, cdt, is_spectrum=kd_f is not None)
            u_f = torch.fft.rfft(u[:, s].to(cdt), n=n)
            # u_f is not kept (the backward recomputes it): multiply in place when there is a single channel
            y_f = u_f.mul_(spec[0]).unsqueeze(1) if C == 1 else u_f.unsqueeze(1) * spec
            del u_f, spec
            y = torch.fft.irfft(y_f, n=n)[..., :L]
            del y_f
            if out is None:  # inference (one block): gated, or a strided view of the irfft output, no copy
                out = y if gate4 is None else y * gate4.to(cdt)
            elif gate4 is not None:
                torch.mul(y, gate4[:, :, s].to(cdt), out=out[:, :, s])
            else:
                out[:, :, s] = y
            del y
        if training:
            ctx.save_for_backward(u, k_src, D, gate)
            ctx.recompute_k, ctx.n, ctx.cdt = kd_f is None, n, cdt
        return out.view(B, -1, L).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        u, k_saved, D, gate = ctx.saved_tensors
        n, cdt, C = ctx.n, ctx.cdt, k_saved.shape[0]  # k_saved: circular kernel or spectrum, (channels, dim, ..)
        B, H, L = u.shape
        need_u, need_k, need_D, need_gate = (ctx.needs_input_grad[i] for i in (0, 1, 3, 4))
        need_D = need_D and D is not None
        need_gate = need_gate and gate is not None
        g_all = grad_out.reshape(B, C, H, L)
        gate4 = None if gate is None else gate.view(B, C, H, L)
        grad_u = torch.empty_like(u) if need_u else None
        grad_k = torch.empty_like(k_saved) if need_k else None
        grad_D = torch.empty_like(D) if need_D else None
        grad_gate = torch.empty_like(gate4) if need_gate else None

        for s in _dim_blocks(H, B * C, n // 2 + 1, u.device):
            # the block's input and kernel spectra, recomputed (see the class docstring)
            u_f = torch.fft.rfft(u[:, s].to(cdt), n=n) if (need_k or need_D or need_gate) else None
            kd_f = _kernel_block(k_saved, D, s, n, cdt, not ctx.recompute_k) if (need_u or need_gate) else None
            g = g_all[:, :, s].to(cdt)
            if gate4 is not None:
                if need_gate:  # the gate multiplies the convolution output: recompute it
                    grad_gate[:, :, s] = g * torch.fft.irfft(u_f.unsqueeze(1) * kd_f, n=n)[..., :L]
                g = g * gate4[:, :, s].to(cdt)
            g_f = torch.fft.rfft(g, n=n)
            del g
            if need_k or need_D:
                # correlation of the output gradient with the input, summed over the batch: the kernel's gradient
                # at every lag; D acts as a delta at lag 0, so its gradient is the lag-0 value
                if B == 1 and C == 1:
                    cross = torch.conj_physical_(u_f).mul_(g_f[:, 0])  # u_f is not needed after this
                else:
                    cross = (g_f * u_f.conj().unsqueeze(1)).sum(0)
                del u_f
                corr = torch.fft.irfft(cross, n=n)
                del cross
                if need_k:
                    grad_k[:, s] = corr[..., : k_saved.shape[-1]]
                if need_D:
                    grad_D[:, s] = corr[..., 0]
                del corr
            if need_u:
                prod = g_f.mul_(kd_f.conj())
                prod = prod.squeeze(1) if C == 1 else prod.sum(1)
                grad_u[:, s] = torch.fft.irfft(prod, n=n)[..., :L]
                del prod
            del g_f
        if grad_gate is not None:
            grad_gate = grad_gate.view(B, C * H, L)
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
    grad = torch.is_grad_enabled() and (k.requires_grad or (D is not None and D.requires_grad))
    if grad:
        # Training: the Function transforms the circular kernel block by block (gradients reach k through the
        # slice/flip/cat of the layout); nothing is cached, since the kernel changes every step.
        return _FFTConv.apply(u, _circular_kernel(k, L, n, bidirectional), None, D, gate, n)
    kd_f = kernel_spectrum(k, D, L, n, bidirectional, _compute_dtype(u.dtype))
    return _FFTConv.apply(u, k, kd_f, D, gate, n)
