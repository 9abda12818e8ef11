import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqconv.modules.tcn import TCN, tcn_depth_for, tcn_receptive_field
from tests.modules._mixer_checks import (
    check_bf16_autocast,
    check_causal,
    check_gradients,
    check_padding_invariance,
)


@pytest.mark.parametrize("k,f,d,expected", [(2, 2, 3, 8), (3, 3, 4, 81), (4, 2, 3, 22), (3, 1, 5, 11), (5, 5, 1, 5)])
def test_receptive_field_formula(k, f, d, expected):
    assert tcn_receptive_field(k, f, d) == expected


@given(st.integers(2, 7), st.integers(1, 4), st.integers(1, 5000))
@settings(max_examples=50, deadline=None)
def test_depth_is_minimal(k, f, rf):
    d = tcn_depth_for(rf, k, f)
    assert tcn_receptive_field(k, f, d) >= rf
    assert d == 1 or tcn_receptive_field(k, f, d - 1) < rf


@pytest.mark.parametrize("k,f,rf", [(2, 2, 16), (3, 3, 20), (3, 2, 30), (4, 1, 13), (5, 3, 7)])
def test_receptive_field_exact_by_gradient(k, f, rf):
    """Output at t depends on input at t - RF + 1 but not at t - RF."""
    torch.manual_seed(0)
    tcn = TCN(8, kernel_size=k, dilation_factor=f, receptive_field=rf).double()
    R = tcn.receptive_field
    assert R >= rf and R == tcn_receptive_field(k, f, tcn.n_layers)
    L = R + 10
    x = torch.randn(1, L, 8, dtype=torch.float64, requires_grad=True)
    t = L - 1
    tcn(x)[0, t].sum().backward()
    g = x.grad[0].abs().sum(-1)
    assert g[t - R + 1] > 0
    assert torch.all(g[: t - R + 1] == 0)
    assert torch.all(g[t + 1 :] == 0)


def test_noncausal_window_is_centred():
    torch.manual_seed(0)
    tcn = TCN(4, kernel_size=3, dilation_factor=2, n_layers=3, causal=False).double()  # window 15, 7 each side
    L, t = 40, 20
    x = torch.randn(1, L, 4, dtype=torch.float64, requires_grad=True)
    tcn(x)[0, t].sum().backward()
    nz = (x.grad[0].abs().sum(-1) > 0).nonzero().flatten()
    assert nz.min().item() == t - 7 and nz.max().item() == t + 7


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("depthwise", [True, False])
def test_causal(with_mask, depthwise):
    check_causal(TCN(16, kernel_size=3, receptive_field=40, depthwise=depthwise), 16, with_mask=with_mask)


@pytest.mark.parametrize("causal", [True, False])
def test_padding_invariance(causal):
    check_padding_invariance(TCN(16, kernel_size=2, receptive_field=64, causal=causal), 16)


def test_bf16_autocast_and_gradients():
    check_bf16_autocast(TCN(16, receptive_field=30), 16)
    check_gradients(TCN(16, receptive_field=30, depthwise=False), 16)
    check_gradients(TCN(16, receptive_field=30, norm="rmsnorm"), 16)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kernel_size": 1}, "kernel_size"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"receptive_field": 0}, "receptive_field"),
        ({"dilation_factor": 0}, "dilation_factor"),
        ({"n_layers": 0}, "n_layers"),
        ({"activation": "tanhh"}, "activation"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TCN(8, **kwargs)


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"TCN: x must be \(batch, length, 8\)"):
        TCN(8, receptive_field=4)(torch.randn(2, 5, 7))
