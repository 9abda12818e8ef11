"""seqconv: long-sequence models built on global convolutions."""

from .ops import long_conv, long_conv_reference

__version__ = "0.1.0"

__all__ = ["long_conv", "long_conv_reference", "__version__"]
