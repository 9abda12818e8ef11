"""``long_conv``: the one public long-convolution call, with input checks and backend dispatch.

Backends (all computing the same function, see :mod:`seqconv.ops.reference`):

* ``"direct"``  -- time-domain sum over lags, the slow reference.
* ``"conv1d"``  -- depthwise ``F.conv1d``; fastest for kernels of a few taps.
* ``"fft"``     -- torch.fft with a lean custom autograd (:mod:`seqconv.ops.fftconv`).
* ``"monarch"`` / ``"triton"`` -- Monarch (FlashButterfly) FFT convolution, registered by
  :mod:`seqconv.ops.monarch` and :mod:`seqconv.ops.triton` when importable.

``backend="auto"`` picks ``conv1d`` for kernels of at most :data:`SHORT_KERNEL_MAX` taps, ``triton`` on CUDA when
it supports the shape, and ``fft`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from torch import Tensor

from .fftconv import fft_conv
from .reference import direct_conv
from .shortconv import short_conv

__all__ = ["long_conv", "long_conv_reference", "register_backend", "available_backends", "SHORT_KERNEL_MAX"]

SHORT_KERNEL_MAX = 16
"""Kernels with at most this many taps (per direction) go to ``conv1d`` under ``backend="auto"``."""

BackendFn = Callable[[Tensor, Tensor, Optional[Tensor], bool, Optional[Tensor]], Tensor]
SupportsFn = Callable[[Tensor, Tensor, bool], Optional[str]]


@dataclass(frozen=True)
class Backend:
    name: str
    fn: BackendFn
    supports: SupportsFn


_BACKENDS: dict[str, Backend] = {}


def register_backend(name: str, fn: BackendFn, supports: Optional[SupportsFn] = None) -> None:
    """Register a backend ``fn(u, k, D, bidirectional, gate)`` in the canonical (batch, dim, length) layout.

    ``supports(u, k, bidirectional)`` returns ``None`` when the backend can run these inputs, else a sentence
    saying why not (shown to users who ask for that backend explicitly).
    """
    _BACKENDS[name] = Backend(name, fn, supports or (lambda u, k, bidirectional: None))


def available_backends() -> list[str]:
    """Names accepted by ``long_conv(..., backend=...)`` besides ``"auto"``."""
    _load_optional_backends()
    return sorted(_BACKENDS)


register_backend("direct", direct_conv)
register_backend("conv1d", short_conv)
register_backend("fft", fft_conv)

_OPTIONAL_LOADED = False
_OPTIONAL_ERRORS: dict[str, str] = {}


def _load_optional_backends() -> None:
    """Import the Monarch and Triton backends on first use (they register themselves)."""
    global _OPTIONAL_LOADED
    if _OPTIONAL_LOADED:
        return
    _OPTIONAL_LOADED = True
    import importlib

    for name, module in (("monarch", "seqconv.ops.monarch"), ("triton", "seqconv.ops.triton")):
        try:
            importlib.import_module(module)
        except ImportError as exc:  # e.g. triton not installed (macOS, Windows)
            _OPTIONAL_ERRORS[name] = f"importing {module} failed: {exc}"


def _describe(x: Tensor) -> str:
    return f"shape {tuple(x.shape)}, dtype {x.dtype}, device {x.device}"


def _check_tensor(name: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"long_conv: `{name}` must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex():
        raise TypeError(
            f"long_conv: `{name}` must be real; got complex {_describe(x)}. Pass the real part or split it."
        )
    if not x.is_floating_point():
        raise TypeError(f"long_conv: `{name}` must be a floating tensor, got {_describe(x)}; cast with .float()")
    return x


def _canonicalize(
    u: Tensor, k: Tensor, D: Optional[Tensor], gate: Optional[Tensor], bidirectional: bool, layout: str
) -> tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
    """Check every argument and bring it to the canonical layout of :mod:`seqconv.ops.reference`."""
    if layout not in ("BLH", "BHL"):
        raise ValueError(f"long_conv: `layout` must be 'BLH' (batch, length, dim) or 'BHL', got {layout!r}")
    u = _check_tensor("u", u)
    k = _check_tensor("k", k)
    if u.dim() != 3:
        want = "(batch, length, dim)" if layout == "BLH" else "(batch, dim, length)"
        raise ValueError(f"long_conv: `u` must have rank 3 {want}, got {_describe(u)}")
    u = u.transpose(1, 2) if layout == "BLH" else u
    B, H, L = u.shape
    if L == 0:
        raise ValueError(f"long_conv: `u` has an empty length dimension ({_describe(u)}); need length >= 1")
    if H == 0:
        raise ValueError(f"long_conv: `u` has dim 0 ({_describe(u)}); need at least one feature")
    if k.device != u.device:
        raise ValueError(f"long_conv: `k` is on {k.device} but `u` is on {u.device}; move both to one device")
    if bidirectional:
        if k.dim() == 3:
            k = k.unsqueeze(0)
        if k.dim() != 4 or k.shape[1] != 2:
            raise ValueError(
                "long_conv: with bidirectional=True `k` must be (2, dim, klen) or (channels, 2, dim, klen) "
                f"(forward and backward lags); got {_describe(k)}"
            )
    else:
        if k.dim() == 2:
            k = k.unsqueeze(0)
        if k.dim() != 3:
            raise ValueError(f"long_conv: causal `k` must be (dim, klen) or (channels, dim, klen); got {_describe(k)}")
    if k.shape[-2] != H:
        raise ValueError(f"long_conv: `k` has dim {k.shape[-2]} but `u` has dim {H}; k is {_describe(k)}")
    if k.shape[-1] == 0 or k.shape[0] == 0:
        raise ValueError(f"long_conv: `k` is empty ({_describe(k)}); need at least one channel and one tap")
    C = k.shape[0]
    if D is not None:
        D = _check_tensor("D", D)
        if D.device != u.device:
            raise ValueError(f"long_conv: `D` is on {D.device} but `u` is on {u.device}")
        if D.dim() == 1:
            D = D.unsqueeze(0)
        if D.dim() != 2 or D.shape[1] != H or D.shape[0] not in (1, C):
            raise ValueError(f"long_conv: `D` must be (dim,) or (channels, dim) = ({C}, {H}); got {_describe(D)}")
        D = D.expand(C, H)
    if gate is not None:
        gate = _check_tensor("gate", gate)
        gate = gate.transpose(1, 2) if layout == "BLH" and gate.dim() == 3 else gate
        if tuple(gate.shape) != (B, C * H, L):
            want = (B, L, C * H) if layout == "BLH" else (B, C * H, L)
            got = tuple(gate.transpose(1, 2).shape) if layout == "BLH" and gate.dim() == 3 else tuple(gate.shape)
            raise ValueError(f"long_conv: `gate` must have the output's shape {want}, got {got}")
        if gate.device != u.device:
            raise ValueError(f"long_conv: `gate` is on {gate.device} but `u` is on {u.device}")
    return u, k, D, gate


def _select(u: Tensor, k: Tensor, bidirectional: bool, backend: str) -> Backend:
    if backend != "auto":
        if backend not in _BACKENDS:
            _load_optional_backends()
        if backend not in _BACKENDS:
            why = _OPTIONAL_ERRORS.get(backend)
            if why:
                raise RuntimeError(f"long_conv: backend {backend!r} is unavailable: {why}")
            raise ValueError(f"long_conv: unknown backend {backend!r}; choose 'auto' or one of {available_backends()}")
        chosen = _BACKENDS[backend]
        reason = chosen.supports(u, k, bidirectional)
        if reason is not None:
            raise RuntimeError(f"long_conv: backend {backend!r} cannot run these inputs: {reason}")
        return chosen
    taps = min(k.shape[-1], u.shape[-1])
    if taps <= SHORT_KERNEL_MAX:
        return _BACKENDS["conv1d"]
    if u.is_cuda:
        _load_optional_backends()
        triton_backend = _BACKENDS.get("triton")
        if triton_backend is not None and triton_backend.supports(u, k, bidirectional) is None:
            return triton_backend
    return _BACKENDS["fft"]


def long_conv(
    u: Tensor,
    k: Tensor,
    D: Optional[Tensor] = None,
    *,
    bidirectional: bool = False,
    gate: Optional[Tensor] = None,
    backend: str = "auto",
    layout: str = "BLH",
) -> Tensor:
    """Long (global) convolution of ``u`` with per-feature kernels ``k``, plus an optional ``D`` skip and gate.

    ``y[b, t, c*dim + h] = gate * (sum_{s=0}^{t} k[c, h, s] u[b, t - s, h] + D[c, h] u[b, t, h])`` (causal); with
    ``bidirectional=True`` a second kernel adds ``sum_{j>=0} k1[c, h, j] u[b, t + j + 1, h]`` (REFERENCE §1).

    Args:
        u: (batch, length, dim) for ``layout="BLH"``, or (batch, dim, length) for ``layout="BHL"``; any real
            floating dtype. Any length >= 1.
        k: causal (dim, klen) or (channels, dim, klen); bidirectional (2, dim, klen) or (channels, 2, dim, klen),
            where index 0 holds lags 0, 1, ... and index 1 lags -1, -2, .... A kernel shorter than the sequence
            is zero-padded, a longer one truncated.
        D: optional skip, (dim,) or (channels, dim).
        bidirectional: non-causal convolution with two kernels.
        gate: optional multiplier shaped like the output (Hyena's ``x * (h * v)``).
        backend: ``"auto"`` or one of :func:`available_backends`.
        layout: ``"BLH"`` or ``"BHL"``, for ``u``, ``gate`` and the output.

    Returns:
        (batch, length, channels * dim) for ``"BLH"`` (channel-major), (batch, channels * dim, length) for ``"BHL"``,
        in ``u.dtype``. FFTs run in float32 (float64 for float64 inputs).
    """
    u_c, k_c, D_c, gate_c = _canonicalize(u, k, D, gate, bidirectional, layout)
    y = _select(u_c, k_c, bidirectional, backend).fn(u_c, k_c, D_c, bidirectional, gate_c).to(u.dtype)
    return y.transpose(1, 2) if layout == "BLH" else y


def long_conv_reference(
    u: Tensor,
    k: Tensor,
    D: Optional[Tensor] = None,
    *,
    bidirectional: bool = False,
    gate: Optional[Tensor] = None,
    layout: str = "BLH",
) -> Tensor:
    """The slow time-domain definition of :func:`long_conv` (same arguments), for tests and debugging."""
    return long_conv(u, k, D, bidirectional=bidirectional, gate=gate, backend="direct", layout=layout)
