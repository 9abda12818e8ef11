import pytest
import torch
import torch.nn.functional as F

from seqconv.modules.hyena import HyenaOperator
from seqconv.ops import long_conv_reference
from tests.modules._mixer_checks import (
    check_bf16_autocast_backward,
    check_causal_with_and_without_mask,
    check_padding_content_ignored,
)


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
    check_causal_with_and_without_mask(_make(order).eval(), 8, length=50, t0=23, pad_row=1, pad_from=44)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_influences_real_positions(bidirectional):
    m = _make(3, bidirectional).eval()
    check_padding_content_ignored(m, 8, length=40, right_pad_from=28, left_pad_to=6, scale=50.0)


@pytest.mark.parametrize("order", [2, 3])
def test_bf16_autocast_and_gradients(order):
    check_bf16_autocast_backward(_make(order, dropout=0.1), 8, length=37)


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
