"""Hyena implicit long filter: an MLP (sine activations) of positional features, times an exponential window.

Reference: REFERENCE.md §2 (Poli et al., "Hyena Hierarchy").
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from einops import rearrange
from torch import Tensor, nn

from ._base import KernelBase, set_optim_hint

__all__ = ["HyenaFilter", "Sin", "hyena_positional_features"]


class Sin(nn.Module):
    """``sin(w * x)`` with a trainable per-unit frequency ``w`` of shape (1, dim), init ``w0``."""

    def __init__(self, dim: int, w0: float = 1.0, train_freq: bool = True) -> None:
        super().__init__()
        self.freq = nn.Parameter(torch.full((1, dim), float(w0)), requires_grad=train_freq)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.freq * x)


def hyena_positional_features(L: int, l_max: int, emb_dim: int, device=None, dtype=None) -> Tensor:
    """Positional features z(t): ``(L, emb_dim)``.

    Columns: ``t = pos / (l_max - 1)`` (in [0, 1] over the first ``l_max`` positions), then ``Re`` and ``Im`` of
    ``exp(-i * f * 2*pi*pos/l_max)`` for ``B = (emb_dim - 1) // 2`` bands ``f = linspace(1e-4, B - 1, B)``.
    Positions beyond ``l_max`` extrapolate the same formulas (documented choice; the published code cannot
    produce filters longer than its ``seq_len``).
    """
    if emb_dim < 3 or emb_dim % 2 == 0:
        raise ValueError(f"hyena_positional_features: emb_dim must be odd and >= 3 (2*bands + 1), got {emb_dim}")
    bands = (emb_dim - 1) // 2
    pos = torch.arange(L, device=device, dtype=torch.float64)
    t = pos / max(l_max - 1, 1)
    w = 2 * math.pi * pos / l_max
    f = torch.linspace(1e-4, bands - 1, bands, dtype=torch.float64, device=device)
    phase = -f[None, :] * w[:, None]  # (L, B)
    z = torch.cat([t[:, None], torch.cos(phase), torch.sin(phase)], dim=-1)
    return z.to(dtype or torch.get_default_dtype())


class HyenaFilter(KernelBase):
    """Implicit Hyena filter ``h = window(t) * MLP(z(t))``.

    MLP: ``Linear(emb_dim, width)``, Sin, ``num_inner_mlps`` x (``Linear(width, width)``, Sin),
    ``Linear(width, channels * H, bias=False)``; one Sin module (one trainable frequency vector, init ``w``:
    1 by default, 14 in the LM recipe) is shared by all layers, as in the published code.
    Window: ``exp(-|delta_j| * t)`` with fixed ``delta = linspace(ln(target)/slow_decay_pct,
    ln(target)/fast_decay_pct, n_out)`` over the ``n_out = channels * H`` (x2 if bidirectional) outputs
    (``target=1e-2, fast 0.3, slow 1.5``), optionally ``+ shift``.
    ``normalized=True`` divides each filter by its L1 norm over time.
    The positional features are recomputed (not learned); the published code lets them train with lr 1e-5.

    Args:
        d_model: features H. l_max: normalizing length of t. channels: filters per feature (Hyena order N - 1).
        bidirectional: doubles the outputs, returns ``(C, 2, H, L)`` (``[:, 1]`` = lags -1, -2, ...).
        emb_dim: odd >= 3. width: MLP width (``order`` in the published code). w: Sin frequency init.
        lr, weight_decay: ``_optim`` hint for all MLP parameters (1e-3, 0).

    Output: ``forward(L)`` -> ``(channels, H, L)`` or ``(channels, 2, H, L)``.
    """

    def __init__(
        self,
        d_model: int,
        l_max: int,
        channels: int = 1,
        bidirectional: bool = False,
        emb_dim: int = 3,
        width: int = 64,
        num_inner_mlps: int = 2,
        w: float = 1.0,
        normalized: bool = False,
        fast_decay_pct: float = 0.3,
        slow_decay_pct: float = 1.5,
        target: float = 1e-2,
        shift: float = 0.0,
        modulate: bool = True,
        lr: Optional[float] = 1e-3,
        weight_decay: Optional[float] = 0.0,
    ) -> None:
        super().__init__(d_model, l_max, channels, bidirectional)
        if not isinstance(emb_dim, int) or emb_dim < 3 or emb_dim % 2 == 0:
            raise ValueError(
                f"HyenaFilter: emb_dim must be an odd int >= 3 (1 time + 2*bands), got {emb_dim!r}; "
                f"use {emb_dim + 1 if isinstance(emb_dim, int) and emb_dim >= 2 else 3}"
            )
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"HyenaFilter: width must be a positive int, got {width!r}")
        if not isinstance(num_inner_mlps, int) or num_inner_mlps < 0:
            raise ValueError(f"HyenaFilter: num_inner_mlps must be an int >= 0, got {num_inner_mlps!r}")
        if not (0 < target < 1):
            raise ValueError(f"HyenaFilter: target must be in (0, 1), got {target}")
        if fast_decay_pct <= 0 or slow_decay_pct <= 0:
            raise ValueError(f"HyenaFilter: decay pcts must be > 0, got fast={fast_decay_pct}, slow={slow_decay_pct}")
        self.emb_dim = emb_dim
        self.width = width
        self.normalized = normalized
        self.modulate = modulate
        self.shift = float(shift)
        self.n_out = channels * d_model * (2 if bidirectional else 1)
        act = Sin(width, w0=w)
        layers: list = [nn.Linear(emb_dim, width), act]
        for _ in range(num_inner_mlps):
            layers += [nn.Linear(width, width), act]
        layers.append(nn.Linear(width, self.n_out, bias=False))
        self.implicit_filter = nn.Sequential(*layers)
        for p in self.implicit_filter.parameters():
            set_optim_hint(p, lr, weight_decay)
        max_decay = math.log(target) / fast_decay_pct
        min_decay = math.log(target) / slow_decay_pct
        self.register_buffer("deltas", torch.linspace(min_decay, max_decay, self.n_out))

    def _compute(self, L: int) -> Tensor:
        p = self.deltas
        z = hyena_positional_features(L, self.l_max, self.emb_dim, device=p.device, dtype=p.dtype)
        h = self.implicit_filter(z)  # (L, n_out)
        if self.modulate:
            t = z[:, :1]
            h = h * (torch.exp(-t * self.deltas.abs()) + self.shift)
        if self.normalized:
            h = h / h.abs().sum(dim=0, keepdim=True).clamp_min(1e-12)
        if self.bidirectional:
            return rearrange(h, "l (c s d) -> c s d l", c=self.channels, s=2)
        return rearrange(h, "l (c d) -> c d l", c=self.channels)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, emb_dim={self.emb_dim}, width={self.width}, normalized={self.normalized}"
