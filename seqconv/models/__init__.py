"""HuggingFace-compatible seqconv models (``model_type = "seqconv"``) and the fast generation cache.

Importing this package registers the classes with ``AutoConfig``, ``AutoModel``, ``AutoModelForCausalLM`` and
``AutoModelForSequenceClassification``, and marks them for ``register_for_auto_class`` so ``save_pretrained``
exports the code and a saved folder loads with ``trust_remote_code=True`` where seqconv is installed.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

from .cache import MixerState, SeqConvCache, build_mixer_state, register_mixer_state
from .configuration import SeqConvConfig
from .modeling import (
    SeqConvForCausalLM,
    SeqConvForSequenceClassification,
    SeqConvModel,
    SeqConvPreTrainedModel,
)

AutoConfig.register("seqconv", SeqConvConfig, exist_ok=True)
AutoModel.register(SeqConvConfig, SeqConvModel, exist_ok=True)
AutoModelForCausalLM.register(SeqConvConfig, SeqConvForCausalLM, exist_ok=True)
AutoModelForSequenceClassification.register(SeqConvConfig, SeqConvForSequenceClassification, exist_ok=True)

SeqConvConfig.register_for_auto_class()
SeqConvModel.register_for_auto_class("AutoModel")
SeqConvForCausalLM.register_for_auto_class("AutoModelForCausalLM")
SeqConvForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")

__all__ = [
    "MixerState",
    "SeqConvCache",
    "SeqConvConfig",
    "SeqConvForCausalLM",
    "SeqConvForSequenceClassification",
    "SeqConvModel",
    "SeqConvPreTrainedModel",
    "build_mixer_state",
    "register_mixer_state",
]
