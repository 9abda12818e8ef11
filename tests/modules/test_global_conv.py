import pytest
import torch
import torch.nn.functional as F

from seqconv.kernels import SGConvKernel
from seqconv.modules.global_conv import GlobalConv
from seqconv.ops import long_conv_reference
from tests.modules._mixer_checks import (
    check_bf16_autocast_backward,
    check_causal_with_and_without_mask,
    check_padding_content_ignored,
)

KERNEL_KW = {"sgconv": {"kernel_dim": 4}, "longconv": {"lam": 0.0}, "s4d": {"d_state": 4}, "hyena_filter": {"width": 8}}
NAMES = sorted(KERNEL_KW)


def _make(name, bidirectional=False, channels=2, **kw):
    torch.manual_seed(0)
    return GlobalConv(8, 64, kernel=name, kernel_kwargs=KERNEL_KW[name], channels=channels,
                      bidirectional=bidirectional, **kw)


def _reference(m: GlobalConv, x: torch.Tensor, mask=None) -> torch.Tensor:
    """Unfused float64 layer: explicit time-domain conv per channel, D skip, GELU, Linear, GLU."""
    if mask is not None:
        x = x * mask.unsqueeze(-1)
    k = m.kernel(x.shape[1]).double()
    ys = []
    for c in range(m.channels):
        y = long_conv_reference(x, k[c], None, bidirectional=m.bidirectional) + m.D[c].double() * x
        ys.append(y)
    y = F.gelu(torch.cat(ys, dim=-1))
    y = F.linear(y, m.output_linear.weight.double(), m.output_linear.bias.double())
    y = F.glu(y, dim=-1) if m.glu else y
    return y if mask is None else y * mask.unsqueeze(-1)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("glu", [True, False])
def test_matches_reference(name, bidirectional, glu):
    m = _make(name, bidirectional, glu=glu).eval()
    x = torch.randn(2, 37, 8)
    mask = torch.ones(2, 37, dtype=torch.bool)
    mask[1, 30:] = False
    with torch.no_grad():
        for msk in (None, mask):
            ref = _reference(m, x.double(), msk)
            torch.testing.assert_close(m(x, msk).double(), ref, rtol=1e-4, atol=1e-5)  # fp32 FFT vs fp64 direct


@pytest.mark.parametrize("name", NAMES)
def test_causal(name):
    check_causal_with_and_without_mask(_make(name).eval(), 8, length=48, t0=20, pad_row=0, pad_from=40)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_influences_real_positions(name, bidirectional):
    m = _make(name, bidirectional).eval()
    check_padding_content_ignored(m, 8, length=40, right_pad_from=25, left_pad_to=5, scale=100.0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_bf16_autocast_and_gradients(name, bidirectional):
    check_bf16_autocast_backward(_make(name, bidirectional, dropout=0.1), 8, length=33)


def test_eval_kernel_is_cached():
    m = _make("sgconv").eval()
    calls = []
    orig = m.kernel._compute
    m.kernel._compute = lambda L: calls.append(L) or orig(L)
    x = torch.randn(1, 30, 8)
    with torch.no_grad():
        y1 = m(x)
        y2 = m(x)
    assert calls == [30]
    torch.testing.assert_close(y1, y2)
    m.train()
    m(x)
    m(x)
    assert calls == [30, 30, 30]


def test_prebuilt_kernel_and_bad_configs():
    k = SGConvKernel(8, 64, channels=2, kernel_dim=4)
    assert GlobalConv(8, 64, kernel=k, channels=2).kernel is k
    with pytest.raises(ValueError, match="prebuilt kernel"):
        GlobalConv(8, 64, kernel=k, channels=1)
    with pytest.raises(ValueError, match="unknown kernel"):
        GlobalConv(8, 64, kernel="gconv")
    with pytest.raises(ValueError, match="kernel_dim=128 is larger than l_max=64"):
        GlobalConv(8, 64, kernel="sgconv", kernel_kwargs={"kernel_dim": 128})
    with pytest.raises(ValueError, match="dropout"):
        GlobalConv(8, 64, dropout=1.5)
    with pytest.raises(TypeError, match="kernel must be"):
        GlobalConv(8, 64, kernel=3)
    m = GlobalConv(8, 64, kernel_dim=4)
    with pytest.raises(ValueError, match="x must be"):
        m(torch.randn(2, 10, 7))
    with pytest.raises(ValueError, match="mask must have shape"):
        m(torch.randn(2, 10, 8), torch.ones(2, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match="additive attention mask"):
        m(torch.randn(2, 10, 8), torch.zeros(2, 10).masked_fill_(torch.rand(2, 10) < 0.5, float("-inf")))
