"""Multi-head self-attention mixer (the Transformer baseline), built on PyTorch SDPA.

Choices (documented, tested in tests/modules/test_attention.py):

* Positions: ``positional="rotary"`` (default) applies rotary embeddings (RoPE, base 10000,
  "rotate-half" pairing of dims i and i + head_dim/2) to queries and keys; ``"learned"`` adds a learned
  absolute position embedding (``l_max`` rows, init N(0, 0.02)) to the input of the layer;
  ``"none"`` uses no positions. Positions count from 0 at index 0 of the tensor (padding included).
* Padding mask: keys at padding are masked. Each query may always attend to itself, so a padded
  query row never sees an empty key set (no NaN); padded outputs are zeroed.
* Causal: ``causal=True`` adds a lower-triangular mask; ``causal=False`` is bidirectional.
* Output projection initialised normally (nn.Linear default); dropout on attention weights and on
  the output.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .mask import check_mixer_input

POSITIONAL = ("rotary", "learned", "none")


def rotary_cos_sin(length: int, dim: int, base: float = 10000.0, device=None) -> tuple[Tensor, Tensor]:
    """cos, sin tables of shape (length, dim) for rotate-half RoPE (dim even)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim))
    t = torch.arange(length, device=device, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)  # (length, dim/2)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate x: (..., length, dim) by angle tables (length, dim): x*cos + rotate_half(x)*sin (in fp32)."""
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)
    rot = torch.cat([-x2, x1], dim=-1)
    return (xf * cos + rot * sin).to(x.dtype)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: (batch, length, d_model) -> (batch, length, d_model).

    Args:
        d_model: feature dim; must be divisible by ``n_heads``.
        n_heads: number of heads.
        causal: causal (True) or bidirectional (False) attention.
        positional: "rotary", "learned" (needs ``l_max``) or "none".
        l_max: maximum length (needed for learned positions).
        dropout: dropout on attention weights and the output (training only).
        bias: bias in the q/k/v and output projections.
        rotary_base: RoPE base.
        layer_idx: index in the backbone (unused).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int = 4,
        causal: bool = True,
        positional: str = "rotary",
        l_max: Optional[int] = None,
        dropout: float = 0.0,
        bias: bool = True,
        rotary_base: float = 10000.0,
        layer_idx: Optional[int] = None,
    ) -> None:
        super().__init__()
        if not isinstance(n_heads, int) or n_heads < 1 or d_model % n_heads != 0:
            raise ValueError(f"n_heads must be a positive int dividing d_model={d_model}, got n_heads={n_heads!r}")
        if positional not in POSITIONAL:
            raise ValueError(f"positional={positional!r} is not known; use one of {list(POSITIONAL)}")
        head_dim = d_model // n_heads
        if positional == "rotary" and head_dim % 2 != 0:
            raise ValueError(f"rotary positions need an even head dim, got d_model/n_heads={head_dim}")
        if positional == "learned" and (l_max is None or l_max < 1):
            raise ValueError(f"positional='learned' needs l_max >= 1, got l_max={l_max!r}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, head_dim
        self.causal, self.positional, self.l_max = causal, positional, l_max
        self.rotary_base = rotary_base
        self.layer_idx = layer_idx
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_drop = nn.Dropout(dropout)
        if positional == "learned":
            self.pos_emb = nn.Parameter(0.02 * torch.randn(l_max, d_model))

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """x: (batch, length, d_model), mask: (batch, length) bool (True = real) -> (batch, length, d_model)."""
        mask = check_mixer_input(x, mask, "MultiHeadAttention", d_model=self.d_model, l_max=self.l_max)
        B, L, _ = x.shape
        if self.positional == "learned":
            x = x + self.pos_emb[:L].to(x.dtype)
        q, k, v = rearrange(self.qkv(x), "b l (three h d) -> three b h l d", three=3, h=self.n_heads)
        if self.positional == "rotary":
            cos, sin = rotary_cos_sin(L, self.head_dim, self.rotary_base, device=x.device)
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        attn_mask = None
        is_causal = False
        if mask is not None:
            eye = torch.eye(L, dtype=torch.bool, device=x.device)
            attn_mask = mask.bool()[:, None, None, :] | eye  # (B, 1, L, L)
            if self.causal:
                attn_mask = attn_mask & torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        elif self.causal:
            is_causal = True
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p, is_causal=is_causal)
        out = self.out_drop(self.out_proj(rearrange(out, "b h l d -> b l (h d)")))
        if mask is not None:
            out = out * mask.to(out.dtype).unsqueeze(-1)
        return out

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}, causal={self.causal}, positional={self.positional!r}"
