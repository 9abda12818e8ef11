"""The TCN's shifted multiply-add path for dilated depthwise convs equals nn.Conv1d (forward and gradients)."""

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from seqconv.modules.tcn import TCN


@settings(max_examples=12, deadline=None)
@given(
    kernel_size=st.integers(2, 5),
    dilation=st.integers(2, 9),
    d_model=st.integers(1, 7),
    length=st.integers(1, 23),
    causal=st.booleans(),
)
def test_shifted_path_matches_conv1d(kernel_size: int, dilation: int, d_model: int, length: int, causal: bool) -> None:
    torch.manual_seed(0)
    tcn = TCN(d_model, kernel_size=kernel_size, n_layers=1, causal=causal).double()
    conv = tcn.convs[0]
    y = torch.randn(2, d_model, length + (kernel_size - 1) * dilation, dtype=torch.float64, requires_grad=True)
    fast = tcn._conv(conv, y, dilation)
    ref = F.conv1d(y, conv.weight, conv.bias, dilation=dilation, groups=d_model)
    # float64: only summation order differs, so agreement to ~1e-12 is expected
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(ref)
    grads_fast = torch.autograd.grad(fast, (y, conv.weight, conv.bias), g)
    grads_ref = torch.autograd.grad(ref, (y, conv.weight, conv.bias), g)
    for a, b in zip(grads_fast, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_tcn_output_unchanged_against_conv_modules() -> None:
    """Whole-layer check: the TCN forward equals a loop that calls each nn.Conv1d module directly."""
    torch.manual_seed(1)
    tcn = TCN(8, kernel_size=3, l_max=40, causal=True).double()
    x = torch.randn(2, 40, 8, dtype=torch.float64)
    ref = x
    for norm, conv, pw, dil in zip(tcn.norms, tcn.convs, tcn.pointwise, tcn.dilations):
        y = F.pad(norm(ref, None).transpose(1, 2), tcn._pad(dil))
        ref = ref + pw(tcn.act(conv(y)).transpose(1, 2))
    torch.testing.assert_close(tcn(x), ref, rtol=1e-12, atol=1e-12)
