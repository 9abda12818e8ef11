import pytest
import torch
import torch.nn.functional as F

from seqconv.modules.hyena import HyenaOperator
from seqconv.ops import long_conv_reference


def _make(order=2, bidirectional=False, **kw):
    torch.manual_seed(0)
    return HyenaOperator(8, 64, order=order, filter_order=8, bidirectional=bidirectional, **kw)


def _reference(m: HyenaOperator, x: torch.Tensor) -> torch.Tensor:
    """The published, unfused recurrence in float64 with the time-domain conv."""
    u = F.linear(x, m.in_proj.weight.double(), m.in_proj.bias.double()).transpose(1, 2)
    w = m.short_filter_order
    pad = (w - 1, 0) if not m.bidirectional else ((w - 1) // 2, (w - 1) // 2)
    u = F.conv1d(F.pad(u, pad), m.short_filter.weight.double(), m.short_filter.bias.double(), groups=u.shape[1])
    *xs, v = u.split(m.d_model, dim=1)
    k = m.filter_fn(x.shape[1]).double()
    for o, x_i in enumerate(reversed(xs[1:])):
        v = v * x_i
        v = long_conv_reference(v, k[o], m.bias[o].double(), bidirectional=m.bidirectional, layout="BHL")
    y = (v * xs[0]).transpose(1, 2)
    return F.linear(y, m.out_proj.weight.double(), m.out_proj.bias.double())


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_matches_unfused_reference(order, bidirectional):
    m = _make(order, bidirectional).eval()
    x = torch.randn(2, 41, 8)
    with torch.no_grad():
        torch.testing.assert_close(m(x).double(), _reference(m, x.double()), rtol=1e-4, atol=1e-5)  # fp32 vs fp64


@pytest.mark.parametrize("order", [2, 3])
def test_causal_with_and_without_mask(order):
    m = _make(order).eval()
    x = torch.randn(2, 50, 8)
    t0 = 23
    x2 = x.clone()
    x2[:, t0:] += torch.randn_like(x2[:, t0:])
    mask = torch.ones(2, 50, dtype=torch.bool)
    mask[1, 44:] = False
    with torch.no_grad():
        for msk in (None, mask):
            y1, y2 = m(x, msk), m(x2, msk)
            torch.testing.assert_close(y1[:, :t0], y2[:, :t0], rtol=0, atol=1e-5)  # fp32 FFT round-off only
            assert not torch.allclose(y1[:, t0:], y2[:, t0:])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_influences_real_positions(bidirectional):
    m = _make(3, bidirectional).eval()
    x = torch.randn(2, 40, 8)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[0, 28:] = False
    mask[1, :6] = False
    x2 = x.clone()
    x2[~mask] = 50.0 * torch.randn_like(x2[~mask])
    with torch.no_grad():
        y1, y2 = m(x, mask), m(x2, mask)
    torch.testing.assert_close(y1, y2, rtol=0, atol=1e-5)
    assert torch.all(y1[~mask] == 0)


@pytest.mark.parametrize("order", [2, 3])
def test_bf16_autocast_and_gradients(order):
    m = _make(order, dropout=0.1)
    x = torch.randn(2, 37, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y).all()
    y.float().square().mean().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    y32 = m.eval()(x)
    assert y32.dtype == torch.float32


def test_eval_filter_is_cached():
    m = _make(2).eval()
    calls = []
    orig = m.filter_fn._compute
    m.filter_fn._compute = lambda L: calls.append(L) or orig(L)
    with torch.no_grad():
        m(torch.randn(1, 20, 8))
        m(torch.randn(3, 20, 8))
        m(torch.randn(1, 21, 8))
    assert calls == [20, 21]


def test_bad_configs():
    with pytest.raises(ValueError, match="order must be an int >= 2"):
        HyenaOperator(8, 64, order=1)
    with pytest.raises(ValueError, match="short_filter_order must be a positive odd int"):
        HyenaOperator(8, 64, short_filter_order=4)
    with pytest.raises(ValueError, match="emb_dim"):
        HyenaOperator(8, 64, emb_dim=4)
    with pytest.raises(ValueError, match="x must be"):
        _make()(torch.randn(1, 5, 3))
