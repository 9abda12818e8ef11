"""long_conv: FFT and conv1d paths against the time-domain reference, gradients, causality, dtypes, errors."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqconv.ops import available_backends, clear_spectrum_cache, fft_size, long_conv, next_fast_len
from seqconv.ops import fftconv as fftconv_module

F64 = torch.float64
# float64 FFT round-off grows like eps * log(n) * |u| |k| sqrt(klen); with unit normals and lengths < 300 it stays
# far below 1e-10, so any larger error is a real indexing bug.
ATOL64 = 1e-10


def make(batch, length, dim, klen, channels, bidirectional, dtype=F64, with_D=True, with_gate=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, length, dim, generator=g, dtype=dtype)
    kshape = (channels, 2, dim, klen) if bidirectional else (channels, dim, klen)
    k = torch.randn(*kshape, generator=g, dtype=dtype)
    D = torch.randn(channels, dim, generator=g, dtype=dtype) if with_D else None
    gate = torch.randn(batch, length, channels * dim, generator=g, dtype=dtype) if with_gate else None
    return u, k, D, gate


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 3),
    length=st.sampled_from([1, 2, 3, 5, 7, 11, 13, 31, 61, 64, 97, 127, 128, 251]),
    dim=st.integers(1, 4),
    klen_kind=st.sampled_from(["short", "equal", "long", "tiny"]),
    channels=st.integers(1, 3),
    bidirectional=st.booleans(),
    with_D=st.booleans(),
    with_gate=st.booleans(),
)
def test_fft_and_conv1d_match_reference(batch, length, dim, klen_kind, channels, bidirectional, with_D, with_gate):
    klen = {"short": max(1, length // 3), "equal": length, "long": 2 * length + 5, "tiny": 3}[klen_kind]
    u, k, D, gate = make(batch, length, dim, klen, channels, bidirectional, with_D=with_D, with_gate=with_gate)
    ref = long_conv(u, k, D, bidirectional=bidirectional, gate=gate, backend="direct")
    assert ref.shape == (batch, length, channels * dim)
    for backend in ("fft", "conv1d", "auto"):
        y = long_conv(u, k, D, bidirectional=bidirectional, gate=gate, backend=backend)
        torch.testing.assert_close(y, ref, atol=ATOL64, rtol=0)


def test_direct_reference_by_hand():
    # u = [1, 2, 3], k0 = [1, 10], k1 = [100]: y[t] = u[t] + 10 u[t-1] + 100 u[t+1]
    u = torch.tensor([1.0, 2.0, 3.0], dtype=F64).view(1, 3, 1)
    k = torch.tensor([[[1.0, 10.0]], [[100.0, 0.0]]], dtype=F64)
    y = long_conv(u, k, bidirectional=True, backend="direct").flatten()
    assert y.tolist() == [201.0, 312.0, 23.0]
    y_causal = long_conv(u, k[0], backend="direct").flatten()
    assert y_causal.tolist() == [1.0, 12.0, 23.0]


def test_layouts_agree():
    u, k, D, gate = make(2, 37, 3, 37, 2, True, with_gate=True)
    y_blh = long_conv(u, k, D, bidirectional=True, gate=gate)
    y_bhl = long_conv(u.transpose(1, 2), k, D, bidirectional=True, gate=gate.transpose(1, 2), layout="BHL")
    torch.testing.assert_close(y_blh, y_bhl.transpose(1, 2), atol=ATOL64, rtol=0)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("channels", [1, 2])
def test_gradcheck_float64(bidirectional, channels):
    u, k, D, gate = make(2, 19, 3, 23, channels, bidirectional, with_gate=True)
    args = [t.requires_grad_() for t in (u, k, D, gate)]

    def f(u, k, D, gate):
        return long_conv(u, k, D, bidirectional=bidirectional, gate=gate, backend="fft")

    assert torch.autograd.gradcheck(f, args)


@pytest.mark.parametrize("batch, channels, bidirectional", [(1, 1, False), (2, 1, True), (1, 2, False), (2, 2, True)])
def test_blocked_transforms_match_reference(monkeypatch, batch, channels, bidirectional):
    # a budget of one value per block forces one block per dim (5 blocks) in the training forward and backward
    length, dim = 29, 5
    monkeypatch.setattr(fftconv_module, "_BLOCK_ELEMENTS", 1)
    monkeypatch.setattr(fftconv_module, "_BLOCK_MIN_ROWS", 1)
    u, k, D, gate = make(batch, length, dim, length, channels, bidirectional, with_gate=True)
    for with_gate in (False, True):
        g = gate if with_gate else None
        ref = long_conv(u, k, D, bidirectional=bidirectional, gate=g, backend="direct")
        with torch.no_grad():  # inference: cached spectrum, one block
            torch.testing.assert_close(long_conv(u, k, D, bidirectional=bidirectional, gate=g), ref, atol=ATOL64, rtol=0)
        args = [t.clone().requires_grad_() for t in (u, k, D) + ((gate,) if with_gate else ())]
        assert torch.autograd.gradcheck(
            lambda u, k, D, *gate: long_conv(u, k, D, bidirectional=bidirectional, gate=gate[0] if gate else None),
            args,
        )
    # frozen kernel and skip (the cached spectrum is saved): gradients for u (and the gate) only
    uu, gg = u.clone().requires_grad_(), gate.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda uu, gg: long_conv(uu, k, D, bidirectional=bidirectional, gate=gg), [uu, gg])


def test_gradients_match_reference_without_optional_inputs():
    u, k, _, _ = make(3, 40, 2, 16 + 1, 1, False)
    for backend in ("fft", "direct"):
        uu, kk = u.clone().requires_grad_(), k.clone().requires_grad_()
        long_conv(uu, kk, backend=backend).pow(2).sum().backward()
        if backend == "fft":
            gu, gk = uu.grad, kk.grad
    torch.testing.assert_close(gu, uu.grad, atol=1e-9, rtol=0)
    torch.testing.assert_close(gk, kk.grad, atol=1e-9, rtol=0)


@pytest.mark.parametrize("backend", ["fft", "conv1d", "direct"])
def test_causality(backend):
    u, k, D, _ = make(2, 64, 3, 64, 2, False)
    t0 = 29
    y = long_conv(u, k, D, backend=backend)
    u2 = u.clone()
    u2[:, t0:] = torch.randn_like(u2[:, t0:])
    y2 = long_conv(u2, k, D, backend=backend)
    torch.testing.assert_close(y2[:, :t0], y[:, :t0], atol=ATOL64, rtol=0)
    assert (y2[:, t0:] - y[:, t0:]).abs().max() > 1e-3


def test_bidirectional_sees_the_future():
    u, k, _, _ = make(1, 32, 2, 32, 1, True)
    y = long_conv(u, k, bidirectional=True)
    u2 = u.clone()
    u2[:, -1] += 1.0
    assert (long_conv(u2, k, bidirectional=True)[:, 0] - y[:, 0]).abs().max() > 1e-6


def test_long_kernel_is_truncated_and_short_is_padded():
    u, k, _, _ = make(2, 50, 2, 80, 1, False)
    torch.testing.assert_close(long_conv(u, k), long_conv(u, k[..., :50]), atol=ATOL64, rtol=0)
    padded = torch.nn.functional.pad(k[..., :20], (0, 30))
    torch.testing.assert_close(long_conv(u, k[..., :20]), long_conv(u, padded), atol=ATOL64, rtol=0)


def test_fft_size_is_fast_and_sufficient():
    assert next_fast_len(1) == 2
    for target in [3, 7, 97, 1000, 1025, 4097, 65537, 10**6 + 1]:
        n = next_fast_len(target)
        assert n >= target and n % 2 == 0
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        assert m == 1, n
        assert n <= 2 * 2 ** (target - 1).bit_length()
    # a prime length gets far less than 2 * next_pow2 padding
    assert fft_size(1031, 1031) < 2 * 2048
    assert fft_size(1 << 20, 1 << 20) == 1 << 21


def test_length_one_and_a_million():
    u, k, D, _ = make(1, 1, 2, 5, 1, True)
    y = long_conv(u, k, D, bidirectional=True)
    torch.testing.assert_close(y, u * k[0, 0, :, 0] + u * D, atol=ATOL64, rtol=0)
    L = 1 << 20
    u = torch.randn(1, L, 1)
    k = torch.zeros(1, L)
    k[0, 3] = 1.0  # pure delay by 3
    y = long_conv(u, k)
    torch.testing.assert_close(y[0, 3:, 0], u[0, :-3, 0], atol=1e-5, rtol=0)
    assert y[0, :3].abs().max() < 1e-5


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_close_to_fp32(dtype):
    u, k, D, gate = make(2, 300, 4, 300, 2, True, dtype=torch.float32, with_gate=True)
    k = k / 300**0.5
    y32 = long_conv(u, k, D, bidirectional=True, gate=gate)
    y = long_conv(u.to(dtype), k.to(dtype), D.to(dtype), bidirectional=True, gate=gate.to(dtype))
    assert y.dtype == dtype
    # The FFT runs in fp32, so the error is the input rounding (rel. 2^-11 fp16, 2^-8 bf16) of u, k, D and gate
    # propagated through a sum of ~300 terms of random sign (grows like sqrt), plus the output rounding.
    eps = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}[dtype]
    scale = y32.abs().max().item()
    assert (y.float() - y32).abs().max().item() < 8 * eps * scale


def test_low_precision_gradients_keep_dtypes():
    u, k, D, _ = make(2, 64, 3, 64, 1, False, dtype=torch.bfloat16)
    u.requires_grad_()
    k32 = k.float().requires_grad_()
    D.requires_grad_()
    long_conv(u, k32, D).float().sum().backward()
    assert u.grad.dtype == torch.bfloat16 and k32.grad.dtype == torch.float32 and D.grad.dtype == torch.bfloat16


def test_spectrum_cache_reuses_and_invalidates():
    clear_spectrum_cache()
    u, k, D, _ = make(2, 100, 3, 100, 1, False, dtype=torch.float32)
    k, D = k[0].clone(), D[0].clone()  # 2-D kernel and 1-D D: long_conv passes fresh views of them every call
    calls = []
    original = fftconv_module._circular_kernel

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    fftconv_module._circular_kernel = counting
    try:
        with torch.no_grad():
            y1 = long_conv(u, k, D)
            y2 = long_conv(u, k, D)
            assert torch.equal(y1, y2)
            n_first = len(calls)
            k.mul_(2.0)  # in-place change bumps the version counter: the cache must notice
            D.mul_(2.0)
            y3 = long_conv(u, k, D)
            n_third = len(calls)
            D.add_(1.0)  # so must a change of D alone
            y4 = long_conv(u, k, D)
        torch.testing.assert_close(y3, 2 * y1, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(y4, y3 + u, rtol=1e-5, atol=1e-5)
        # the first call built the spectrum, the second reused it, the third and fourth rebuilt it
        assert (n_first, n_third, len(calls)) == (1, 2, 3)
    finally:
        fftconv_module._circular_kernel = original
        clear_spectrum_cache()


def test_inference_mode_skips_the_cache():
    u, k, _, _ = make(2, 50, 3, 50, 1, False, dtype=torch.float32)
    expected = long_conv(u, k)
    with torch.inference_mode():
        u_inf, k_inf = u.clone(), k.clone()
        torch.testing.assert_close(long_conv(u_inf, k_inf), expected)


def test_backward_saves_less_than_plain_autograd():
    L = 4096
    u = torch.randn(4, 8, L, requires_grad=True)
    k = torch.randn(8, L, requires_grad=True)
    D = torch.randn(8, requires_grad=True)

    def plain(u, k, D):
        n = 2 * L
        return torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(k, n=n), n=n)[..., :L] + u * D[:, None]

    def saved_bytes(fn):
        storages = {}

        def pack(t):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(u, k, D)
        return sum(storages.values())

    ours = saved_bytes(lambda u, k, D: long_conv(u, k, D, layout="BHL"))
    assert ours <= saved_bytes(plain)
    # exactly the tensors the caller already holds -- u, k (its circular layout is a view of it) and D -- and no
    # spectrum: a complex64 spectrum of n // 2 + 1 >= L values would be twice the size of its float32 signal
    assert ours == (u.numel() + k.numel() + D.numel()) * 4
    assert ours < (u.numel() + k.numel()) * 8 * (fft_size(L, L) // 2 + 1) // L


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda u, k: long_conv(u[0], k), r"`u` must have rank 3"),
        (lambda u, k: long_conv(u, k[:2]), r"`k` has dim 2 but `u` has dim 3"),
        (lambda u, k: long_conv(u[:, :0], k), r"empty length"),
        (lambda u, k: long_conv(u, k[None, None]), r"causal `k` must be"),
        (lambda u, k: long_conv(u, k, bidirectional=True), r"bidirectional=True `k` must be"),
        (lambda u, k: long_conv(u, k, torch.ones(4)), r"`D` must be"),
        (lambda u, k: long_conv(u, k, gate=torch.ones(2, 10, 4)), r"`gate` must have the output's shape"),
        (lambda u, k: long_conv(u, k, layout="LBH"), r"`layout`"),
        (lambda u, k: long_conv(u, k, backend="cufft"), r"unknown backend 'cufft'"),
    ],
)
def test_bad_shapes_raise_value_error(call, match):
    u, k, _, _ = make(2, 10, 3, 10, 1, False, dtype=torch.float32)
    with pytest.raises(ValueError, match=match):
        call(u, k[0])


def test_bad_types_raise_type_error():
    u, k, _, _ = make(2, 10, 3, 10, 1, False, dtype=torch.float32)
    with pytest.raises(TypeError, match="`u` must be real"):
        long_conv(u.to(torch.complex64), k)
    with pytest.raises(TypeError, match="`k` must be a floating tensor"):
        long_conv(u, k.long())
    with pytest.raises(TypeError, match="`u` must be a torch.Tensor"):
        long_conv(u.numpy(), k)


def test_kernel_on_another_device_is_rejected():
    u, k, _, _ = make(2, 10, 3, 10, 1, False, dtype=torch.float32)
    with pytest.raises(ValueError, match="`k` is on meta but `u` is on cpu"):
        long_conv(u, k.to("meta"))


def test_registered_backends():
    assert {"direct", "conv1d", "fft"} <= set(available_backends())
