"""Learned-butterfly extension of the Monarch FFT conv (FlashButterfly's learned variant, REFERENCE §1).

The small DFT blocks of the Monarch FFT become per-feature trainable complex matrices (stored as real/imag parameter
pairs), initialised to the exact DFT (forward blocks) and conjugate DFT (inverse blocks); twiddle factors are fixed
buffers. Same FLOPs as the Monarch FFT conv, more expressive. Choices (not fixed by the paper summary):

* both the transform of ``u`` and the inverse transform are learned; the kernel spectrum is the *exact* FFT of ``k``
  (in Monarch-permuted order), so kernels from any parameterization plug in unchanged;
* the output is the real part of the learned inverse transform (once trained the map need not be real-preserving,
  so the batch-pair packing of :func:`seqconv.ops.monarch.monarch_conv` is not used);
* one FFT size ``n`` fixed at construction from ``l_max``; inputs up to ``l_max`` long are zero-padded to it.

Every DFT-block parameter carries ``_optim = {"lr": lr, "weight_decay": 0.0}`` (default lr 1e-3, configurable).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from .monarch import _perm_list, conv_fft_size, monarch_factors, padded_kernel

__all__ = ["LearnedButterflyConv"]


def _cis(num: Tensor, den: int) -> tuple[Tensor, Tensor]:
    ang = (-2.0 * math.pi / den) * (num % den).to(torch.float64)
    return ang.cos(), ang.sin()


def _outer(a: int, b: int) -> Tensor:
    return torch.arange(a)[:, None] * torch.arange(b)[None, :]


class LearnedButterflyConv(nn.Module):
    """Long convolution through a learnable Monarch (butterfly) transform.

    Args:
        d_model: number of features H (each gets its own DFT blocks).
        l_max: longest input length.
        bidirectional: kernels are (2, H, klen) non-causal (lags -klen..klen-1) instead of (H, klen) causal.
        order: Monarch order (None: by FFT size, see :func:`seqconv.ops.monarch.monarch_factors`).
        lr: learning-rate hint stored in each block's ``_optim``.
        dtype: parameter dtype (float32 or float64; blocks are computed in float64 and cast, so a float64 module is
            exact to float64 precision, while ``.double()`` on a float32 module keeps float32-rounded blocks).

    forward(u, k, D=None, bidirectional=None): u (batch, length, H) with length <= l_max; k (H, klen) or
    (2, H, klen); D optional (H,). Returns (batch, length, H) in u's dtype. At initialisation it equals the FFT
    long convolution ``long_conv(u, k, D, bidirectional=...)``.
    """

    def __init__(self, d_model: int, l_max: int, bidirectional: bool = False, order: Optional[int] = None,
                 lr: float = 1e-3, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if d_model < 1 or l_max < 1:
            raise ValueError(f"d_model and l_max must be >= 1, got d_model={d_model}, l_max={l_max}")
        self.d_model, self.l_max, self.bidirectional = d_model, l_max, bidirectional
        self.n = conv_fft_size(l_max, l_max, bidirectional)
        self.factors = monarch_factors(self.n, order)
        self.fwd_re, self.fwd_im = nn.ParameterList(), nn.ParameterList()
        self.inv_re, self.inv_im = nn.ParameterList(), nn.ParameterList()
        for f in self.factors:
            re, im = _cis(_outer(f, f), f)
            blocks = [re, im, re, -im]  # forward DFT, inverse = conjugate DFT
            for plist, mat in zip((self.fwd_re, self.fwd_im, self.inv_re, self.inv_im), blocks):
                p = nn.Parameter(mat.to(dtype).expand(d_model, f, f).clone())
                p._optim = {"lr": lr, "weight_decay": 0.0}
                plist.append(p)
        rest = self.n
        for i, f in enumerate(self.factors[:-1]):
            m = rest // f
            re, im = _cis(_outer(f, m), rest)
            self.register_buffer(f"tw_re{i}", re.to(dtype), persistent=False)
            self.register_buffer(f"tw_im{i}", im.to(dtype), persistent=False)
            rest = m
        self.register_buffer("perm", torch.tensor(_perm_list(self.factors)), persistent=False)

    def _mats(self, inverse: bool) -> list[Tensor]:
        re, im = (self.inv_re, self.inv_im) if inverse else (self.fwd_re, self.fwd_im)
        return [torch.complex(r, i) for r, i in zip(re, im)]

    def _twiddle(self, i: int) -> Tensor:
        return torch.complex(getattr(self, f"tw_re{i}"), getattr(self, f"tw_im{i}"))

    def _forward_transform(self, x: Tensor, mats: list[Tensor], stage: int = 0) -> Tensor:
        """x (batch, H, *rest, n_stage) complex -> Monarch-permuted spectrum (same shape)."""
        if stage == len(self.factors) - 1:
            return torch.einsum("bh...j,hjk->bh...k", x, mats[stage])
        n1 = self.factors[stage]
        y = x.reshape(*x.shape[:-1], n1, x.shape[-1] // n1)
        y = torch.einsum("hij,bh...jm->bh...im", mats[stage], y) * self._twiddle(stage)
        return self._forward_transform(y, mats, stage + 1).reshape(x.shape)

    def _inverse_transform(self, x: Tensor, mats: list[Tensor], stage: int = 0) -> Tensor:
        """Unnormalised inverse: Monarch-permuted spectrum -> natural time order."""
        if stage == len(self.factors) - 1:
            return torch.einsum("bh...j,hjk->bh...k", x, mats[stage])
        n1 = self.factors[stage]
        y = x.reshape(*x.shape[:-1], n1, x.shape[-1] // n1)
        y = self._inverse_transform(y, mats, stage + 1) * self._twiddle(stage).conj()
        return torch.einsum("hij,bh...jm->bh...im", mats[stage], y).reshape(x.shape)

    def forward(self, u: Tensor, k: Tensor, D: Optional[Tensor] = None,
                bidirectional: Optional[bool] = None) -> Tensor:
        bidir = self.bidirectional if bidirectional is None else bidirectional
        if u.dim() != 3 or u.shape[-1] != self.d_model:
            raise ValueError(f"u must be (batch, length, {self.d_model}), got {tuple(u.shape)}")
        length = u.shape[1]
        if length > self.l_max or (bidir and not self.bidirectional):
            raise ValueError(f"u length {length} (bidirectional={bidir}) exceeds the FFT size built for l_max="
                             f"{self.l_max}, bidirectional={self.bidirectional}; construct with a larger l_max")
        want = (2, self.d_model) if bidir else (self.d_model,)
        if tuple(k.shape[:-1]) != want:
            raise ValueError(f"k must be {(*want, 'klen')} for bidirectional={bidir}, got {tuple(k.shape)}")
        if D is not None and tuple(D.shape) != (self.d_model,):
            raise ValueError(f"D must be ({self.d_model},), got {tuple(D.shape)}")
        rdt = self.fwd_re[0].dtype
        cdt = torch.complex128 if rdt == torch.float64 else torch.complex64
        x = nn.functional.pad(u.transpose(1, 2).to(rdt), (0, self.n - length)).to(cdt)  # (B, H, n)
        kf = padded_kernel(k.to(rdt).unsqueeze(0), length, self.n, bidir)  # (H, n)
        kspec = torch.fft.fft(kf)[:, self.perm]
        spec = self._forward_transform(x, self._mats(False)) * kspec
        y = self._inverse_transform(spec, self._mats(True)).real[..., :length] / self.n
        if D is not None:
            y = y + D.to(rdt)[:, None] * u.transpose(1, 2).to(rdt)
        return y.transpose(1, 2).to(u.dtype)
