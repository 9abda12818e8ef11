"""seqconv: long-sequence models built on global convolutions.

``import seqconv`` registers the HuggingFace classes (``model_type="seqconv"``) with the transformers Auto classes.
"""

from seqconv import kernels, models, modules, ops, training  # noqa: F401  (models registers the Auto classes)
from seqconv.ops import available_backends, long_conv, long_conv_reference

__version__ = "0.1.0"

__all__ = [
    "long_conv",
    "long_conv_reference",
    "available_backends",
    "kernels",
    "models",
    "modules",
    "ops",
    "training",
    "__version__",
]
