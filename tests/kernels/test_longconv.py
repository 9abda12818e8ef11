import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqconv.kernels import LongConvKernel, smooth_gaussian_freq, smooth_moving_average, squash


def test_init_and_hints():
    torch.manual_seed(0)
    k = LongConvKernel(64, 256, channels=2, lam=0.0)
    assert k.kernel.shape == (2, 64, 256)
    assert abs(k.kernel.std().item() - 0.002) < 2e-4  # 32k samples: relative std error ~0.4%
    assert k.kernel._optim == {"lr": 1e-3, "weight_decay": 0.0}
    assert LongConvKernel(4, 8, lr=1e-4).kernel._optim["lr"] == 1e-4


def test_squash_formula():
    x = torch.tensor([-0.005, -0.002, -0.001, 0.0, 0.0015, 0.003])
    torch.testing.assert_close(squash(x, 0.002), torch.tensor([-0.003, 0.0, 0.0, 0.0, 0.0, 0.001]))
    torch.manual_seed(0)
    k = LongConvKernel(4, 32, lam=0.002)
    torch.testing.assert_close(k(32), squash(k.kernel, 0.002))
    assert (k(32) == 0).float().mean() > 0.5  # |N(0, 0.002)| < 0.002 for 68% of taps


def test_moving_average_matches_loop():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 20, dtype=torch.float64)
    ref = torch.zeros_like(x)
    for t in range(20):
        lo, hi = max(0, t - 3), min(20, t + 4)
        ref[..., t] = x[..., lo:hi].sum(-1) / 7  # zero padding counted in the average
    torch.testing.assert_close(smooth_moving_average(x, 7), ref)
    with pytest.raises(ValueError, match="odd"):
        smooth_moving_average(x, 4)


@settings(max_examples=15, deadline=None)
@given(L=st.integers(2, 37), window=st.sampled_from([1, 3, 5, 7]))
def test_gaussian_freq_matches_loop(L, window):
    torch.manual_seed(L)
    x = torch.randn(2, L, dtype=torch.float64)
    spec = torch.fft.rfft(x, dim=-1)
    d = torch.arange(window, dtype=torch.float64) - window // 2
    taps = torch.exp(-0.5 * d**2)
    taps = taps / taps.sum()
    out = torch.zeros_like(spec)
    for j in range(spec.shape[-1]):
        for i, off in enumerate(d.long().tolist()):
            if 0 <= j + off < spec.shape[-1]:
                out[..., j] += taps[i] * spec[..., j + off]
    ref = torch.fft.irfft(out, n=L, dim=-1)
    torch.testing.assert_close(smooth_gaussian_freq(x, window), ref)  # float64: exact up to round-off


def test_gaussian_smoothing_tapers_in_time():
    torch.manual_seed(0)
    x = torch.randn(256, 512, dtype=torch.float64)
    y = smooth_gaussian_freq(x, 7)
    mid = y[:, 200:312].abs().mean() / x[:, 200:312].abs().mean()
    ends = y[:, :32].abs().mean() / x[:, :32].abs().mean()
    assert mid < 0.5 * ends  # the Gaussian's transform is a bump at lag 0 (and L, by periodicity)


@pytest.mark.parametrize("smoothing", ["none", "moving_average", "gaussian"])
def test_bidirectional_halves_are_processed_separately(smoothing):
    torch.manual_seed(0)
    k = LongConvKernel(3, 16, channels=2, bidirectional=True, lam=0.001, smoothing=smoothing)
    assert k.kernel.shape == (2, 3, 32)
    out = k(16)
    assert out.shape == (2, 2, 3, 16)
    half = LongConvKernel(3, 16, channels=2, lam=0.001, smoothing=smoothing)
    for s in range(2):
        with torch.no_grad():
            half.kernel.copy_(k.kernel[..., 16 * s : 16 * (s + 1)])
        torch.testing.assert_close(out[:, s], half(16))


def test_kernel_dropout_train_only():
    torch.manual_seed(0)
    k = LongConvKernel(8, 64, lam=0.0, kernel_dropout=0.3)
    out = k(64)
    frac = (out == 0).float().mean().item()
    assert 0.2 < frac < 0.4
    torch.testing.assert_close(out[out != 0], (k.kernel / 0.7)[out != 0])
    k.eval()
    torch.testing.assert_close(k(64), k.kernel)


def test_length_handling():
    k = LongConvKernel(2, 8, lam=0.0)
    torch.testing.assert_close(k(5), k.kernel[..., :5])
    out = k(12)
    torch.testing.assert_close(out[..., :8], k.kernel)
    assert torch.all(out[..., 8:] == 0)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"smoothing": "box"}, "smoothing"), ({"smooth_window": 4}, "odd"), ({"kernel_dropout": 1.0}, "kernel_dropout"),
     ({"lam": -0.1}, "lam")],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LongConvKernel(4, 16, **kwargs)
