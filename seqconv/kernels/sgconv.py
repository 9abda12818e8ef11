"""SGConv (Structured Global Convolution) kernel: multi-scale sub-kernels, upsampled, decayed, concatenated.

Reference: REFERENCE.md §2 (Li et al., "What Makes Convolutional Models Great on Long Sequence Modeling?").
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ._base import KernelBase, set_optim_hint

__all__ = ["SGConvKernel", "sgconv_num_scales"]

_MODES = ("cat", "learnable", "learnable-fixed")
_INITS = ("randn", "cos")
_INTERP = ("linear", "nearest")


def sgconv_num_scales(l_max: int, kernel_dim: int, init_scale: int = 0) -> int:
    """Number of sub-kernels: ``1 + ceil(log2(l_max / kernel_dim)) - init_scale`` (REFERENCE §2)."""
    if kernel_dim > l_max:
        raise ValueError(
            f"SGConvKernel: kernel_dim={kernel_dim} is larger than l_max={l_max}; use kernel_dim <= l_max "
            f"(e.g. kernel_dim={max(1, 2 ** int(math.floor(math.log2(l_max))))}) or raise l_max"
        )
    n = 1 + math.ceil(math.log2(l_max / kernel_dim)) - init_scale
    if n < 1:
        raise ValueError(
            f"SGConvKernel: init_scale={init_scale} leaves {n} scales for l_max={l_max}, kernel_dim={kernel_dim}; "
            f"use init_scale <= {math.ceil(math.log2(l_max / kernel_dim))}"
        )
    return n


class SGConvKernel(KernelBase):
    """SGConv kernel, the published parameterization.

    Per (channel c, feature h): ``n_scales`` sub-kernels ``w_i`` of length ``kernel_dim``. Sub-kernel ``i`` is
    upsampled by ``2**(max(0, i-1) + init_scale)`` (``F.interpolate``, linear with ``align_corners=False`` or
    nearest), multiplied by ``m_h**(n_scales - i - 1)`` with ``m_h = linspace(decay_min, decay_max, H)[h]``,
    concatenated along time (total length ``kernel_dim * 2**(n_scales - 1 + init_scale) >= l_max``), cut (or
    zero-padded) to ``L`` and divided by a per-(channel, feature) L2 norm.

    Normalization: the L2 norm over time of the full concatenated kernel (length ``>= l_max``, before the cut
    to ``L``) computed once from the initial weights in ``__init__`` and stored as buffer ``kernel_norm``
    (the published code computes it lazily at the first forward from the same, still-initial, weights).

    Modes:
      * ``"cat"``: multiplicative decay ``m_h`` per scale (``decay_min = decay_max = 2`` gives a fixed 1/2 per
        scale towards later scales).
      * ``"learnable"``: multipliers are 1; a per-feature parameter ``decay`` (init ``U[decay_min, decay_max]``)
        gives the envelope ``(t + 1) ** (-decay)``, applied before normalization.
      * ``"learnable-fixed"``: same as ``"learnable"`` with ``decay`` frozen (``requires_grad=False``).

    Init ``"randn"``: i.i.d. standard normal. ``"cos"`` (Path-X): feature ``j`` holds
    ``cos(linspace(0, 2*pi*j, kernel_dim))`` for every scale and channel, then the features are permuted by one
    random permutation per scale.

    Bidirectional: the channels are doubled internally (``2*channels`` sub-kernel sets); the first ``channels``
    are the causal halves (lags 0, 1, ...), the second the anti-causal halves (lags -1, -2, ...).

    Args:
        d_model: number of features H.
        l_max: maximum sequence length the scales must cover.
        channels: kernels per feature C.
        bidirectional: return ``(C, 2, H, L)`` instead of ``(C, H, L)``.
        kernel_dim: sub-kernel length d.
        init_scale: scale offset (Path-X uses 1).
        n_scales: override the number of scales (default from :func:`sgconv_num_scales`).
        init: ``"randn"`` or ``"cos"``.
        mode: ``"cat"``, ``"learnable"`` or ``"learnable-fixed"``.
        decay_min, decay_max: multiplier range (``"cat"``) or decay exponent range (learnable modes).
        interpolate: ``"linear"`` or ``"nearest"``.
        lr, weight_decay: optimizer hints for the kernel parameters (``_optim``).

    Output: ``forward(L)`` -> ``(channels, H, L)`` or ``(channels, 2, H, L)``.
    """

    def __init__(
        self,
        d_model: int,
        l_max: int,
        channels: int = 1,
        bidirectional: bool = False,
        kernel_dim: int = 64,
        init_scale: int = 0,
        n_scales: Optional[int] = None,
        init: str = "randn",
        mode: str = "cat",
        decay_min: float = 2.0,
        decay_max: float = 2.0,
        interpolate: str = "linear",
        lr: Optional[float] = 1e-3,
        weight_decay: Optional[float] = 0.0,
    ) -> None:
        super().__init__(d_model, l_max, channels, bidirectional)
        if not isinstance(kernel_dim, int) or kernel_dim < 1:
            raise ValueError(f"SGConvKernel: kernel_dim must be a positive int, got {kernel_dim!r}")
        if not isinstance(init_scale, int) or init_scale < 0:
            raise ValueError(f"SGConvKernel: init_scale must be an int >= 0, got {init_scale!r}")
        if mode not in _MODES:
            raise ValueError(f"SGConvKernel: mode must be one of {_MODES}, got {mode!r}")
        if init not in _INITS:
            raise ValueError(f"SGConvKernel: init must be one of {_INITS}, got {init!r}")
        if interpolate not in _INTERP:
            raise ValueError(f"SGConvKernel: interpolate must be one of {_INTERP}, got {interpolate!r}")
        if decay_min > decay_max:
            raise ValueError(f"SGConvKernel: decay_min={decay_min} > decay_max={decay_max}; swap them")
        default_scales = sgconv_num_scales(l_max, kernel_dim, init_scale)
        if n_scales is None:
            n_scales = default_scales
        elif not isinstance(n_scales, int) or n_scales < 1:
            raise ValueError(f"SGConvKernel: n_scales must be a positive int or None, got {n_scales!r}")
        self.kernel_dim = kernel_dim
        self.init_scale = init_scale
        self.n_scales = n_scales
        self.init = init
        self.mode = mode
        self.interpolate = interpolate
        self.decay_min = float(decay_min)
        self.decay_max = float(decay_max)
        c_int = channels * (2 if bidirectional else 1)
        self.kernel_list = nn.ParameterList()
        for _ in range(n_scales):
            if init == "randn":
                w = torch.randn(c_int, d_model, kernel_dim)
            else:
                grid = torch.linspace(0.0, 1.0, kernel_dim)
                rows = torch.stack([torch.cos(2 * math.pi * j * grid) for j in range(d_model)])  # (H, d)
                w = rows[torch.randperm(d_model)].unsqueeze(0).expand(c_int, d_model, kernel_dim).clone()
            self.kernel_list.append(set_optim_hint(nn.Parameter(w), lr, weight_decay))
        if mode == "cat":
            self.decay = None
            self.register_buffer("multiplier", torch.linspace(decay_min, decay_max, d_model).view(1, -1, 1))
        else:
            decay = torch.rand(d_model) * (decay_max - decay_min) + decay_min
            self.decay = nn.Parameter(decay, requires_grad=(mode == "learnable"))
            if mode == "learnable":
                set_optim_hint(self.decay, lr, weight_decay)
            self.register_buffer("multiplier", torch.ones(1, 1, 1))
        self.full_len = kernel_dim * 2 ** (n_scales - 1 + init_scale)
        self.register_buffer("kernel_norm", torch.ones(c_int, d_model, 1))
        with torch.no_grad():
            self.kernel_norm.copy_(self._unnormalized().norm(dim=-1, keepdim=True).clamp_min(1e-12))

    def _unnormalized(self, scale: Optional[Tensor] = None) -> Tensor:
        """Concatenated multi-scale kernel before normalization: ``(C_int, H, full_len)``.

        ``scale`` (``(C_int, H, 1)``) multiplies every piece together with its decay multiplier, so the fixed
        normalization costs no extra pass over the full-length kernel.
        """
        pieces = []
        for i, w in enumerate(self.kernel_list):
            factor = 2 ** (max(0, i - 1) + self.init_scale)
            if factor > 1:
                if self.interpolate == "linear":
                    w = F.interpolate(w, scale_factor=factor, mode="linear", align_corners=False)
                else:
                    w = F.interpolate(w, scale_factor=factor, mode="nearest")
            decay = self.multiplier ** (self.n_scales - i - 1)
            pieces.append(w * (decay if scale is None else decay * scale))
        k = torch.cat(pieces, dim=-1)
        if self.decay is not None:
            t = torch.arange(k.shape[-1], device=k.device, dtype=k.dtype)
            k = k * torch.exp(-self.decay.view(1, -1, 1) * torch.log1p(t))
        return k

    def _compute(self, L: int) -> Tensor:
        k = self._unnormalized(scale=1.0 / self.kernel_norm)
        if k.shape[-1] >= L:
            k = k[..., :L]
        else:
            k = F.pad(k, (0, L - k.shape[-1]))
        if self.bidirectional:
            k = rearrange(k, "(s c) h l -> c s h l", s=2)
        return k

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, kernel_dim={self.kernel_dim}, n_scales={self.n_scales}, "
            f"init_scale={self.init_scale}, mode={self.mode!r}, init={self.init!r}, interpolate={self.interpolate!r}"
        )
