"""GlobalConv: a sequence mixer = kernel parameterization + long convolution + D skip + GELU + output projection.

This is the SGConv / long-conv / S4D layer of REFERENCE.md §2:
``y = Linear(dropout(GELU(long_conv(x, k) + D * x)))`` with ``C`` kernels per feature flattened to ``C*H`` and
projected back to ``H`` (optionally through a GLU: ``Linear(C*H -> 2H)`` then ``GLU``).
"""

from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqconv.kernels import KERNELS, KernelBase, build_kernel
from seqconv.ops import long_conv

from .mask import check_mixer_input

__all__ = ["GlobalConv"]


class GlobalConv(nn.Module):
    """Global convolution mixer.

    Args:
        d_model: features H.
        l_max: maximum sequence length (sizes the kernel parameterization).
        kernel: ``"sgconv" | "longconv" | "s4d" | "hyena_filter"`` or an already built kernel module
            (a :class:`seqconv.kernels.KernelBase` with matching ``d_model``/``channels``/``bidirectional``).
        kernel_kwargs: extra keyword arguments for the kernel class (e.g. ``{"kernel_dim": 32}`` for SGConv,
            ``{"lam": 0.003, "kernel_dropout": 0.2}`` for long convs).
        channels: kernels per feature C.
        bidirectional: non-causal convolution (two kernels per channel/feature); False = causal.
        dropout: dropout after the activation.
        glu: output ``Linear(C*H -> 2H)`` + GLU (the LRA configs) instead of ``Linear(C*H -> H)``.
        activation: ``"gelu"`` or ``"identity"``.
        backend: long_conv backend (``"auto"`` picks FFT / Triton).
        layer_idx: position in the stack (unused, mixer contract).

    forward(x: (batch, length, d_model), mask: (batch, length) bool or None) -> (batch, length, d_model).
    Padded inputs (mask False) are zeroed before the convolution and the outputs at padded positions are zero.
    """

    def __init__(
        self,
        d_model: int,
        l_max: int = 1024,
        kernel: Union[str, KernelBase] = "sgconv",
        kernel_kwargs: Optional[dict] = None,
        channels: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        glu: bool = True,
        activation: str = "gelu",
        backend: str = "auto",
        layer_idx: Optional[int] = None,
        **extra_kernel_kwargs,
    ) -> None:
        super().__init__()
        if not isinstance(d_model, int) or d_model < 1:
            raise ValueError(f"GlobalConv: d_model must be a positive int, got {d_model!r}")
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"GlobalConv: channels must be a positive int, got {channels!r}")
        if not (0.0 <= dropout < 1.0):
            raise ValueError(f"GlobalConv: dropout must be in [0, 1), got {dropout}")
        if activation not in ("gelu", "identity"):
            raise ValueError(f"GlobalConv: activation must be 'gelu' or 'identity', got {activation!r}")
        kw = dict(kernel_kwargs or {})
        kw.update(extra_kernel_kwargs)
        if isinstance(kernel, str):
            if kernel not in KERNELS:
                raise ValueError(f"GlobalConv: unknown kernel {kernel!r}; choose one of {sorted(KERNELS)}")
            self.kernel = build_kernel(kernel, d_model, l_max, channels=channels, bidirectional=bidirectional, **kw)
        elif isinstance(kernel, KernelBase):
            if kw:
                raise ValueError(f"GlobalConv: kernel_kwargs {sorted(kw)} given with a prebuilt kernel module")
            if (kernel.H, kernel.channels, kernel.bidirectional) != (d_model, channels, bidirectional):
                raise ValueError(
                    f"GlobalConv: prebuilt kernel has (d_model, channels, bidirectional) = "
                    f"{(kernel.H, kernel.channels, kernel.bidirectional)}, layer wants {(d_model, channels, bidirectional)}"
                )
            self.kernel = kernel
        else:
            raise TypeError(f"GlobalConv: kernel must be a name or a KernelBase module, got {type(kernel).__name__}")
        self.d_model = d_model
        self.l_max = l_max
        self.channels = channels
        self.bidirectional = bidirectional
        self.backend = backend
        self.layer_idx = layer_idx
        self.activation = activation
        self.D = nn.Parameter(torch.randn(channels, d_model))
        self.dropout = nn.Dropout(dropout)
        self.glu = glu
        self.output_linear = nn.Linear(channels * d_model, 2 * d_model if glu else d_model)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """x: (batch, length, d_model), mask: (batch, length) bool -> (batch, length, d_model)."""
        mask = check_mixer_input(x, mask, "GlobalConv", d_model=self.d_model, l_max=self.l_max)
        if mask is not None:
            x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        k = self.kernel(x.shape[1])
        y = long_conv(x, k, self.D, bidirectional=self.bidirectional, backend=self.backend, layout="BLH")
        return self.post_conv(y, mask)

    def post_conv(self, y: Tensor, mask: Optional[Tensor]) -> Tensor:
        """Everything after the long convolution: activation, dropout, output projection, GLU, re-zero padding.

        y: (batch, length, channels * d_model) convolution output (+ D skip); mask: (batch, length) bool or None
        -> (batch, length, d_model). Shared with the incremental-decoding state (seqconv/models/cache.py).
        """
        if self.activation == "gelu":
            y = F.gelu(y)
        y = self.output_linear(self.dropout(y))
        if self.glu:
            y = F.glu(y, dim=-1)
        if mask is not None:
            y = y.masked_fill(~mask.unsqueeze(-1), 0.0)
        return y

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, channels={self.channels}, bidirectional={self.bidirectional}, glu={self.glu}"
