"""Monarch FFT: the FFT as dense DFT-block matrix multiplies (FlashButterfly, REFERENCE §1), in pure PyTorch.

This is the readable reference for the Triton kernels in ``seqconv.ops.triton`` and a ``long_conv`` backend
("monarch") in its own right.

Algorithm (decimation in time, applied recursively). For ``N = N1 * M`` write the time index ``n = M*p + m``
(``p < N1``, ``m < M``) and the frequency index ``k = k1 + N1*km`` (``k1 < N1``, ``km < M``). Then::

    X[k1 + N1*km] = sum_m w_M^(m*km) * [ w_N^(m*k1) * sum_p w_N1^(p*k1) * x[M*p + m] ]

i.e. reshape ``x`` to ``(N1, M)``, multiply by the dense ``N1``-point DFT matrix from the left, multiply elementwise
by the twiddle factors ``T[k1, m] = exp(-2*pi*i*k1*m/N)`` and take ``M``-point DFTs of the rows (recursively, with
the next factor). The result comes out in the *Monarch-permuted* order: flat position ``k1*M + j`` holds frequency
``k1 + N1*perm_M[j]`` (see :func:`monarch_permutation`). A convolution never needs the natural order: the kernel
spectrum is stored in the same permuted order and the inverse transform consumes it directly (it undoes the steps in
reverse: row inverse DFTs, conjugate twiddles, ``conj(F_N1)`` from the left, scale by ``1/N``).

Order (number of factors) is chosen by ``N`` like FlashFFTConv: order 2 up to ``N = 2048``, order 3 above
(:func:`monarch_factors`); factors are powers of two as equal as possible, the largest first.

Real inputs. :func:`monarch_rfft` / :func:`monarch_irfft` pack a real length-``N`` signal as the complex length-``N/2``
signal ``x[0::2] + i*x[1::2]`` (one half-size complex FFT) and split the half spectrum out of it. The convolution
(:func:`monarch_conv`) uses the cheaper packing that needs no index gathers and is what the Triton kernel does:
two *batch rows* that share a kernel are packed as real and imaginary part, ``z = u[2j] + i*u[2j+1]``. Because the
kernel is real, ``conv(z, k) = conv(u[2j], k) + i*conv(u[2j+1], k)``, so one complex FFT conv yields two real convs
(an odd batch is padded with one zero row).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Optional

import torch
from torch import Tensor

from .fftconv import _circular_kernel

__all__ = [
    "MIN_CONV_N",
    "monarch_factors",
    "monarch_permutation",
    "monarch_fft",
    "monarch_ifft",
    "monarch_rfft",
    "monarch_irfft",
    "conv_fft_size",
    "padded_kernel",
    "monarch_conv",
    "monarch_supports",
    "skip_rows",
]

#: smallest FFT size the convolution pads to (keeps every DFT block at least 4x4)
MIN_CONV_N = 16


def _check_pow2(n: int, name: str = "n") -> int:
    if not isinstance(n, int) or n < 1 or n & (n - 1):
        raise ValueError(f"{name} must be a power of two >= 1 for the Monarch FFT, got {n!r}; zero-pad the signal.")
    return n.bit_length() - 1


def monarch_factors(n: int, order: Optional[int] = None) -> tuple[int, ...]:
    """Split ``n`` (a power of two) into ``order`` power-of-two factors, as equal as possible, largest first.

    ``order=None`` picks 2 for ``n <= 2048`` and 3 above (FlashFFTConv's choice). The order is capped at
    ``log2(n)`` so no factor is 1 (``n = 1`` gives ``(1,)``).
    """
    bits = _check_pow2(n)
    if order is None:
        order = 2 if n <= 2048 else 3
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be a positive int, got {order!r}")
    order = max(1, min(order, bits))
    base, extra = divmod(bits, order)
    return tuple(2 ** (base + (1 if i < extra else 0)) for i in range(order))


@cache
def _perm_list(factors: tuple[int, ...]) -> tuple[int, ...]:
    if len(factors) == 1:
        return tuple(range(factors[0]))
    n1 = factors[0]
    inner = _perm_list(factors[1:])
    return tuple(k1 + n1 * j for k1 in range(n1) for j in inner)


def monarch_permutation(n: int, order: Optional[int] = None, device: Optional[torch.device] = None) -> Tensor:
    """Index tensor ``perm`` (length ``n``) with ``X_monarch = X_natural[..., perm]``."""
    return torch.tensor(_perm_list(monarch_factors(n, order)), dtype=torch.long, device=device)


@lru_cache(maxsize=64)
def _dft(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Dense ``n``-point DFT matrix ``F[j, k] = exp(-2*pi*i*j*k/n)`` (symmetric), computed in float64."""
    jk = (torch.arange(n, dtype=torch.long)[:, None] * torch.arange(n, dtype=torch.long)[None, :]) % n
    ang = (-2.0 * math.pi / n) * jk.to(torch.float64)
    return torch.polar(torch.ones_like(ang), ang).to(dtype=dtype, device=device)


@lru_cache(maxsize=64)
def _twiddle(n1: int, m: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Twiddle factors ``T[k1, m] = exp(-2*pi*i*k1*m/(n1*m))``, shape ``(n1, m)``, computed in float64."""
    n = n1 * m
    km = (torch.arange(n1, dtype=torch.long)[:, None] * torch.arange(m, dtype=torch.long)[None, :]) % n
    ang = (-2.0 * math.pi / n) * km.to(torch.float64)
    return torch.polar(torch.ones_like(ang), ang).to(dtype=dtype, device=device)


def _fft_perm(x: Tensor, factors: Sequence[int]) -> Tensor:
    """Unnormalised forward DFT over the last dim of complex ``x``; output in Monarch-permuted order."""
    n = x.shape[-1]
    if len(factors) == 1:
        return x @ _dft(n, x.dtype, x.device)
    n1, m = factors[0], n // factors[0]
    y = x.reshape(*x.shape[:-1], n1, m)
    y = _dft(n1, x.dtype, x.device) @ y  # n1-point DFTs of the columns
    y = y * _twiddle(n1, m, x.dtype, x.device)
    y = _fft_perm(y, factors[1:])  # m-point DFTs of the rows
    return y.reshape(x.shape)


def _ifft_perm(x: Tensor, factors: Sequence[int]) -> Tensor:
    """Unnormalised inverse DFT (no 1/n) of a Monarch-permuted spectrum; output in natural time order."""
    n = x.shape[-1]
    if len(factors) == 1:
        return x @ _dft(n, x.dtype, x.device).conj()
    n1, m = factors[0], n // factors[0]
    y = x.reshape(*x.shape[:-1], n1, m)
    y = _ifft_perm(y, factors[1:])
    y = y * _twiddle(n1, m, x.dtype, x.device).conj()
    y = _dft(n1, x.dtype, x.device).conj() @ y
    return y.reshape(x.shape)


def _as_complex(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex():
        return x
    if x.dtype == torch.float64:
        return x.to(torch.complex128)
    if x.is_floating_point():
        return x.to(torch.float32).to(torch.complex64)
    raise TypeError(f"{name} must be a floating or complex tensor, got dtype {x.dtype}")


def monarch_fft(x: Tensor, order: Optional[int] = None, natural: bool = True) -> Tensor:
    """DFT over the last dim, ``(..., n) -> (..., n)`` complex, ``n`` a power of two; equals ``torch.fft.fft``.

    Real input is promoted to complex (fp16/bf16/fp32 -> complex64, fp64 -> complex128). ``natural=False`` returns the
    Monarch-permuted order (cheaper: no gather).
    """
    x = _as_complex(x, "x")
    n = x.shape[-1]
    factors = monarch_factors(n, order)
    y = _fft_perm(x, factors)
    if natural:
        y = y[..., _inverse_perm(factors, x.device)]
    return y


def monarch_ifft(x: Tensor, order: Optional[int] = None, natural: bool = True) -> Tensor:
    """Inverse DFT over the last dim (normalised by 1/n); equals ``torch.fft.ifft``.

    ``natural=True``: ``x`` is in natural frequency order; ``natural=False``: ``x`` is in Monarch-permuted order
    (as returned by ``monarch_fft(..., natural=False)`` with the same ``order``). Output is in natural time order.
    """
    x = _as_complex(x, "x")
    n = x.shape[-1]
    factors = monarch_factors(n, order)
    if natural:
        x = x[..., torch.tensor(_perm_list(factors), dtype=torch.long, device=x.device)]
    return _ifft_perm(x, factors) / n


@lru_cache(maxsize=64)
def _inverse_perm_cpu(factors: tuple[int, ...]) -> Tensor:
    perm = torch.tensor(_perm_list(factors), dtype=torch.long)
    return torch.argsort(perm)


def _inverse_perm(factors: tuple[int, ...], device: torch.device) -> Tensor:
    return _inverse_perm_cpu(tuple(factors)).to(device)


def _half_twiddle(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    k = torch.arange(n // 2 + 1, dtype=torch.float64)
    ang = (-2.0 * math.pi / n) * k
    return torch.polar(torch.ones_like(ang), ang).to(dtype=dtype, device=device)


def monarch_rfft(x: Tensor, order: Optional[int] = None) -> Tensor:
    """Real-input DFT, ``(..., n)`` real -> ``(..., n//2 + 1)`` complex; equals ``torch.fft.rfft``.

    Packs ``x[0::2] + i*x[1::2]`` into one complex Monarch FFT of size ``n/2`` (order chosen for ``n/2``) and splits
    even/odd spectra: ``X[k] = E[k] + w_n^k O[k]``, ``E = (Z[k] + conj Z[-k])/2``, ``O = (Z[k] - conj Z[-k])/(2i)``.
    ``n`` must be a power of two >= 2.
    """
    if not isinstance(x, Tensor) or x.is_complex() or not x.is_floating_point():
        raise TypeError(f"x must be a real floating tensor, got {getattr(x, 'dtype', type(x))}")
    n = x.shape[-1]
    bits = _check_pow2(n, "x.shape[-1]")
    if bits < 1:
        raise ValueError(f"x.shape[-1] must be >= 2 for monarch_rfft, got {n}")
    z = _as_complex(x[..., 0::2], "x") + 1j * _as_complex(x[..., 1::2], "x")
    zf = monarch_fft(z, order)  # (..., n/2), natural order
    h = n // 2
    idx = torch.arange(h + 1, device=x.device)
    zk = zf[..., idx % h]
    zc = zf[..., (h - idx) % h].conj()
    even = 0.5 * (zk + zc)
    odd = -0.5j * (zk - zc)
    return even + _half_twiddle(n, zf.dtype, x.device) * odd


def monarch_irfft(x: Tensor, n: int, order: Optional[int] = None) -> Tensor:
    """Inverse of :func:`monarch_rfft`: ``(..., n//2 + 1)`` complex half spectrum -> ``(..., n)`` real.

    Equals ``torch.fft.irfft(x, n)`` (the imaginary parts of the DC and Nyquist bins are ignored, as there).
    """
    x = _as_complex(x, "x")
    bits = _check_pow2(n, "n")
    if bits < 1 or x.shape[-1] != n // 2 + 1:
        raise ValueError(
            f"monarch_irfft needs x.shape[-1] == n//2 + 1 with n a power of two >= 2; got "
            f"x.shape[-1]={x.shape[-1]}, n={n}"
        )
    h = n // 2
    # DC and Nyquist of a real signal are real: drop their imaginary parts like torch.fft.irfft does
    x = torch.cat([x[..., :1].real.to(x.dtype), x[..., 1:h], x[..., h:].real.to(x.dtype)], dim=-1)
    k = torch.arange(h, device=x.device)
    xk = x[..., :h]
    xc = x[..., h - k].conj()
    even = 0.5 * (xk + xc)
    odd = 0.5 * (xk - xc) * _half_twiddle(n, x.dtype, x.device)[:h].conj()
    z = monarch_ifft(even + 1j * odd, order)  # (..., n/2) = x[0::2] + i x[1::2]
    return torch.stack([z.real, z.imag], dim=-1).reshape(*z.shape[:-1], n)


# ----------------------------------------------------------------------------------------------------------------
# convolution
# ----------------------------------------------------------------------------------------------------------------


def conv_fft_size(length: int, klen: int, bidirectional: bool, min_n: int = MIN_CONV_N) -> int:
    """Smallest power-of-two FFT size ``n >= min_n`` that makes the circular conv equal the linear one.

    The kernel is truncated to ``length`` taps per side (longer taps never touch an output). Causal needs
    ``n >= length + klen - 1``; bidirectional (``klen`` positive lags 0.. and ``klen`` negative lags -1..) needs
    ``n >= length + klen`` (no wrap of either side onto outputs ``0..length-1``, no overlap of the two halves).
    """
    if length < 1 or klen < 1:
        raise ValueError(f"length and klen must be >= 1, got length={length}, klen={klen}")
    kl = min(klen, length)
    need = length + kl if bidirectional else length + kl - 1
    n = max(min_n, 1)
    while n < need:
        n *= 2
    return n


def padded_kernel(k: Tensor, length: int, n: int, bidirectional: bool) -> Tensor:
    """Length-``n`` circular kernel rows, ``(channels*dim, n)`` real, differentiable in ``k``.

    k: causal ``(channels, dim, klen)``; bidirectional ``(channels, 2, dim, klen)`` with ``[:, 0]`` = lags 0,1,..
    and ``[:, 1]`` = lags -1,-2,.. (placed at ``n-1, n-2, ..``: ``[k0, 0..., flip(k1)]``). Row order is channel-major
    (``c*dim + h``). Taps beyond ``length`` are dropped.
    """
    klen = min(k.shape[-1], length)
    if bidirectional and n < 2 * klen:
        raise ValueError(f"FFT size n={n} too small for a bidirectional kernel of {klen} taps per side")
    k_circ = _circular_kernel(k, length, n, bidirectional)  # the same layout the FFT backend uses
    return torch.nn.functional.pad(k_circ, (0, n - k_circ.shape[-1])).reshape(-1, n)


def _check_backend_args(
    u: Tensor, k: Tensor, D: Optional[Tensor], bidirectional: bool, gate: Optional[Tensor]
) -> tuple[int, int, int, int]:
    """Validate backend-layout arguments; returns (batch, dim, length, channels)."""
    if not isinstance(u, Tensor) or u.dim() != 3 or not u.is_floating_point():
        raise ValueError(
            f"u must be a floating tensor of shape (batch, dim, length), got "
            f"{getattr(u, 'shape', type(u))} {getattr(u, 'dtype', '')}"
        )
    b, h, length = u.shape
    want = 4 if bidirectional else 3
    if not isinstance(k, Tensor) or k.dim() != want:
        raise ValueError(
            f"k must have shape {'(channels, 2, dim, klen)' if bidirectional else '(channels, dim, klen)'}"
            f" for bidirectional={bidirectional}, got {getattr(k, 'shape', type(k))}"
        )
    if bidirectional and k.shape[1] != 2:
        raise ValueError(f"bidirectional k must have size 2 at dim 1 (k0, k1), got shape {tuple(k.shape)}")
    if k.shape[-2] != h:
        raise ValueError(f"k has dim {k.shape[-2]} but u has dim {h} (shape {tuple(u.shape)}); they must match")
    c = k.shape[0]
    if D is not None and tuple(D.shape) not in ((h,), (c, h)):
        raise ValueError(f"D must have shape ({h},) or ({c}, {h}), got {tuple(D.shape)}")
    if gate is not None and tuple(gate.shape) != (b, c * h, length):
        raise ValueError(
            f"gate must have the output shape (batch, channels*dim, length) = {(b, c * h, length)}, "
            f"got {tuple(gate.shape)}"
        )
    return b, h, length, c


def skip_rows(D: Optional[Tensor], channels: int, dim: int) -> Optional[Tensor]:
    """D of shape (dim,) or (channels, dim) -> (channels*dim,) (broadcast over channels)."""
    if D is None:
        return None
    return D.expand(channels, dim).reshape(channels * dim) if D.dim() == 1 else D.reshape(channels * dim)


def monarch_conv(
    u: Tensor,
    k: Tensor,
    D: Optional[Tensor] = None,
    bidirectional: bool = False,
    gate: Optional[Tensor] = None,
    order: Optional[int] = None,
) -> Tensor:
    """Long convolution via the Monarch FFT (the "monarch" ``long_conv`` backend), differentiable by autograd.

    Args:
        u: (batch, dim, length) input.
        k: causal (channels, dim, klen); bidirectional (channels, 2, dim, klen) (see :func:`padded_kernel`).
        D: optional skip, (dim,) or (channels, dim).
        bidirectional: non-causal kernel (lags -klen..klen-1).
        gate: optional (batch, channels*dim, length); ``y = gate * (conv(u) + D*u)``.
        order: Monarch order (None: by FFT size, see :func:`monarch_factors`).

    Returns:
        (batch, channels*dim, length) in ``u.dtype``; computed in complex64 (complex128 for float64 input).
    """
    b, h, length, c = _check_backend_args(u, k, D, bidirectional, gate)
    n = conv_fft_size(length, k.shape[-1], bidirectional)
    factors = monarch_factors(n, order)
    cdt = torch.complex128 if u.dtype == torch.float64 else torch.complex64
    rdt = torch.float64 if u.dtype == torch.float64 else torch.float32

    kf = padded_kernel(k.to(rdt), length, n, bidirectional)  # (c*h, n)
    kspec = _fft_perm(kf.to(cdt), factors)  # (c*h, n), Monarch-permuted order

    uf = u.to(rdt)
    if b % 2:
        uf = torch.cat([uf, uf.new_zeros(1, h, length)], dim=0)
    uf = torch.nn.functional.pad(uf, (0, n - length))
    z = torch.complex(uf[0::2], uf[1::2])  # (b/2, h, n): two batch rows per complex row
    zs = _fft_perm(z, factors)  # (b/2, h, n)
    ys = zs.unsqueeze(1) * kspec.view(c, h, n)  # (b/2, c, h, n)
    yz = _ifft_perm(ys, factors)[..., :length] / n  # (b/2, c, h, L)
    y = torch.stack([yz.real, yz.imag], dim=1).reshape(-1, c * h, length)[:b]  # (b, c*h, L), batch order kept
    d = skip_rows(D, c, h)
    if d is not None:
        y = y + d.to(rdt)[:, None] * u.to(rdt).repeat(1, c, 1)
    if gate is not None:
        y = y * gate.to(rdt)
    return y.to(u.dtype)


def monarch_supports(u: Tensor, k: Tensor, bidirectional: bool) -> Optional[str]:
    """The PyTorch Monarch backend runs on every device, dtype and length (it zero-pads to a power of two)."""
    return None


def register() -> bool:
    """Register "monarch" with ``seqconv.ops.long_conv``; returns False if that module does not exist (yet)."""
    try:
        _lc = importlib.import_module("seqconv.ops.long_conv")
    except ModuleNotFoundError as err:  # long_conv not present: nothing to register with
        if err.name not in ("seqconv.ops.long_conv", "seqconv.ops"):
            raise
        return False
    _lc.register_backend("monarch", monarch_conv, monarch_supports)
    return True


register()
