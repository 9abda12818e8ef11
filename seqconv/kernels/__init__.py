"""Kernel parameterizations for global convolutions (nn.Modules: ``forward(L) -> (channels, H, L)``)."""

from ._base import KernelBase, set_optim_hint
from .hyena_filter import HyenaFilter, Sin, hyena_positional_features
from .longconv import LongConvKernel, smooth_gaussian_freq, smooth_moving_average, squash
from .s4d import S4DKernel, s4d_vandermonde
from .sgconv import SGConvKernel, sgconv_num_scales

KERNELS = {
    "sgconv": SGConvKernel,
    "longconv": LongConvKernel,
    "hyena_filter": HyenaFilter,
    "s4d": S4DKernel,
}


def build_kernel(name: str, d_model: int, l_max: int, channels: int = 1, bidirectional: bool = False, **kwargs):
    """Construct a kernel by name (``"sgconv" | "longconv" | "hyena_filter" | "s4d"``)."""
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; choose one of {sorted(KERNELS)}")
    return KERNELS[name](d_model, l_max, channels=channels, bidirectional=bidirectional, **kwargs)


__all__ = [
    "KERNELS",
    "HyenaFilter",
    "KernelBase",
    "LongConvKernel",
    "S4DKernel",
    "SGConvKernel",
    "Sin",
    "build_kernel",
    "hyena_positional_features",
    "s4d_vandermonde",
    "set_optim_hint",
    "sgconv_num_scales",
    "smooth_gaussian_freq",
    "smooth_moving_average",
    "squash",
]
