"""Temporal convolutional network (TCN): a residual stack of dilated convolutions.

Layer i (i = 0..D-1) convolves with kernel size K and dilation f**i, so the stack sees
``1 + (K - 1) * (f**D - 1) / (f - 1)`` past positions (``1 + (K - 1) * D`` for f = 1); with f = K
this is K**D and depth ceil(log_K L) covers a length-L sequence at O(L) cost (REFERENCE §2).

Choices not fixed by the reference (documented here, tested in tests/modules/test_tcn.py):

* Defaults K = 3, f = K. Depth is the smallest D >= 1 whose receptive field reaches the requested
  ``receptive_field`` (or ``l_max``); the achieved value is ``TCN.receptive_field``.
* Each layer is pre-norm residual: ``x = x + dropout(pointwise(act(conv(norm(x)))))`` where ``conv``
  is depthwise (``groups = d_model``, followed by a pointwise ``Linear(d, d)`` to mix channels) or,
  with ``depthwise=False``, a full ``Conv1d(d, d)`` (then no pointwise layer).
* Causal: left zero padding of (K - 1) * dilation. Non-causal (``causal=False``): the same total
  padding split ``left = total // 2`` / ``right = total - left``, so the window is centred (one extra
  future tap for odd totals).
* Padding mask: padded positions are zeroed before every convolution and in the output, so padding
  never reaches real positions.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqconv.modules.mask import check_mixer_input
from seqconv.modules.norms import build_norm

_ACTIVATIONS = {"gelu": nn.GELU, "silu": nn.SiLU, "relu": nn.ReLU}


def tcn_receptive_field(kernel_size: int, dilation_factor: int, n_layers: int) -> int:
    """Receptive field of ``n_layers`` stacked convs with kernel K and dilations f**0..f**(D-1).

    ``1 + (K - 1) * (f**D - 1) / (f - 1)``; for f = 1 it is ``1 + (K - 1) * D``.
    """
    if dilation_factor == 1:
        return 1 + (kernel_size - 1) * n_layers
    return 1 + (kernel_size - 1) * (dilation_factor**n_layers - 1) // (dilation_factor - 1)


def tcn_depth_for(receptive_field: int, kernel_size: int, dilation_factor: int) -> int:
    """Smallest depth D >= 1 whose receptive field is >= ``receptive_field``."""
    depth = 1
    while tcn_receptive_field(kernel_size, dilation_factor, depth) < receptive_field:
        depth += 1
    return depth


def _validate(kernel_size: int, dilation_factor: int, receptive_field: Optional[int], n_layers: Optional[int]) -> None:
    if not isinstance(kernel_size, int) or kernel_size < 2:
        raise ValueError(f"kernel_size must be an int >= 2 (size 1 has no receptive field), got {kernel_size!r}")
    if not isinstance(dilation_factor, int) or dilation_factor < 1:
        raise ValueError(f"dilation_factor must be an int >= 1, got {dilation_factor!r}")
    if receptive_field is not None and (not isinstance(receptive_field, int) or receptive_field < 1):
        raise ValueError(f"receptive_field must be an int >= 1, got {receptive_field!r}")
    if n_layers is not None and (not isinstance(n_layers, int) or n_layers < 1):
        raise ValueError(f"n_layers must be an int >= 1, got {n_layers!r}")


class TCN(nn.Module):
    """Residual stack of dilated (depthwise) convolutions; a sequence mixer.

    Args:
        d_model: feature dim.
        kernel_size: K >= 2.
        dilation_factor: f >= 1; layer i has dilation f**i. Default: K.
        receptive_field: requested receptive field (>= 1); depth is derived from it. Default: ``l_max``,
            or 1024 when neither is given.
        n_layers: explicit depth (overrides ``receptive_field``).
        l_max: maximum sequence length (longer inputs are refused; None = unbounded); also the receptive field if
            none is requested.
        causal: causal (left-padded) convolutions; False centres the window.
        depthwise: depthwise conv + pointwise Linear (default) or full Conv1d.
        norm: per-layer norm name ("layernorm", "rmsnorm", "none"; see seqconv.modules.norms).
        activation: "gelu", "silu" or "relu".
        dropout: dropout on each layer's residual branch.
        layer_idx: index in the backbone (unused; kept for the mixer contract).
    """

    def __init__(
        self,
        d_model: int,
        kernel_size: int = 3,
        dilation_factor: Optional[int] = None,
        receptive_field: Optional[int] = None,
        n_layers: Optional[int] = None,
        l_max: Optional[int] = None,
        causal: bool = True,
        depthwise: bool = True,
        norm: str = "layernorm",
        activation: str = "gelu",
        dropout: float = 0.0,
        layer_idx: Optional[int] = None,
    ) -> None:
        super().__init__()
        if dilation_factor is None:
            dilation_factor = kernel_size
        if receptive_field is None:
            receptive_field = l_max if l_max is not None else 1024
        _validate(kernel_size, dilation_factor, receptive_field, n_layers)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not known; use one of {list(_ACTIVATIONS)}")
        if n_layers is None:
            n_layers = tcn_depth_for(receptive_field, kernel_size, dilation_factor)
        self.d_model = d_model
        self.l_max = l_max
        self.kernel_size = kernel_size
        self.dilation_factor = dilation_factor
        self.n_layers = n_layers
        self.causal = causal
        self.depthwise = depthwise
        self.layer_idx = layer_idx
        self.dilations = [dilation_factor**i for i in range(n_layers)]
        self.receptive_field = tcn_receptive_field(kernel_size, dilation_factor, n_layers)
        groups = d_model if depthwise else 1
        self.norms = nn.ModuleList([build_norm(norm, d_model) for _ in range(n_layers)])
        self.convs = nn.ModuleList(
            [nn.Conv1d(d_model, d_model, kernel_size, dilation=d, groups=groups) for d in self.dilations]
        )
        self.pointwise = nn.ModuleList(
            [nn.Linear(d_model, d_model) if depthwise else nn.Identity() for _ in range(n_layers)]
        )
        self.act = _ACTIVATIONS[activation]()
        self.drop = nn.Dropout(dropout)
        # Scale residual-branch outputs by 1/sqrt(2 D) (GPT-2 style) so deep stacks start near identity.
        with torch.no_grad():
            for lin, conv in zip(self.pointwise, self.convs):
                last = lin if depthwise else conv
                last.weight.mul_(1.0 / math.sqrt(2 * n_layers))

    def _pad(self, dilation: int) -> tuple[int, int]:
        total = (self.kernel_size - 1) * dilation
        if self.causal:
            return total, 0
        left = total // 2
        return left, total - left

    def _conv(self, conv: nn.Conv1d, y: Tensor, dilation: int) -> Tensor:
        """Apply ``conv`` to the padded (batch, d_model, length + pad) input -> (batch, d_model, length).

        Depthwise convs with dilation > 1 are computed as a sum of ``kernel_size`` shifted multiply-adds, the
        same function as ``conv(y)``: PyTorch's CPU backward of a dilated grouped conv1d falls back to a slow
        path (about 20x slower than this at d_model 128, L 16K; found by experiments/profile_step.py).
        """
        if not self.depthwise or dilation == 1 or y.is_cuda:
            return conv(y)
        out_len = y.shape[-1] - (self.kernel_size - 1) * dilation
        w = conv.weight[:, 0, :].unsqueeze(-1)  # (d_model, K, 1)
        out = y[..., :out_len] * w[:, 0]
        for j in range(1, self.kernel_size):
            out = torch.addcmul(out, y[..., j * dilation : j * dilation + out_len], w[:, j])
        if conv.bias is not None:
            out = out + conv.bias.unsqueeze(-1)
        return out

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """x: (batch, length, d_model), mask: (batch, length) bool (True = real) -> (batch, length, d_model)."""
        mask = check_mixer_input(x, mask, "TCN", d_model=self.d_model, l_max=self.l_max)
        m = None if mask is None else mask.to(x.dtype).unsqueeze(-1)
        if m is not None:
            x = x * m
        for norm, conv, pw, dil in zip(self.norms, self.convs, self.pointwise, self.dilations):
            y = norm(x, mask)
            if m is not None:
                y = y * m
            y = F.pad(y.transpose(1, 2), self._pad(dil))
            y = self.act(self._conv(conv, y, dil)).transpose(1, 2)
            y = pw(y)
            x = x + self.drop(y)
            if m is not None:
                x = x * m
        return x

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilations={self.dilations}, receptive_field={self.receptive_field}, "
            f"causal={self.causal}, depthwise={self.depthwise}"
        )
