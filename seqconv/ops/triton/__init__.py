"""FlashButterfly Triton backend: fused Monarch FFT convolution kernels (see :mod:`seqconv.ops.triton.conv`).

Importing this package does not import ``triton`` itself (kernels are compiled on first use), so it is safe on
machines without triton; it registers the "triton" backend with :mod:`seqconv.ops.long_conv`.
"""

from __future__ import annotations

import importlib

from .conv import MAX_N, MAX_SINGLE_N, MIN_N, interpreting, plan_for, triton_conv, triton_supports

__all__ = ["triton_conv", "triton_supports", "plan_for", "interpreting", "MIN_N", "MAX_SINGLE_N", "MAX_N", "register"]


def register() -> bool:
    """Register "triton" with ``seqconv.ops.long_conv``; returns False if that module does not exist."""
    try:
        lc = importlib.import_module("seqconv.ops.long_conv")
    except ModuleNotFoundError as err:
        if err.name not in ("seqconv.ops.long_conv", "seqconv.ops"):
            raise
        return False
    lc.register_backend("triton", triton_conv, triton_supports)
    return True


register()
