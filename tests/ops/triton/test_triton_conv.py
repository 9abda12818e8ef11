"""Triton fused Monarch conv (run by the interpreter on CPU) against the float64 Monarch/FFT reference."""

import pytest
import torch

pytest.importorskip("triton")

from seqconv.ops.monarch import monarch_conv  # noqa: E402
from seqconv.ops.triton import MAX_N, plan_for, triton_conv, triton_supports  # noqa: E402

pytestmark = pytest.mark.triton


def rel_err(got: torch.Tensor, ref: torch.Tensor) -> float:
    return ((got.double() - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def run_case(b, h, c, length, bidirectional, dtype, use_d=True, use_gate=True, seed=0):
    """Forward + backward of triton_conv in `dtype` vs float64 monarch_conv on the same (rounded) inputs."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(b, h, length, generator=g).to(dtype)
    kshape = (c, 2, h, length) if bidirectional else (c, h, length)
    k = (torch.randn(kshape, generator=g) / length**0.5).to(dtype)
    D = torch.randn(c, h, generator=g).to(dtype) if use_d else None
    gate = torch.randn(b, c * h, length, generator=g).to(dtype) if use_gate else None
    w = torch.randn(b, c * h, length, generator=g, dtype=torch.float64)
    leaves = [x.clone().requires_grad_() if x is not None else None for x in (u, k, D, gate)]
    y = triton_conv(leaves[0], leaves[1], leaves[2], bidirectional, leaves[3])
    assert y.dtype == dtype and y.shape == (b, c * h, length)
    (y.double() * w).sum().backward()
    ref_leaves = [x.double().requires_grad_() if x is not None else None for x in (u, k, D, gate)]
    ref = monarch_conv(ref_leaves[0], ref_leaves[1], ref_leaves[2], bidirectional, ref_leaves[3])
    (ref * w).sum().backward()
    errs = {"y": rel_err(y, ref.detach())}
    for name, got, want in zip("ukDg", leaves, ref_leaves):
        if got is not None:
            errs["grad_" + name] = rel_err(got.grad, want.grad)
    return errs


# fp32: FFT rounding grows like eps32 * log2(N) relative to the largest value (observed ~2e-7); 2e-5 is loose
# enough for any platform yet far below the O(1) error of a wrong twiddle, permutation or mask.
FP32_TOL = 2e-5


@pytest.mark.parametrize("length,bidirectional,b,c", [(256, False, 3, 1), (256, True, 2, 2), (200, False, 1, 2)])
def test_single_pass_fp32(length, bidirectional, b, c):
    assert plan_for(512).single
    errs = run_case(b, 2, c, length, bidirectional, torch.float32)
    assert max(errs.values()) < FP32_TOL, errs


@pytest.mark.parametrize("bidirectional", [False, True])
def test_two_pass_fp32(bidirectional):
    """L = 4096 with a full-length kernel needs N = 8192, the smallest multi-pass FFT size (P=16 x 512)."""
    assert not plan_for(8192).single
    errs = run_case(3, 2, 1, 4096, bidirectional, torch.float32, seed=1)
    assert max(errs.values()) < FP32_TOL, errs


def test_no_skip_no_gate():
    errs = run_case(2, 3, 1, 300, False, torch.float32, use_d=False, use_gate=False)
    assert max(errs.values()) < FP32_TOL, errs


def test_half_precision():
    """fp16 in/out: math is fp32, so the error is the final rounding of y (and of the grads of fp16 leaves) to fp16:
    eps16 = 9.8e-4 relative, i.e. <= 2^-11 * |value| <= 4.9e-4 * max|ref|; 2e-3 allows for rounding of D*u and gate
    products. bf16 (8 mantissa bits, eps 7.8e-3) gets 1.6e-2. bf16 is only loaded/stored, never fed to tl.dot (the
    interpreter computes bf16 dots wrongly)."""
    errs = run_case(2, 2, 1, 256, True, torch.float16)
    assert max(errs.values()) < 2e-3, errs
    errs = run_case(2, 2, 1, 256, False, torch.bfloat16, seed=3)
    assert max(errs.values()) < 1.6e-2, errs


def test_registered_backend():
    from seqconv.ops import long_conv

    u = torch.randn(2, 100, 3)
    k = torch.randn(3, 100) / 10
    D = torch.randn(3)
    torch.testing.assert_close(long_conv(u, k, D, backend="triton"), long_conv(u, k, D, backend="fft"),
                               atol=1e-5, rtol=1e-5)  # fp32, see FP32_TOL


def test_supports_reasons(monkeypatch):
    u = torch.randn(1, 2, 64)
    k = torch.randn(1, 2, 64)
    assert triton_supports(u, k, False) is None
    assert "float64" in triton_supports(u.double(), k.double(), False)
    too_long = MAX_N // 2 + 1
    assert "supports lengths up to" in triton_supports(torch.empty(1, 1, too_long), torch.empty(1, 1, too_long), False)
    assert triton_supports(torch.empty(1, 1, MAX_N // 2), torch.empty(1, 1, MAX_N // 2), False) is None
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert "CUDA" in triton_supports(u, k, False)
    with pytest.raises(RuntimeError, match="CUDA"):
        triton_conv(u, k)
