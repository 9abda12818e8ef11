"""LearnedButterflyConv: exact FFT conv at initialisation (float64) and trainable DFT blocks."""

import pytest
import torch

from seqconv.ops.butterfly import LearnedButterflyConv
from seqconv.ops.monarch import monarch_conv

# float64 FFT round-off at n <= 4096 is ~1e-13 (see test_monarch.py)
ATOL = 1e-10


@pytest.mark.parametrize("length,l_max,bidirectional,order", [(37, 40, False, None), (40, 40, True, None),
                                                              (1500, 1500, False, 3)])
def test_init_equals_fft_conv(length, l_max, bidirectional, order):
    mod = LearnedButterflyConv(3, l_max, bidirectional=bidirectional, order=order, dtype=torch.float64)
    u = torch.randn(2, length, 3, dtype=torch.float64)
    k = torch.randn((2, 3, length) if bidirectional else (3, length), dtype=torch.float64)
    D = torch.randn(3, dtype=torch.float64)
    y = mod(u, k, D)
    ref = monarch_conv(u.transpose(1, 2), k.unsqueeze(0), D, bidirectional).transpose(1, 2)
    torch.testing.assert_close(y, ref, atol=ATOL, rtol=0)


def test_blocks_get_gradients_and_optim_hint():
    mod = LearnedButterflyConv(2, 64, lr=5e-4)
    u = torch.randn(3, 64, 2)
    k = torch.randn(2, 64, requires_grad=True)
    mod(u, k).square().sum().backward()
    blocks = [*mod.fwd_re, *mod.fwd_im, *mod.inv_re, *mod.inv_im]
    assert len(blocks) == 4 * len(mod.factors)
    for p in blocks:
        assert p.grad is not None and p.grad.abs().sum() > 0
        assert p._optim == {"lr": 5e-4, "weight_decay": 0.0}
    assert k.grad is not None and k.grad.abs().sum() > 0
    assert not any(name.startswith("tw_") for name, _ in mod.named_parameters())


def test_bad_inputs():
    mod = LearnedButterflyConv(2, 16)
    with pytest.raises(ValueError, match="l_max"):
        mod(torch.randn(1, 17, 2), torch.randn(2, 17))
    with pytest.raises(ValueError, match="k must be"):
        mod(torch.randn(1, 16, 2), torch.randn(3, 16))
