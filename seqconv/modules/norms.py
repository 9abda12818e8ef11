"""Normalization layers for (batch, length, dim) sequences, selectable by name.

Every norm returned by :func:`build_norm` has the signature ``forward(x, mask=None)`` with
``x: (batch, length, dim)`` and ``mask: (batch, length)`` bool (True = real token), so a backbone
can call all of them the same way. Only :class:`SequenceBatchNorm` uses the mask (to keep padding
out of its batch statistics); LayerNorm and RMSNorm are per position and ignore it.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

NORM_NAMES = ("layernorm", "batchnorm", "rmsnorm", "none")


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` over the last dim that accepts (and ignores) a padding mask."""

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:  # noqa: D102
        return super().forward(x)


class RMSNorm(nn.Module):
    """Root-mean-square norm over the last dim: ``x / sqrt(mean(x^2) + eps) * weight``.

    Computed in fp32 (cast back to the input dtype) so bf16 inputs do not lose the mean of squares.
    """

    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """x: (batch, length, dim) -> (batch, length, dim)."""
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.to(xf.dtype)).to(x.dtype)


class SequenceBatchNorm(nn.Module):
    """BatchNorm over the feature dim of a (batch, length, dim) tensor, with optional masked statistics.

    Statistics are taken over batch and length (as ``nn.BatchNorm1d`` on (batch, dim, length)). With
    ``masked_stats=True`` and a mask, only real positions enter the mean/variance, so the amount of
    padding in a batch does not shift the normalization. Running statistics use the unbiased variance,
    like PyTorch. Without a mask the result equals ``nn.BatchNorm1d`` (tested). Statistics are
    computed in fp32 (fp64 for fp64 inputs).

    Note: in training mode batch statistics mix information across positions and sequences, so a
    model with BatchNorm is only causal in eval mode (the same holds for any BatchNorm model).
    """

    def __init__(self, d_model: int, eps: float = 1e-5, momentum: float = 0.1, masked_stats: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.masked_stats = masked_stats
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.register_buffer("running_mean", torch.zeros(d_model))
        self.register_buffer("running_var", torch.ones(d_model))

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """x: (batch, length, dim), mask: (batch, length) bool or None -> (batch, length, dim)."""
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        if self.training:
            if mask is not None and self.masked_stats:
                w = mask.to(xf.dtype).unsqueeze(-1)  # (batch, length, 1)
            else:
                w = torch.ones_like(xf[..., :1])
            n = w.sum().clamp_min(1.0)
            mean = (xf * w).sum(dim=(0, 1)) / n
            var = ((xf - mean).pow(2) * w).sum(dim=(0, 1)) / n
            with torch.no_grad():
                unbiased = var * n / (n - 1).clamp_min(1.0)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(unbiased.detach().to(self.running_var.dtype), self.momentum)
        else:
            mean, var = self.running_mean.to(xf.dtype), self.running_var.to(xf.dtype)
        y = (xf - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return y.to(x.dtype)


class Identity(nn.Module):
    """No normalization (``norm="none"``)."""

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:  # noqa: D102
        return x


def build_norm(name: str, d_model: int, **kwargs) -> nn.Module:
    """Build a norm by name: "layernorm", "batchnorm", "rmsnorm" or "none".

    Returns a module with ``forward(x: (batch, length, dim), mask=None) -> (batch, length, dim)``.
    """
    key = name.lower().replace("_", "").replace("-", "") if isinstance(name, str) else name
    if key == "layernorm":
        return LayerNorm(d_model, **kwargs)
    if key == "batchnorm":
        return SequenceBatchNorm(d_model, **kwargs)
    if key == "rmsnorm":
        return RMSNorm(d_model, **kwargs)
    if key in ("none", "identity"):
        return Identity()
    raise ValueError(f"norm={name!r} is not a known norm; use one of {list(NORM_NAMES)}")
