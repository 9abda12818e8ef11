"""Hyena operator (REFERENCE.md §2): gated long convolutions with implicit filters.

    u = in_proj(x)                       (B, L, (N+1)d)
    u = short_conv(u)                    causal depthwise conv of width 3 over all (N+1)d channels
    x_0, ..., x_{N-1}, v = split(u)
    for i, x_i in enumerate(reversed(x_1..x_{N-1})):  v = h_i * (v * x_i) + bias_i * (v * x_i)
    y = out_proj(x_0 * v)

The gating is fused into the long-conv op: the multiplication by the *next* x is passed as ``gate=`` of the
previous convolution (``w_{i+1} = x_next * (h_i * w_i + bias_i * w_i)``), so every convolution's output is
gated inside the op and only the first product ``v * x_{N-1}`` is a separate multiply. Dropout is applied
to every convolution input, as in the published code.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqconv.kernels import HyenaFilter
from seqconv.ops import long_conv

from .mask import check_mixer_input

__all__ = ["HyenaOperator"]


class HyenaOperator(nn.Module):
    """Hyena operator of order ``N``.

    Args:
        d_model: model width d.
        l_max: maximum length (normalizes the filters' time axis; longer inputs extrapolate the filter).
        order: N >= 2 (number of gates + 1); N - 1 long convolutions.
        filter_order: width of the filter MLP.
        short_filter_order: width of the depthwise short convolution (odd).
        emb_dim: positional feature size of the filter (odd >= 3).
        filter_w: Sin frequency init of the filter (1 default, 14 in the LM recipe).
        num_inner_mlps: inner layers of the filter MLP.
        normalized: L1-normalize the filters over time.
        dropout: dropout on convolution inputs.
        bidirectional: non-causal variant (centered short conv + two-sided filters). Default causal.
        filter_lr, filter_wd: ``_optim`` hint of the filter MLP (1e-3, 0).
        filter_kwargs: further :class:`~seqconv.kernels.HyenaFilter` options, e.g. ``{"modulate": False}`` to drop
            the exponential decay window (needed for exact recall far back, see tests/modules/test_learning.py).
        backend: long_conv backend.
        layer_idx: position in the stack (mixer contract, unused).

    forward(x: (batch, length, d_model), mask: (batch, length) bool or None) -> (batch, length, d_model).
    """

    def __init__(
        self,
        d_model: int,
        l_max: int = 1024,
        order: int = 2,
        filter_order: int = 64,
        short_filter_order: int = 3,
        emb_dim: int = 3,
        filter_w: float = 1.0,
        num_inner_mlps: int = 2,
        normalized: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        filter_lr: Optional[float] = 1e-3,
        filter_wd: Optional[float] = 0.0,
        backend: str = "auto",
        layer_idx: Optional[int] = None,
        filter_kwargs: Optional[dict] = None,
    ) -> None:
        super().__init__()
        if not isinstance(d_model, int) or d_model < 1:
            raise ValueError(f"HyenaOperator: d_model must be a positive int, got {d_model!r}")
        if not isinstance(order, int) or order < 2:
            raise ValueError(f"HyenaOperator: order must be an int >= 2 (one gate at least), got {order!r}")
        if not isinstance(short_filter_order, int) or short_filter_order < 1 or short_filter_order % 2 == 0:
            raise ValueError(
                f"HyenaOperator: short_filter_order must be a positive odd int (e.g. 3), got {short_filter_order!r}"
            )
        if not (0.0 <= dropout < 1.0):
            raise ValueError(f"HyenaOperator: dropout must be in [0, 1), got {dropout}")
        self.d_model = d_model
        self.l_max = l_max
        self.order = order
        self.bidirectional = bidirectional
        self.backend = backend
        self.layer_idx = layer_idx
        self.short_filter_order = short_filter_order
        inner = (order + 1) * d_model
        self.in_proj = nn.Linear(d_model, inner)
        self.out_proj = nn.Linear(d_model, d_model)
        self.short_filter = nn.Conv1d(inner, inner, kernel_size=short_filter_order, groups=inner, padding=0)
        self.filter_fn = HyenaFilter(
            d_model,
            l_max,
            channels=order - 1,
            bidirectional=bidirectional,
            emb_dim=emb_dim,
            width=filter_order,
            num_inner_mlps=num_inner_mlps,
            w=filter_w,
            normalized=normalized,
            lr=filter_lr,
            weight_decay=filter_wd,
            **(filter_kwargs or {}),
        )
        # D term of each long convolution ("bias" in the published code), randn init.
        self.bias = nn.Parameter(torch.randn(order - 1, d_model))
        self.dropout = nn.Dropout(dropout)

    def _short_conv(self, u: Tensor) -> Tensor:
        """Depthwise short conv over (B, (N+1)d, L): causal (left pad w-1) or centered (pad (w-1)/2 each side)."""
        w = self.short_filter_order
        pad = (w - 1, 0) if not self.bidirectional else ((w - 1) // 2, (w - 1) // 2)
        return self.short_filter(F.pad(u, pad))

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """x: (batch, length, d_model), mask: (batch, length) bool -> (batch, length, d_model)."""
        mask = check_mixer_input(x, mask, "HyenaOperator", d_model=self.d_model, l_max=self.l_max)
        L = x.shape[1]
        keep = None if mask is None else mask.unsqueeze(1)  # (B, 1, L)
        u = self.in_proj(x).transpose(1, 2)  # (B, (N+1)d, L)
        if keep is not None:
            u = u.masked_fill(~keep, 0.0)
        u = self._short_conv(u)
        if keep is not None:
            u = u.masked_fill(~keep, 0.0)
        *xs, v = u.split(self.d_model, dim=1)
        k = self.filter_fn(L)  # (N-1, d, L) or (N-1, 2, d, L)
        gates = list(reversed(xs[1:]))  # x_{N-1}, ..., x_1
        w = self.dropout(v * gates[0])
        for i in range(self.order - 1):
            nxt = gates[i + 1] if i + 1 < len(gates) else xs[0]
            w = long_conv(
                w, k[i], self.bias[i], bidirectional=self.bidirectional, gate=nxt, backend=self.backend, layout="BHL"
            )
            if i + 1 < len(gates):
                w = self.dropout(w)
        y = self.out_proj(w.transpose(1, 2))
        if mask is not None:
            y = y.masked_fill(~mask.unsqueeze(-1), 0.0)
        return y

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, order={self.order}, bidirectional={self.bidirectional}"
