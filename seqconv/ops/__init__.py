"""Long-convolution ops: one dispatching call (:func:`long_conv`) over FFT, conv1d, Monarch and Triton backends."""

from .fftconv import clear_spectrum_cache, fft_conv, fft_size, next_fast_len
from .long_conv import SHORT_KERNEL_MAX, available_backends, long_conv, long_conv_reference, register_backend
from .reference import direct_conv
from .shortconv import short_conv

__all__ = [
    "long_conv",
    "long_conv_reference",
    "register_backend",
    "available_backends",
    "SHORT_KERNEL_MAX",
    "fft_conv",
    "fft_size",
    "next_fast_len",
    "clear_spectrum_cache",
    "direct_conv",
    "short_conv",
]
