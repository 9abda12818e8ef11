"""Sequence mixers (global convolutions, Hyena, TCN, TCNCA, attention), norms, pooling and the backbone."""

from seqconv.modules.attention import MultiHeadAttention
from seqconv.modules.backbone import Backbone, BackboneConfig, Block, SequenceClassifier, SequenceTagger
from seqconv.modules.global_conv import GlobalConv
from seqconv.modules.hyena import HyenaOperator
from seqconv.modules.norms import RMSNorm, SequenceBatchNorm, build_norm
from seqconv.modules.pooling import Pooling, pool
from seqconv.modules.registry import build_mixer, mixer_names, register_mixer
from seqconv.modules.tcn import TCN, tcn_depth_for, tcn_receptive_field
from seqconv.modules.tcnca import TCNCA

__all__ = [
    "GlobalConv",
    "HyenaOperator",
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
