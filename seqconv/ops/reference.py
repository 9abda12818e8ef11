"""Slow, obviously correct long convolutions: the definitions every fast path is tested against.

The canonical internal layout used by every backend:

* ``u``: (batch, dim, length)
* ``k``: causal (channels, dim, klen); bidirectional (channels, 2, dim, klen), where ``k[:, 0]`` holds lags
  0, 1, 2, ... and ``k[:, 1]`` holds lags -1, -2, -3, ...
* ``D``: (channels, dim) or ``None``; ``gate``: (batch, channels * dim, length) or ``None``.
* output: (batch, channels * dim, length), channel-major (index ``c * dim + h``).

It is differentiable through plain autograd, so it also serves as the gradient reference.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor


def finish_output(y: Tensor, u: Tensor, D: Optional[Tensor], gate: Optional[Tensor]) -> Tensor:
    """Add the ``D * u`` skip, flatten channels and apply the gate. ``y``: (batch, channels, dim, length)."""
    if D is not None:
        y = y + D[None, :, :, None] * u[:, None]
    y = y.flatten(1, 2)
    return y * gate if gate is not None else y


def direct_conv(
    u: Tensor, k: Tensor, D: Optional[Tensor] = None, bidirectional: bool = False, gate: Optional[Tensor] = None
) -> Tensor:
    """Time-domain long convolution by an explicit sum over lags, O(length * klen).

    ``y[b, c, h, t] = sum_{s=0}^{t} k0[c, h, s] u[b, h, t - s] + sum_{j>=0} k1[c, h, j] u[b, h, t + j + 1]
    + D[c, h] u[b, h, t]``, the second sum only when ``bidirectional``.
    """
    L = u.shape[-1]
    k0, k1 = (k[:, 0], k[:, 1]) if bidirectional else (k, None)
    y = u.new_zeros(u.shape[0], k0.shape[0], u.shape[1], L)
    for s in range(min(k0.shape[-1], L)):  # lag s >= 0: output t reads input t - s
        y[..., s:] = y[..., s:] + k0[None, :, :, s, None] * u[:, None, :, : L - s]
    if k1 is not None:
        for j in range(min(k1.shape[-1], L - 1)):  # lag -(j + 1): output t reads input t + j + 1
            y[..., : L - j - 1] = y[..., : L - j - 1] + k1[None, :, :, j, None] * u[:, None, :, j + 1 :]
    return finish_output(y, u, D, gate)
