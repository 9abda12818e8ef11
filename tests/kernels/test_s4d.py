import math

import pytest
import torch

from seqconv.kernels import S4DKernel, s4d_vandermonde


def _recurrence_kernel(kern: S4DKernel, L: int) -> torch.Tensor:
    """Unroll x_t = dA x_{t-1} + dB u_t, y_t = 2 Re(C x_t) for an impulse u = delta_0."""
    dA, dB, C = kern.discretize()
    x = torch.zeros_like(dA)
    ys = []
    for t in range(L):
        x = dA * x + dB * (1.0 if t == 0 else 0.0)
        ys.append(2 * torch.einsum("chn,hn->ch", C, x).real)
    return torch.stack(ys, dim=-1)


@pytest.mark.parametrize("channels,bidirectional", [(1, False), (2, False), (2, True)])
def test_vandermonde_equals_recurrence_float64(channels, bidirectional):
    torch.manual_seed(0)
    kern = S4DKernel(5, 64, channels=channels, bidirectional=bidirectional, d_state=8, dt_min=0.01, dt_max=0.5).double()
    L = 40
    ref = _recurrence_kernel(kern, L)  # (C_int, H, L)
    out = kern(L)
    if bidirectional:
        out = torch.cat([out[:, 0], out[:, 1]], dim=0)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)  # float64: only round-off differs


def test_chunked_vandermonde():
    torch.manual_seed(0)
    C = torch.randn(2, 3, 4, dtype=torch.complex128)
    dtA = -torch.rand(3, 4, dtype=torch.float64) + 1j * torch.rand(3, 4, dtype=torch.float64)
    full = s4d_vandermonde(C, dtA, 50)
    torch.testing.assert_close(s4d_vandermonde(C, dtA, 50, chunk_elems=13), full)


def test_init_and_hints():
    torch.manual_seed(0)
    kern = S4DKernel(100, 64, d_state=16)
    dt = torch.exp(kern.log_dt)
    assert torch.all((dt >= 1e-3) & (dt <= 1e-1))
    A = -torch.exp(kern.log_A_real) + 1j * kern.A_imag
    torch.testing.assert_close(A.real, torch.full((100, 8), -0.5))
    torch.testing.assert_close(A.imag, math.pi * torch.arange(8.0).expand(100, 8))
    for p in (kern.log_dt, kern.log_A_real, kern.A_imag):
        assert p._optim == {"lr": 1e-3, "weight_decay": 0.0}
    assert not hasattr(kern.C, "_optim")
    assert kern(64).shape == (1, 100, 64)


def test_gradients():
    kern = S4DKernel(3, 16, d_state=4)
    kern(16).square().sum().backward()
    for name, p in kern.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_bad_config():
    with pytest.raises(ValueError, match="d_state"):
        S4DKernel(4, 16, d_state=7)
    with pytest.raises(ValueError, match="dt_min"):
        S4DKernel(4, 16, dt_min=0.5, dt_max=0.1)
