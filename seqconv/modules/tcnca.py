"""TCNCA: a dilated TCN plus MEGA-style gated single-head chunked attention (REFERENCE §2).

TCNCA keeps MEGA's gated attention layer and replaces its FFT-computed multi-dimensional EMA with a
dilated temporal convolutional network (:class:`seqconv.modules.tcn.TCN`)::

    v        = SiLU(W_v x)                               (batch, length, d_hidden)
    x'       = SiLU(TCN(x))                              (batch, length, d_model)
    u, z, r, hx = split(W x')                            sizes d_model, d_attn, d_hidden, d_model
    u        = sigmoid(u)                                update gate
    z, r     = SiLU(z), SiLU(r)                          shared query/key, reset gate
    q, k     = z * gamma_q + beta_q,  z * gamma_k + beta_k   per-dimension affine maps
    a        = softmax(q k^T / sqrt(d_attn)) v           single head, inside chunks of chunk_size
    h        = SiLU(hx + W_h(a * r))
    out      = x + u * (h - x)

Choices not in the reference (published sizes were not recoverable), documented and tested:

* TCN defaults: kernel_size 3, dilation factor = kernel size, receptive field = ``chunk_size``
  unless given (the TCN carries information across chunk boundaries, attention works inside them),
  so with chunk 128 the TCN has 5 layers (3**5 = 243 >= 128).
* As in MEGA, the TCN output passes through SiLU before the projection, z and r use SiLU, the
  attention has no positional bias (the TCN supplies position information), and gamma is initialised
  near 1 (1 + N(0, 0.02)) and beta at 0, so the initial attention is not uniform.
* d_attn defaults to max(16, d_model // 4) and d_hidden to 2 * d_model (MEGA: 128 and 1024 for d 512).
* Lengths that are not a multiple of ``chunk_size`` are zero-padded at the end; padded positions are
  masked as keys. If the sequence is shorter than ``chunk_size`` it forms a single chunk.
* Attention is ``torch.nn.functional.scaled_dot_product_attention`` with a boolean mask: causal
  within the chunk when ``causal``; keys at padding are masked; every query may always attend to
  itself, so padded query rows never see an empty key set (no NaN), and their outputs are discarded.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqconv.modules.mask import check_mixer_input
from seqconv.modules.tcn import TCN


class TCNCA(nn.Module):
    """TCN + chunked gated attention mixer: (batch, length, d_model) -> (batch, length, d_model).

    Args:
        d_model: feature dim.
        chunk_size: attention chunk length (>= 1).
        causal: causal TCN and causal attention inside each chunk.
        d_attn: shared query/key dim (default max(16, d_model // 4)).
        d_hidden: value / reset-gate dim (default 2 * d_model).
        kernel_size, dilation_factor, receptive_field, tcn_norm: TCN settings (see :class:`TCN`);
            the receptive field defaults to ``chunk_size``.
        dropout: dropout on h (the candidate output).
        attn_dropout: dropout on attention weights (training only).
        l_max: maximum sequence length (longer inputs are refused; None = unbounded).
        layer_idx: index in the backbone (unused).
    """

    def __init__(
        self,
        d_model: int,
        chunk_size: int = 128,
        causal: bool = True,
        d_attn: Optional[int] = None,
        d_hidden: Optional[int] = None,
        kernel_size: int = 3,
        dilation_factor: Optional[int] = None,
        receptive_field: Optional[int] = None,
        tcn_norm: str = "layernorm",
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
        l_max: Optional[int] = None,
        layer_idx: Optional[int] = None,
    ) -> None:
        super().__init__()
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
        self.d_model = d_model
        self.chunk_size = chunk_size
        self.l_max = l_max
        self.causal = causal
        self.d_attn = d_attn if d_attn is not None else max(16, d_model // 4)
        self.d_hidden = d_hidden if d_hidden is not None else 2 * d_model
        self.layer_idx = layer_idx
        self.attn_dropout = attn_dropout
        self.tcn = TCN(
            d_model,
            kernel_size=kernel_size,
            dilation_factor=dilation_factor,
            receptive_field=receptive_field if receptive_field is not None else chunk_size,
            causal=causal,
            norm=tcn_norm,
        )
        self.v_proj = nn.Linear(d_model, self.d_hidden)
        self.mx_proj = nn.Linear(d_model, d_model + self.d_attn + self.d_hidden + d_model)
        self.h_proj = nn.Linear(self.d_hidden, d_model)
        self.gamma = nn.Parameter(1.0 + 0.02 * torch.randn(2, self.d_attn))
        self.beta = nn.Parameter(torch.zeros(2, self.d_attn))
        self.drop = nn.Dropout(dropout)

    def _attention(self, q: Tensor, k: Tensor, v: Tensor, valid: Tensor) -> Tensor:
        """Chunked single-head attention. q, k: (B, L, Z); v: (B, L, H); valid: (B, L) bool -> (B, L, H)."""
        B, L, _ = q.shape
        C = min(self.chunk_size, L)
        n = math.ceil(L / C) * C
        if n != L:
            pad = n - L
            q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
            valid = F.pad(valid, (0, pad), value=False)
        nc = n // C
        q, k, v = (t.reshape(B * nc, 1, C, t.shape[-1]) for t in (q, k, v))
        key_ok = valid.reshape(B * nc, 1, 1, C)
        eye = torch.eye(C, dtype=torch.bool, device=q.device)
        allowed = key_ok | eye
        if self.causal:
            allowed = allowed & torch.ones(C, C, dtype=torch.bool, device=q.device).tril()
        p = self.attn_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
        return out.reshape(B, n, -1)[:, :L]

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """x: (batch, length, d_model), mask: (batch, length) bool (True = real) -> (batch, length, d_model)."""
        mask = check_mixer_input(x, mask, "TCNCA", d_model=self.d_model, l_max=self.l_max)
        if mask is not None:
            x = x * mask.to(x.dtype).unsqueeze(-1)
            valid = mask
        else:
            valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        v = F.silu(self.v_proj(x)) * valid.unsqueeze(-1).to(x.dtype)
        mx = F.silu(self.tcn(x, mask))
        u, z, r, hx = torch.split(self.mx_proj(mx), [self.d_model, self.d_attn, self.d_hidden, self.d_model], dim=-1)
        u = torch.sigmoid(u)
        z, r = F.silu(z), F.silu(r)
        q = z * self.gamma[0] + self.beta[0]
        k = z * self.gamma[1] + self.beta[1]
        a = self._attention(q, k, v, valid)
        h = self.drop(F.silu(hx + self.h_proj(a * r)))
        out = x + u * (h - x)
        if mask is not None:
            out = out * mask.to(out.dtype).unsqueeze(-1)
        return out

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, chunk_size={self.chunk_size}, causal={self.causal}, d_attn={self.d_attn}"
