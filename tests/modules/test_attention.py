import math

import pytest
import torch

from seqconv.modules.attention import MultiHeadAttention, apply_rotary, rotary_cos_sin
from tests.modules._mixer_checks import (
    check_bf16_autocast,
    check_causal,
    check_gradients,
    check_padding_invariance,
)


def _reference(m: MultiHeadAttention, x: torch.Tensor, mask=None) -> torch.Tensor:
    """Explicit softmax(q k^T / sqrt(d)) v with -inf masking, per head."""
    B, L, D = x.shape
    if m.positional == "learned":
        x = x + m.pos_emb[:L]
    q, k, v = m.qkv(x).chunk(3, dim=-1)
    q, k, v = (t.reshape(B, L, m.n_heads, m.head_dim).transpose(1, 2) for t in (q, k, v))
    if m.positional == "rotary":
        cos, sin = rotary_cos_sin(L, m.head_dim)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    s = q @ k.transpose(-1, -2) / math.sqrt(m.head_dim)
    allowed = torch.ones(B, 1, L, L, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & mask[:, None, None, :] | torch.eye(L, dtype=torch.bool)
    if m.causal:
        allowed = allowed & torch.ones(L, L, dtype=torch.bool).tril()
    out = s.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
    out = m.out_proj(out.transpose(1, 2).reshape(B, L, D))
    return out if mask is None else out * mask[..., None]


@pytest.mark.parametrize("positional", ["rotary", "learned", "none"])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_reference(positional, causal, with_mask):
    torch.manual_seed(0)
    m = MultiHeadAttention(16, n_heads=4, causal=causal, positional=positional, l_max=32).double().eval()
    x = torch.randn(2, 19, 16, dtype=torch.float64)
    mask = None
    if with_mask:
        mask = torch.ones(2, 19, dtype=torch.bool)
        mask[0, :3] = False  # left padding
        mask[1, -6:] = False  # right padding
    # float64 on both sides -> 1e-10
    torch.testing.assert_close(m(x, mask), _reference(m, x, mask), atol=1e-10, rtol=1e-10)


def test_rotary_is_relative():
    """RoPE scores depend only on the offset between positions."""
    cos, sin = rotary_cos_sin(20, 8)
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    qs = apply_rotary(q.expand(20, 8), cos.double(), sin.double())
    ks = apply_rotary(k.expand(20, 8), cos.double(), sin.double())
    s = qs @ ks.T
    torch.testing.assert_close(s[5, 2], s[15, 12])  # fp32 tables -> default float64 tolerance after cast
    torch.testing.assert_close(s[9, 9], s[0, 0])


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("positional", ["rotary", "learned"])
def test_causal(with_mask, positional):
    check_causal(MultiHeadAttention(16, n_heads=2, causal=True, positional=positional, l_max=64), 16,
                 with_mask=with_mask)


def test_padding_invariance_bidirectional():
    check_padding_invariance(MultiHeadAttention(16, n_heads=2, causal=False), 16)


def test_bf16_autocast_and_gradients():
    check_bf16_autocast(MultiHeadAttention(16, n_heads=2), 16)
    check_gradients(MultiHeadAttention(16, n_heads=2, positional="learned", l_max=40), 16)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_heads": 3}, "n_heads"),
        ({"n_heads": 0}, "n_heads"),
        ({"positional": "alibi"}, "positional"),
        ({"positional": "learned"}, "l_max"),
        ({"n_heads": 16}, "even head dim"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(16, **kwargs)


def test_learned_too_long():
    with pytest.raises(ValueError, match="exceeds l_max"):
        MultiHeadAttention(8, n_heads=2, positional="learned", l_max=4)(torch.randn(1, 5, 8))
