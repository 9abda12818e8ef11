"""Monarch FFT (pure PyTorch) against torch.fft and the time-domain reference, in float64."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqconv.ops.monarch import (
    conv_fft_size,
    monarch_conv,
    monarch_factors,
    monarch_fft,
    monarch_ifft,
    monarch_irfft,
    monarch_permutation,
    monarch_rfft,
    monarch_supports,
    skip_rows,
)

# float64 FFTs of size <= 8192 with O(1) inputs have rounding error ~1e-13; 1e-10 leaves margin yet catches any
# algorithmic error (a wrong twiddle/permutation gives O(1) differences).
ATOL = 1e-10


def direct_conv(u, k, D, bidirectional, gate):
    """Obviously-correct time-domain conv in the backend layout (batch, dim, length)."""
    b, h, length = u.shape
    c = k.shape[0]
    y = torch.zeros(b, c, h, length, dtype=u.dtype)
    k0 = k[:, 0] if bidirectional else k
    for t in range(length):
        for s in range(length):
            lag = t - s
            if 0 <= lag < k0.shape[-1]:
                y[..., t] += k0[None, ..., lag] * u[:, None, :, s]
            elif lag < 0 and bidirectional and -lag - 1 < k.shape[-1]:
                y[..., t] += k[None, :, 1, :, -lag - 1] * u[:, None, :, s]
    y = y.reshape(b, c * h, length)
    if D is not None:
        y = y + skip_rows(D, c, h)[:, None] * u.repeat(1, c, 1)
    return y * gate if gate is not None else y


# order 1 is one dense n x n DFT matrix: only at small n (it is slow and memory-hungry beyond)
@pytest.mark.parametrize("n,order", [(n, o) for n in (2, 16, 64, 512, 2048, 4096, 8192) for o in (None, 1, 2, 3)
                                     if o != 1 or n <= 512])
def test_dft_matches_torch_fft(n, order):
    x = torch.randn(3, n, dtype=torch.complex128)
    torch.testing.assert_close(monarch_fft(x, order), torch.fft.fft(x), atol=ATOL, rtol=0)
    torch.testing.assert_close(monarch_ifft(x, order), torch.fft.ifft(x), atol=ATOL, rtol=0)
    perm = monarch_permutation(n, order)
    torch.testing.assert_close(monarch_fft(x, order, natural=False), torch.fft.fft(x)[..., perm], atol=ATOL, rtol=0)
    roundtrip = monarch_ifft(monarch_fft(x, order, natural=False), order, natural=False)
    torch.testing.assert_close(roundtrip, x, atol=ATOL, rtol=0)


@pytest.mark.parametrize("n", [2, 4, 32, 1024, 8192])
def test_real_fft_matches_torch(n):
    x = torch.randn(2, 3, n, dtype=torch.float64)
    torch.testing.assert_close(monarch_rfft(x), torch.fft.rfft(x), atol=ATOL, rtol=0)
    spec = torch.randn(2, n // 2 + 1, dtype=torch.complex128)
    torch.testing.assert_close(monarch_irfft(spec, n), torch.fft.irfft(spec, n), atol=ATOL, rtol=0)


def test_factors_and_errors():
    assert monarch_factors(2048) == (64, 32)
    assert monarch_factors(4096) == (16, 16, 16)
    assert monarch_factors(8192) == (32, 16, 16)
    assert monarch_factors(8, order=5) == (2, 2, 2)
    with pytest.raises(ValueError, match="power of two"):
        monarch_fft(torch.randn(12, dtype=torch.complex128))
    with pytest.raises(ValueError, match="k has dim"):
        monarch_conv(torch.randn(1, 3, 8), torch.randn(1, 2, 8))
    with pytest.raises(ValueError, match="gate"):
        monarch_conv(torch.randn(1, 2, 8), torch.randn(1, 2, 8), gate=torch.randn(1, 2, 7))


@settings(max_examples=25, deadline=None)
@given(
    b=st.integers(1, 3), h=st.integers(1, 3), c=st.integers(1, 2), length=st.integers(1, 23),
    klen=st.integers(1, 29), bidirectional=st.booleans(), use_d=st.booleans(), use_gate=st.booleans(),
)
def test_conv_matches_direct(b, h, c, length, klen, bidirectional, use_d, use_gate):
    g = torch.Generator().manual_seed(length * 31 + klen)
    u = torch.randn(b, h, length, dtype=torch.float64, generator=g)
    kshape = (c, 2, h, klen) if bidirectional else (c, h, klen)
    k = torch.randn(kshape, dtype=torch.float64, generator=g)
    D = torch.randn(c, h, dtype=torch.float64, generator=g) if use_d else None
    gate = torch.randn(b, c * h, length, dtype=torch.float64, generator=g) if use_gate else None
    y = monarch_conv(u, k, D, bidirectional, gate)
    torch.testing.assert_close(y, direct_conv(u, k, D, bidirectional, gate), atol=ATOL, rtol=0)
    assert monarch_supports(u, k, bidirectional) is None


@pytest.mark.parametrize("length,bidirectional", [(1000, False), (3000, True)])
def test_conv_matches_fft_long(length, bidirectional):
    """Long rows (order 2 and order 3 FFT sizes) against a torch.fft conv."""
    u = torch.randn(3, 2, length, dtype=torch.float64)
    k = torch.randn((1, 2, 2, length) if bidirectional else (1, 2, length), dtype=torch.float64) / length**0.5
    n = conv_fft_size(length, length, bidirectional)
    from seqconv.ops.monarch import padded_kernel

    kf = padded_kernel(k, length, n, bidirectional)
    ref = torch.fft.irfft(torch.fft.rfft(u, n) * torch.fft.rfft(kf, n), n)[..., :length]
    torch.testing.assert_close(monarch_conv(u, k, None, bidirectional), ref, atol=ATOL, rtol=0)


def test_conv_low_precision_dtype_and_grad():
    u = torch.randn(2, 3, 50, dtype=torch.float16)
    y = monarch_conv(u, torch.randn(1, 3, 50), torch.randn(3))
    assert y.dtype == torch.float16 and y.shape == (2, 3, 50)
    u64 = torch.randn(3, 2, 9, dtype=torch.float64, requires_grad=True)
    k64 = torch.randn(2, 2, 2, 6, dtype=torch.float64, requires_grad=True)
    d64 = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    g64 = torch.randn(3, 4, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: monarch_conv(a[0], a[1], a[2], True, a[3]), (u64, k64, d64, g64))


def test_registered_backend_matches_fft():
    from seqconv.ops import long_conv

    u = torch.randn(2, 40, 3, dtype=torch.float64)
    k = torch.randn(3, 40, dtype=torch.float64)
    D = torch.randn(3, dtype=torch.float64)
    torch.testing.assert_close(long_conv(u, k, D, backend="monarch"), long_conv(u, k, D, backend="fft"),
                               atol=ATOL, rtol=0)
