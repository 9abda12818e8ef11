"""Sequence mixers (TCN, TCNCA, attention, global convolutions, Hyena), norms, pooling and the backbone.

GlobalConv and HyenaOperator are imported lazily (``from seqconv.modules import GlobalConv`` works once
seqconv/modules/global_conv.py exists), so this package imports without them.
"""

from seqconv.modules.attention import MultiHeadAttention
from seqconv.modules.backbone import Backbone, BackboneConfig, Block, SequenceClassifier, SequenceTagger
from seqconv.modules.norms import RMSNorm, SequenceBatchNorm, build_norm
from seqconv.modules.pooling import Pooling, pool
from seqconv.modules.registry import build_mixer, mixer_names, register_mixer
from seqconv.modules.tcn import TCN, tcn_depth_for, tcn_receptive_field
from seqconv.modules.tcnca import TCNCA

_LAZY = {"GlobalConv": "seqconv.modules.global_conv", "HyenaOperator": "seqconv.modules.hyena"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seqconv.modules' has no attribute {name!r}")


# GlobalConv / HyenaOperator are lazy (see __getattr__) and left out of __all__ so `import *` works without them.
__all__ = [
    "TCN",
    "TCNCA",
    "Backbone",
    "BackboneConfig",
    "Block",
    "MultiHeadAttention",
    "Pooling",
    "RMSNorm",
    "SequenceBatchNorm",
    "SequenceClassifier",
    "SequenceTagger",
    "build_mixer",
    "build_norm",
    "mixer_names",
    "pool",
    "register_mixer",
    "tcn_depth_for",
    "tcn_receptive_field",
]
