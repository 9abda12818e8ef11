"""Masked pooling of (batch, length, dim) sequences to (batch, dim).

Modes: "mean" (over real positions), "last" (last real position, works for left or right padding),
"first" (first real position), "max" (over real positions), "sum" (over real positions).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

POOLING_MODES = ("mean", "last", "first", "max", "sum")


def _check_mask(x: Tensor, mask: Optional[Tensor]) -> Tensor:
    if x.dim() != 3:
        raise ValueError(f"pool expects x of shape (batch, length, dim), got shape {tuple(x.shape)}")
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape (batch, length)={tuple(x.shape[:2])}, got {tuple(mask.shape)}")
    mask = mask.bool()
    if not bool(mask.any(dim=1).all()):
        raise ValueError("mask has a sequence with no real positions (all False); cannot pool it")
    return mask


def pool(x: Tensor, mask: Optional[Tensor] = None, mode: str = "mean") -> Tensor:
    """Pool x: (batch, length, dim) with mask: (batch, length) bool (True = real) -> (batch, dim)."""
    if mode not in POOLING_MODES:
        raise ValueError(f"pooling mode={mode!r} is not known; use one of {list(POOLING_MODES)}")
    m = _check_mask(x, mask)
    if mode in ("mean", "sum"):
        s = (x * m.unsqueeze(-1).to(x.dtype)).sum(1)
        if mode == "sum":
            return s
        return s / m.sum(1, keepdim=True).to(x.dtype)
    if mode == "max":
        return x.masked_fill(~m.unsqueeze(-1), float("-inf")).amax(1)
    pos = torch.arange(x.shape[1], device=x.device).expand_as(m)
    if mode == "last":
        idx = torch.where(m, pos, -1).amax(1)
    else:  # first
        idx = torch.where(m, pos, x.shape[1]).amin(1)
    return x[torch.arange(x.shape[0], device=x.device), idx]


class Pooling(nn.Module):
    """Module form of :func:`pool`: forward(x: (batch, length, dim), mask=None) -> (batch, dim)."""

    def __init__(self, mode: str = "mean") -> None:
        super().__init__()
        if mode not in POOLING_MODES:
            raise ValueError(f"pooling mode={mode!r} is not known; use one of {list(POOLING_MODES)}")
        self.mode = mode

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:  # noqa: D102
        return pool(x, mask, self.mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
