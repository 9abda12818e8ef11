"""Long convolution kernel: an explicit, regularized (squashed / smoothed) kernel parameter.

Reference: REFERENCE.md §2 (Fu et al., "Simple Hardware-Efficient Long Convolutions for Sequence Modeling").
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ._base import KernelBase, set_optim_hint

__all__ = ["LongConvKernel", "squash", "smooth_moving_average", "smooth_gaussian_freq"]

_SMOOTHING = ("none", "moving_average", "gaussian")


def squash(k: Tensor, lam: float) -> Tensor:
    """Soft threshold ``sign(k) * relu(|k| - lam)`` (elementwise, any shape)."""
    return torch.sign(k) * F.relu(k.abs() - lam)


def smooth_moving_average(k: Tensor, window: int = 7) -> Tensor:
    """Centered moving average over the last axis (zero padded at the edges, ``count_include_pad``).

    k: (..., L) -> (..., L). ``window`` must be odd.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smooth_moving_average: window must be a positive odd int, got {window}")
    shape = k.shape
    x = k.reshape(-1, 1, shape[-1])
    x = F.avg_pool1d(x, kernel_size=window, stride=1, padding=window // 2, count_include_pad=True)
    return x.reshape(shape)


def smooth_gaussian_freq(k: Tensor, window: int = 7, sigma: float = 1.0) -> Tensor:
    """Smooth the spectrum: rfft over time, convolve the complex spectrum along frequency with a normalized
    Gaussian of ``window`` taps (std ``sigma`` bins, zero padded at the band edges), irfft back.

    Smoothing the spectrum tapers the kernel in time (a multiplication by the Gaussian's transform).
    The published code uses unnormalized taps ``exp(-0.5 d^2)``; we normalize them to sum 1 so the
    operation does not rescale the kernel (a documented choice). k: (..., L) -> (..., L), real.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smooth_gaussian_freq: window must be a positive odd int, got {window}")
    L = k.shape[-1]
    shape = k.shape
    d = torch.arange(window, device=k.device, dtype=k.dtype) - window // 2
    taps = torch.exp(-0.5 * (d / sigma) ** 2)
    taps = (taps / taps.sum()).view(1, 1, -1)
    spec = torch.fft.rfft(k.reshape(-1, 1, L), dim=-1)
    re = F.conv1d(spec.real, taps, padding=window // 2)
    im = F.conv1d(spec.imag, taps, padding=window // 2)
    return torch.fft.irfft(torch.complex(re, im), n=L, dim=-1).reshape(shape)


class LongConvKernel(KernelBase):
    """Explicit long-convolution kernel with squash, optional smoothing and kernel dropout.

    Parameter ``kernel``: ``(channels, H, l_max)`` (causal) or ``(channels, H, 2*l_max)`` (bidirectional: the
    first ``l_max`` taps are lags 0, 1, ..., the last ``l_max`` taps lags -1, -2, ...), init ``randn * 0.002``.
    Computed kernel: smoothing (per half) -> ``squash(., lam)`` -> dropout (training only) -> cut / zero-pad to L.

    Args:
        d_model: features H. l_max: kernel length per direction. channels: kernels per feature.
        bidirectional: return ``(C, 2, H, L)``.
        lam: squash threshold (0.001-0.004 in the LRA recipes; 0 disables).
        smoothing: ``"none"`` | ``"moving_average"`` (``smooth_window`` taps, default 7) | ``"gaussian"``
            (Gaussian of ``smooth_window`` taps over frequency, see :func:`smooth_gaussian_freq`).
        kernel_dropout: dropout probability on the kernel taps (training mode only).
        init_std: init scale (0.002).
        lr, weight_decay: ``_optim`` hint for the kernel (lr 1e-4..1e-3, default 1e-3; weight decay 0).
    """

    def __init__(
        self,
        d_model: int,
        l_max: int,
        channels: int = 1,
        bidirectional: bool = False,
        lam: float = 0.002,
        smoothing: str = "none",
        smooth_window: int = 7,
        kernel_dropout: float = 0.0,
        init_std: float = 0.002,
        lr: Optional[float] = 1e-3,
        weight_decay: Optional[float] = 0.0,
    ) -> None:
        super().__init__(d_model, l_max, channels, bidirectional)
        if smoothing not in _SMOOTHING:
            raise ValueError(f"LongConvKernel: smoothing must be one of {_SMOOTHING}, got {smoothing!r}")
        if not isinstance(smooth_window, int) or smooth_window < 1 or smooth_window % 2 == 0:
            raise ValueError(f"LongConvKernel: smooth_window must be a positive odd int, got {smooth_window!r}")
        if not (0.0 <= kernel_dropout < 1.0):
            raise ValueError(f"LongConvKernel: kernel_dropout must be in [0, 1), got {kernel_dropout}")
        if lam < 0 or not math.isfinite(lam):
            raise ValueError(f"LongConvKernel: lam (squash threshold) must be finite and >= 0, got {lam}")
        self.lam = float(lam)
        self.smoothing = smoothing
        self.smooth_window = smooth_window
        n = l_max * (2 if bidirectional else 1)
        self.kernel = set_optim_hint(nn.Parameter(torch.randn(channels, d_model, n) * init_std), lr, weight_decay)
        self.drop = nn.Dropout(kernel_dropout)

    def _compute(self, L: int) -> Tensor:
        k = self.kernel
        if self.bidirectional:
            k = rearrange(k, "c h (s l) -> c s h l", s=2)
        if self.smoothing == "moving_average":
            k = smooth_moving_average(k, self.smooth_window)
        elif self.smoothing == "gaussian":
            k = smooth_gaussian_freq(k, self.smooth_window)
        k = squash(k, self.lam)
        k = self.drop(k)
        if k.shape[-1] >= L:
            return k[..., :L]
        return F.pad(k, (0, L - k.shape[-1]))

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, lam={self.lam}, smoothing={self.smoothing!r}, "
            f"kernel_dropout={self.drop.p}"
        )
