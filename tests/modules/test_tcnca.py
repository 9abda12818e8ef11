import pytest
import torch
import torch.nn.functional as F

from seqconv.modules.tcnca import TCNCA
from tests.modules._mixer_checks import (
    check_bf16_autocast,
    check_causal,
    check_gradients,
    check_padding_invariance,
)


def _reference_tcnca(m: TCNCA, x: torch.Tensor) -> torch.Tensor:
    """Unchunked, unbatched loop form of the REFERENCE §2 equations (no mask), for one chunk layout."""
    B, L, _ = x.shape
    v = F.silu(m.v_proj(x))
    mx = F.silu(m.tcn(x))
    u, z, r, hx = torch.split(m.mx_proj(mx), [m.d_model, m.d_attn, m.d_hidden, m.d_model], dim=-1)
    u, z, r = torch.sigmoid(u), F.silu(z), F.silu(r)
    q, k = z * m.gamma[0] + m.beta[0], z * m.gamma[1] + m.beta[1]
    a = torch.zeros(B, L, m.d_hidden, dtype=x.dtype)
    C = min(m.chunk_size, L)
    for t in range(L):
        start = (t // C) * C
        end = t + 1 if m.causal else min(start + C, L)
        s = (q[:, t : t + 1] @ k[:, start:end].transpose(1, 2)) / m.d_attn**0.5  # (B, 1, n)
        a[:, t] = (s.softmax(-1) @ v[:, start:end])[:, 0]
    h = F.silu(hx + m.h_proj(a * r))
    return x + u * (h - x)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("L,chunk", [(23, 8), (16, 4), (5, 8), (13, 1)])
def test_matches_loop_reference(causal, L, chunk):
    torch.manual_seed(0)
    m = TCNCA(12, chunk_size=chunk, causal=causal, d_attn=8, d_hidden=10).double().eval()
    x = torch.randn(2, L, 12, dtype=torch.float64)
    # float64 on both sides: agreement to 1e-10
    torch.testing.assert_close(m(x), _reference_tcnca(m, x), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("chunk", [4, 16, 64])
def test_causal(with_mask, chunk):
    check_causal(TCNCA(16, chunk_size=chunk), 16, with_mask=with_mask)


@pytest.mark.parametrize("causal", [True, False])
def test_padding_invariance(causal):
    # padding never changes real positions, also when the pad crosses chunk boundaries (29 -> 40, chunk 8)
    check_padding_invariance(TCNCA(16, chunk_size=8, causal=causal), 16)


def test_bidirectional_sees_future_within_chunk_only():
    torch.manual_seed(0)
    m = TCNCA(8, chunk_size=8, causal=False, receptive_field=2, kernel_size=2).double().eval()
    # receptive field 2 non-causal TCN: window [t, t+1]; attention: whole chunk
    x = torch.randn(1, 32, 8, dtype=torch.float64, requires_grad=True)
    m(x)[0, 3].sum().backward()
    nz = (x.grad[0].abs().sum(-1) > 0).nonzero().flatten()
    assert nz.min().item() == 0 and nz.max().item() == 8  # chunk 0..7 plus the TCN's one future tap of 7


def test_bf16_autocast_and_gradients():
    check_bf16_autocast(TCNCA(16, chunk_size=8), 16)
    check_gradients(TCNCA(16, chunk_size=8), 16)


@pytest.mark.parametrize("chunk", [0, -1, 2.5])
def test_bad_chunk_size(chunk):
    with pytest.raises(ValueError, match="chunk_size"):
        TCNCA(8, chunk_size=chunk)


def test_bad_input():
    m = TCNCA(8, chunk_size=4)
    with pytest.raises(ValueError, match="TCNCA: x must be"):
        m(torch.randn(2, 5, 9))
    with pytest.raises(ValueError, match="mask must have shape"):
        m(torch.randn(2, 5, 8), torch.ones(2, 6, dtype=torch.bool))
