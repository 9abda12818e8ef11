"""Shared machinery for kernel parameterizations: input validation, eval-mode caching, optimizer hints."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

__all__ = ["KernelBase", "set_optim_hint"]


def set_optim_hint(param: nn.Parameter, lr: Optional[float], weight_decay: Optional[float] = 0.0) -> nn.Parameter:
    """Attach the safari/S4 style ``_optim`` hint read by :func:`seqconv.training.param_groups.build_param_groups`.

    Keys whose value is ``None`` are left out (the group falls back to the global value for them).
    """
    hint = {}
    if lr is not None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}; pass a non-negative learning rate for the kernel params")
        hint["lr"] = float(lr)
    if weight_decay is not None:
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        hint["weight_decay"] = float(weight_decay)
    if hint:
        param._optim = hint  # type: ignore[attr-defined]
    return param


class KernelBase(nn.Module):
    """Base class of every kernel parameterization.

    Subclasses implement ``_compute(L) -> Tensor`` returning ``(channels, H, L)`` (causal) or
    ``(channels, 2, H, L)`` (bidirectional: ``[:, 0]`` lags 0, 1, 2, ..., ``[:, 1]`` lags -1, -2, ...).

    Caching: in eval mode, when no gradient is needed (``torch.no_grad`` / ``torch.inference_mode`` or all
    parameters frozen), the kernel is cached and only recomputed when ``L``, a parameter/buffer (in-place
    update, ``.to()``, ``load_state_dict``), or the module mode changes. With gradients enabled the kernel is
    always recomputed so that ``backward`` works (a cached graph could not be backpropagated twice).
    The kernel is computed with autocast disabled (fp32 parameters give an fp32 kernel); the long-conv op
    runs its FFT in fp32 anyway.
    """

    def __init__(self, d_model: int, l_max: int, channels: int = 1, bidirectional: bool = False) -> None:
        super().__init__()
        for name, val in (("d_model", d_model), ("l_max", l_max), ("channels", channels)):
            if not isinstance(val, int) or isinstance(val, bool) or val < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, got {val!r}")
        if not isinstance(bidirectional, bool):
            raise TypeError(f"{type(self).__name__}: bidirectional must be a bool, got {type(bidirectional).__name__}")
        self.d_model = d_model
        self.H = d_model
        self.l_max = l_max
        self.channels = channels
        self.bidirectional = bidirectional
        self._cache_key: Optional[tuple] = None
        self._cache_val: Optional[Tensor] = None

    # -- hooks ----------------------------------------------------------------------------------------------
    def _compute(self, L: int) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def output_shape(self, L: int) -> tuple:
        """Shape of ``forward(L)``: ``(channels, H, L)`` or ``(channels, 2, H, L)`` if bidirectional."""
        if self.bidirectional:
            return (self.channels, 2, self.H, L)
        return (self.channels, self.H, L)

    # -- caching --------------------------------------------------------------------------------------------
    def _state_key(self, L: int) -> tuple:
        tensors = list(self.parameters()) + list(self.buffers())
        return (L,) + tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)

    def _needs_grad(self) -> bool:
        return torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())

    def clear_cache(self) -> None:
        """Drop the cached kernel (called automatically on train()/eval() switches)."""
        self._cache_key = None
        self._cache_val = None

    def train(self, mode: bool = True) -> KernelBase:
        self.clear_cache()
        return super().train(mode)

    def _run(self, L: int) -> Tensor:
        device_type = next(iter(self.parameters()), torch.empty(0)).device.type
        with torch.autocast(device_type=device_type, enabled=False):
            return self._compute(L)

    def forward(self, L: int) -> Tensor:
        """Return the kernel for sequence length ``L``: ``(channels, H, L)`` or ``(channels, 2, H, L)``."""
        if isinstance(L, bool) or not isinstance(L, int) or L < 1:
            raise ValueError(f"{type(self).__name__}.forward: L must be a positive int, got {L!r}")
        if self.training or self._needs_grad():
            return self._run(L)
        key = self._state_key(L)
        if self._cache_key != key or self._cache_val is None:
            self._cache_val = self._run(L).detach()
            self._cache_key = key
        return self._cache_val

    def extra_repr(self) -> str:
        return f"d_model={self.H}, l_max={self.l_max}, channels={self.channels}, bidirectional={self.bidirectional}"
