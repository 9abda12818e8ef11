"""Shared property checks for sequence mixers (causality, padding, dtypes, gradients)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def check_causal(mixer: nn.Module, d_model: int, length: int = 37, t0: int = 19, with_mask: bool = False) -> None:
    """Perturbing x at t >= t0 leaves outputs before t0 unchanged (fp32: must be bit-identical up to 1e-6)."""
    mixer.eval()
    torch.manual_seed(0)
    x = torch.randn(2, length, d_model)
    mask = None
    if with_mask:
        mask = torch.ones(2, length, dtype=torch.bool)
        mask[1, length - 5 :] = False  # right padding in the second sequence
    x2 = x.clone()
    x2[:, t0:] += torch.randn_like(x2[:, t0:])
    with torch.no_grad():
        y, y2 = mixer(x, mask), mixer(x2, mask)
    assert y.shape == (2, length, d_model)
    # fp32 reductions over the same prefix: identical math, only FFT/blas reordering -> 1e-5 is generous
    torch.testing.assert_close(y[:, :t0], y2[:, :t0], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(y[:, t0:], y2[:, t0:]), "future perturbation changed nothing at all"


def check_padding_invariance(mixer: nn.Module, d_model: int, length: int = 29, pad: int = 11) -> None:
    """Real positions are identical with or without extra padding (whatever the padding holds)."""
    mixer.eval()
    torch.manual_seed(1)
    x = torch.randn(2, length, d_model)
    xp = torch.cat([x, 100.0 * torch.randn(2, pad, d_model)], dim=1)
    mask = torch.ones(2, length + pad, dtype=torch.bool)
    mask[:, length:] = False
    with torch.no_grad():
        y = mixer(x)
        yp = mixer(xp, mask)
    # same real inputs; padding zeroed/masked -> only summation-order differences in fp32
    torch.testing.assert_close(yp[:, :length], y, atol=1e-4, rtol=1e-4)


def check_bf16_autocast(mixer: nn.Module, d_model: int, length: int = 33) -> None:
    mixer.eval()
    x = torch.randn(2, length, d_model)
    with torch.no_grad():
        ref = mixer(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = mixer(x)
    assert y.shape == ref.shape and torch.isfinite(y).all()
    # bf16 has 8 mantissa bits (~4e-3 relative); a few layers of matmuls -> allow 5e-2 relative to scale
    err = (y.float() - ref).abs().max() / ref.abs().max().clamp_min(1e-6)
    assert err < 5e-2, f"bf16 autocast relative error {err:.3g}"


def check_gradients(mixer: nn.Module, d_model: int, length: int = 31, skip: Callable[[str], bool] = lambda n: False):
    """Every trainable parameter gets a finite, non-zero gradient."""
    mixer.train()
    torch.manual_seed(2)
    x = torch.randn(3, length, d_model, requires_grad=True)
    mask = torch.ones(3, length, dtype=torch.bool)
    mask[2, -4:] = False
    y = mixer(x, mask)
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, p in mixer.named_parameters():
        if not p.requires_grad or skip(name):
            continue
        assert p.grad is not None, f"parameter {name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"parameter {name} has non-finite gradient"
        assert p.grad.abs().sum() > 0, f"parameter {name} has an all-zero gradient"


def check_causal_with_and_without_mask(mixer: nn.Module, d_model: int, length: int, t0: int, pad_row: int,
                                       pad_from: int) -> None:
    """Perturbing x at t >= t0 leaves outputs before t0 unchanged, without a mask and with right padding in row
    ``pad_row`` from ``pad_from`` on; the perturbation does change later outputs. Draws x from the current seed."""
    x = torch.randn(2, length, d_model)
    x2 = x.clone()
    x2[:, t0:] += torch.randn_like(x2[:, t0:])
    mask = torch.ones(2, length, dtype=torch.bool)
    mask[pad_row, pad_from:] = False
    with torch.no_grad():
        for msk in (None, mask):
            y1, y2 = mixer(x, msk), mixer(x2, msk)
            torch.testing.assert_close(y1[:, :t0], y2[:, :t0], rtol=0, atol=1e-5)  # fp32 FFT round-off only
            assert not torch.allclose(y1[:, t0:], y2[:, t0:])


def check_padding_content_ignored(mixer: nn.Module, d_model: int, length: int, right_pad_from: int,
                                  left_pad_to: int, scale: float) -> None:
    """Large random values at padded positions (row 0 right-padded from ``right_pad_from``, row 1 left-padded up
    to ``left_pad_to``) change no real output, and padded outputs are exactly 0. Draws x from the current seed."""
    x = torch.randn(2, length, d_model)
    mask = torch.ones(2, length, dtype=torch.bool)
    mask[0, right_pad_from:] = False
    mask[1, :left_pad_to] = False
    x2 = x.clone()
    x2[~mask] = scale * torch.randn_like(x2[~mask])
    with torch.no_grad():
        y1, y2 = mixer(x, mask), mixer(x2, mask)
    torch.testing.assert_close(y1, y2, rtol=0, atol=1e-5)  # fp32: padding is zeroed, only FFT round-off differs
    assert torch.all(y1[~mask] == 0)


def check_bf16_autocast_backward(mixer: nn.Module, d_model: int, length: int) -> None:
    """A forward under CPU bf16 autocast gives finite bf16 outputs; backward gives every trainable parameter (and
    the input) a finite, non-zero gradient; outside autocast (eval) the output is fp32. Draws x from the current
    seed; the mixer is left in eval mode."""
    x = torch.randn(2, length, d_model, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = mixer(x)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y).all()
    y.float().square().mean().backward()
    for name, p in mixer.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert x.grad is not None
    assert mixer.eval()(x).dtype == torch.float32
