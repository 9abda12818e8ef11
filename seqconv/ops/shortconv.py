"""Depthwise ``F.conv1d`` long-convolution backend for short kernels (a few taps).

Same canonical layout and semantics as :func:`seqconv.ops.reference.direct_conv`.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .reference import finish_output


def short_conv(
    u: Tensor, k: Tensor, D: Optional[Tensor] = None, bidirectional: bool = False, gate: Optional[Tensor] = None
) -> Tensor:
    """Depthwise ``F.conv1d`` path, the fastest choice for kernels of a few taps.

    ``conv1d`` computes a cross-correlation, so the taps are reversed: for lags ``-K1 .. K0-1`` the weight is
    ``cat(flip(k0), k1)`` with ``K0 - 1`` zeros of padding on the left and ``K1`` on the right.
    """
    B, H, L = u.shape
    k0, k1 = (k[:, 0], k[:, 1]) if bidirectional else (k, None)
    k0 = k0[..., :L]
    C = k0.shape[0]
    weight = k0.flip(-1)
    right = 0
    if k1 is not None:
        k1 = k1[..., : max(L - 1, 1)]
        weight, right = torch.cat([weight, k1], dim=-1), k1.shape[-1]
    # conv1d with groups=H orders output channels (h, c); weight rows must follow that order.
    weight = weight.transpose(0, 1).reshape(H * C, 1, -1).to(u.dtype)
    y = F.conv1d(F.pad(u, (k0.shape[-1] - 1, right)), weight, groups=H)
    y = y.view(B, H, C, L).transpose(1, 2)
    return finish_output(y, u, D, gate)
