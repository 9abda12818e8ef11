"""The one input contract of every mixer: ``x`` (batch, length, d_model), a padding mask, and the length limit.

Every mixer calls :func:`check_mixer_input` first, so all of them accept and refuse the same things:

* ``x`` is 3-D, ``(batch, length, d_model)``.
* ``mask`` is ``None`` or ``(batch, length)``, bool or 0/1 numbers (True / 1 = real token, False / 0 = padding);
  it comes back as a bool tensor. An *additive* float mask (transformers' 0 / -inf style, as in
  ``scaled_dot_product_attention``'s ``attn_mask``) is refused with a message that says what to pass: read as
  0/1 it would mark the wrong positions.
* ``offset + length <= l_max`` when the mixer has a maximum length (``offset``: tokens a decoding state has
  already seen). A kernel parameterized up to ``l_max`` cannot cover longer inputs without changing what the
  model computes, so longer inputs are refused up front instead of being silently cut or extrapolated.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["check_length", "check_mixer_input"]


def check_length(length: int, l_max: Optional[int], who: str, offset: int = 0) -> None:
    """ValueError if ``offset + length`` exceeds ``l_max`` (None = unbounded)."""
    if l_max is not None and offset + length > l_max:
        seen = f" after {offset} cached tokens" if offset else ""
        raise ValueError(
            f"{who}: sequence length {offset + length}{seen} exceeds l_max={l_max}; build the model with a larger "
            f"l_max (e.g. l_max={offset + length}) or feed shorter sequences"
        )


def check_mixer_input(
    x: Tensor,
    mask: Optional[Tensor],
    who: str,
    *,
    d_model: Optional[int] = None,
    l_max: Optional[int] = None,
    offset: int = 0,
) -> Optional[Tensor]:
    """Validate a mixer's input; return the padding mask as a ``(batch, length)`` bool tensor (or None).

    Args:
        x: (batch, length, d_model) input.
        mask: None, or (batch, length) bool / 0-1 integer / 0-1 float (True or 1 = real token).
        who: the mixer's name, used in error messages.
        d_model: expected feature size (checked when given).
        l_max: maximum total length (None = unbounded).
        offset: tokens already processed by a decoding state (the length check covers ``offset + length``).
    """
    if x.dim() != 3 or (d_model is not None and x.shape[-1] != d_model):
        want = f"(batch, length, {d_model})" if d_model is not None else "(batch, length, d_model)"
        raise ValueError(f"{who}: x must be {want}, got shape {tuple(x.shape)}")
    check_length(x.shape[1], l_max, who, offset)
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{who}: mask must be a tensor of shape (batch, length), got {type(mask).__name__}")
    if tuple(mask.shape) != tuple(x.shape[:2]):
        raise ValueError(
            f"{who}: mask must have shape (batch, length) = {tuple(x.shape[:2])}, got {tuple(mask.shape)}; pass one "
            "bool (or 0/1) entry per token, True / 1 = real token"
        )
    if mask.dtype == torch.bool:
        return mask
    if mask.is_complex():
        raise TypeError(f"{who}: mask must be bool or 0/1 numbers, got dtype {mask.dtype}")
    if not bool(((mask == 0) | (mask == 1)).all()):
        bad = mask[(mask != 0) & (mask != 1)].flatten()[0].item()
        raise ValueError(
            f"{who}: mask holds {bad!r}, but a padding mask is (batch, length) bool or 0/1 with True / 1 = real "
            "token. This looks like an additive attention mask (0 / -inf); pass `additive_mask == 0` (or the "
            "tokenizer's attention_mask) instead"
        )
    return mask != 0
