"""HuggingFace model classes for seqconv: ``SeqConvModel``, ``SeqConvForCausalLM``, ``SeqConvForSequenceClassification``.

All three wrap :class:`seqconv.modules.Backbone` (encoder -> blocks of ``mixer`` + optional MLP -> final norm)
as ``model.backbone``; the blocks are the repository's :class:`seqconv.modules.Block`.

Initialization (GPT-2 style): embeddings and every ``nn.Linear`` outside the kernel parameterizations get
``N(0, initializer_range)`` weights and zero biases; residual-branch output projections (the mixer output
projection: GlobalConv ``output_linear``, Hyena / attention ``out_proj``, TCN ``pointwise``; and the MLP's second
linear) get ``N(0, initializer_range / sqrt(2 * n_layer))``. Kernel parameterizations, convolutions, the mixers'
own parameters (D skips, gamma/beta, positions) and norms keep the initialization of their modules.

Incremental decoding: ``forward(..., use_cache=True)`` returns a :class:`seqconv.models.cache.SeqConvCache`;
passing it back with the next tokens processes only them (see cache.py for the per-mixer algorithms).
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional, Union

import torch
from torch import Tensor, nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as hf_init
from transformers.loss.loss_utils import ForCausalLMLoss, ForSequenceClassificationLoss
from transformers.modeling_outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    SequenceClassifierOutput,
)

from seqconv.kernels import KernelBase
from seqconv.modules.backbone import Backbone, Block
from seqconv.modules.pooling import pool

from .cache import SeqConvCache
from .configuration import SeqConvConfig

__all__ = [
    "SeqConvForCausalLM",
    "SeqConvForSequenceClassification",
    "SeqConvModel",
    "SeqConvPreTrainedModel",
    "block_forward",
]

# attribute names of residual-branch output projections, per mixer class name
_OUT_PROJ = {
    "GlobalConv": ("output_linear",),
    "HyenaOperator": ("out_proj",),
    "MultiHeadAttention": ("out_proj",),
    "TCN": ("pointwise",),
}


def block_forward(block: Block, x: Tensor, mask: Optional[Tensor], mixer_fn) -> Tensor:
    """:meth:`seqconv.modules.Block.forward` with the mixer call replaced by ``mixer_fn(h, mask)``.

    Used for cached decoding (``mixer_fn`` = a mixer state). Tested equal to ``block(x, mask)`` when
    ``mixer_fn = block.mixer``, so a change of Block is caught.
    """
    if block.prenorm:
        x = x + block.drop(mixer_fn(block.norm1(x, mask), mask))
        if block.mlp is not None:
            x = x + block.drop(block.mlp(block.norm2(x, mask)))
    else:
        x = block.norm1(x + block.drop(mixer_fn(x, mask)), mask)
        if block.mlp is not None:
            x = block.norm2(x + block.drop(block.mlp(x)), mask)
    return x


def _mark_init_roles(backbone: Backbone) -> None:
    """Tag modules with ``_seqconv_init`` = "keep" (own init) or "out_proj" (scaled GPT-2 init) for ``_init_weights``."""
    for mod in backbone.modules():
        if isinstance(mod, KernelBase):
            for sub in mod.modules():
                sub._seqconv_init = "keep"
    for block in backbone.layers:
        for mod in block.mixer.modules():
            for attr in _OUT_PROJ.get(type(mod).__name__, ()):
                target = getattr(mod, attr, None)
                if target is None:
                    continue
                for sub in target.modules() if isinstance(target, nn.Module) else ():
                    if isinstance(sub, nn.Linear):
                        sub._seqconv_init = "out_proj"
        if block.mlp is not None:
            block.mlp[-1]._seqconv_init = "out_proj"


class SeqConvPreTrainedModel(PreTrainedModel):
    """Base class: config class, GPT-2 style init, strict loading (safetensors only)."""

    config_class = SeqConvConfig
    config: SeqConvConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["Block"]
    _supports_sdpa = False
    # head parameters a checkpoint of another seqconv architecture may lack (initialized fresh, with a warning)
    _head_keys: tuple[str, ...] = ()

    def __init__(self, config: SeqConvConfig, *inputs: Any, **kwargs: Any) -> None:
        # model_type rather than isinstance: trust_remote_code loads a copy of the SeqConvConfig class
        if getattr(config, "model_type", None) != SeqConvConfig.model_type or not hasattr(config, "backbone_config"):
            raise TypeError(
                f"{type(self).__name__} needs a SeqConvConfig (model_type 'seqconv'), got {type(config).__name__} "
                f"(model_type {getattr(config, 'model_type', None)!r})"
            )
        super().__init__(config, *inputs, **kwargs)

    @classmethod
    def get_init_context(cls, *args: Any, **kwargs: Any) -> list:
        """transformers' init contexts minus the meta device.

        Kernel parameterizations compute buffers from their parameters in ``__init__`` (SGConv's fixed kernel
        norm, ...), which fails when parameters are on the meta device and ``linspace`` buffers on the CPU. The
        model is therefore built on the CPU (random init) and the checkpoint tensors are loaded over it.
        """
        ctx = super().get_init_context(*args, **kwargs)
        return [
            c for c in ctx
            if not (isinstance(c, torch.device) and c.type == "meta")
            and getattr(getattr(c, "func", None), "__name__", "") != "meta_device_safe_creation_ops"
        ]

    def _shared_parameter_aliases(self) -> dict[str, str]:
        """``{alias: first name}`` for parameters registered under several names (e.g. Hyena's shared Sin)."""
        first: dict[int, str] = {}
        aliases: dict[str, str] = {}
        for name, p in self.named_parameters(remove_duplicate=False):
            if id(p) in first:
                aliases[name] = first[id(p)]
            else:
                first[id(p)] = name
        return aliases

    def post_init(self) -> None:
        """Declare parameters shared inside the model as tied (safetensors stores each tensor once), then HF post_init.

        Modules may reuse one parameter under several names (Hyena's filter MLP shares one ``Sin`` frequency
        vector between its layers); without the declaration ``save_pretrained`` refuses the shared tensors.
        """
        self._tied_weights_keys = {**(type(self)._tied_weights_keys or {}), **self._shared_parameter_aliases()}
        super().post_init()

    def get_expanded_tied_weights_keys(self, all_submodels: bool = False) -> dict:
        """transformers' mapping (embedding tie only if ``tie_word_embeddings``) plus the shared-parameter aliases."""
        tied = super().get_expanded_tied_weights_keys(all_submodels=all_submodels)
        if not all_submodels:
            for alias, src in self._shared_parameter_aliases().items():
                if not alias.startswith("lm_head."):
                    tied.setdefault(alias, src)
        return tied

    def get_input_embeddings(self) -> nn.Module:
        """The token embedding of the wrapped :class:`SeqConvModel` (``self.model``; SeqConvModel overrides this)."""
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        """Replace the token embedding of the wrapped :class:`SeqConvModel` (SeqConvModel overrides this)."""
        self.model.set_input_embeddings(value)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        role = getattr(module, "_seqconv_init", None)
        if role == "keep":
            return
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            if role == "out_proj":
                std = std / math.sqrt(2 * self.config.n_layer)
            hf_init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                hf_init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            hf_init.normal_(module.weight, mean=0.0, std=std)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Union[str, os.PathLike, None], *args: Any,
                        **kwargs: Any):
        """``PreTrainedModel.from_pretrained`` restricted to safetensors, with strict key checking.

        Missing or unexpected tensors raise ``ValueError`` naming them (only this class's task head, e.g.
        ``score.*`` when a classifier is loaded from an LM checkpoint, may be missing); shape mismatches raise too
        (transformers' own check). Pickle checkpoints (``pytorch_model.bin``) are refused: ``use_safetensors`` is
        forced to True.
        """
        if kwargs.get("use_safetensors") is False:
            raise ValueError("seqconv models load safetensors checkpoints only (use_safetensors=False was given)")
        kwargs["use_safetensors"] = True
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs)
        missing = [k for k in info.get("missing_keys", ()) if not any(k.startswith(h) for h in cls._head_keys)]
        unexpected = list(info.get("unexpected_keys", ()))
        if isinstance(model, SeqConvForSequenceClassification) or cls._head_keys:
            unexpected = [k for k in unexpected if not k.startswith("lm_head.")]
        mismatched = list(info.get("mismatched_keys", ()))
        if missing or unexpected or mismatched:
            raise ValueError(
                f"{pretrained_model_name_or_path}: checkpoint does not match {cls.__name__}"
                f"(mixer={model.config.mixer!r}, d_model={model.config.d_model}, n_layer={model.config.n_layer}): "
                f"missing tensors {sorted(missing)[:10]}, unexpected tensors {sorted(unexpected)[:10]}, "
                f"shape mismatches {mismatched[:10]}"
            )
        return (model, info) if want_info else model


def _to_bool_mask(attention_mask: Optional[Tensor], batch: int, length: int, seen: int) -> Optional[Tensor]:
    """HF attention mask (batch, seen + length) or (batch, length), 1 = real -> bool (batch, length) or None."""
    if attention_mask is None:
        return None
    if attention_mask.dim() != 2 or attention_mask.shape[0] != batch:
        raise ValueError(
            f"attention_mask must be (batch, length) = ({batch}, {seen + length}), got {tuple(attention_mask.shape)}"
        )
    if attention_mask.shape[1] == seen + length:
        attention_mask = attention_mask[:, seen:]
    elif attention_mask.shape[1] != length:
        raise ValueError(
            f"attention_mask has length {attention_mask.shape[1]}, expected {seen + length} (cached + new tokens) "
            f"or {length} (new tokens only)"
        )
    mask = attention_mask.bool()
    return None if bool(mask.all()) else mask


class SeqConvModel(SeqConvPreTrainedModel):
    """The bare seqconv backbone: token ids -> hidden states (batch, length, d_model).

    forward(input_ids (batch, length) or inputs_embeds (batch, length, d_model), attention_mask (batch, length) 1 =
    real token, cache, use_cache, output_hidden_states) -> :class:`BaseModelOutputWithPast` (``cache`` holds the
    :class:`SeqConvCache` when ``use_cache``).
    """

    def __init__(self, config: SeqConvConfig) -> None:
        super().__init__(config)
        self.backbone = Backbone(config.backbone_config())
        _mark_init_roles(self.backbone)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.backbone.encoder

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.backbone.encoder = value

    def _check_ids(self, input_ids: Tensor) -> None:
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool:
            raise TypeError(f"input_ids must be an integer tensor, got dtype {input_ids.dtype}")
        if input_ids.numel():
            lo, hi = int(input_ids.min()), int(input_ids.max())
            if lo < 0 or hi >= self.config.vocab_size:
                raise ValueError(
                    f"input_ids out of range: min {lo}, max {hi}, but vocab_size={self.config.vocab_size} "
                    f"(valid ids 0..{self.config.vocab_size - 1})"
                )

    def forward(
        self,
        input_ids: Optional[Tensor] = None,
        attention_mask: Optional[Tensor] = None,
        inputs_embeds: Optional[Tensor] = None,
        cache: Optional[SeqConvCache] = None,
        use_cache: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        position_ids: Optional[Tensor] = None,
        output_attentions: Optional[bool] = None,
        **kwargs: Any,
    ) -> Union[BaseModelOutputWithPast, tuple]:
        """position_ids are accepted for API compatibility and ignored (positions = token index, padding included)."""
        if "past_key_values" in kwargs:
            cache = kwargs.pop("past_key_values") if cache is None else cache
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids (batch, length) and inputs_embeds (batch, length, d_model)")
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if use_cache is None:
            use_cache = cache is not None or (self.config.use_cache and not self.training)
        bb = self.backbone
        if input_ids is not None:
            self._check_ids(input_ids)
            x = bb.encoder(input_ids.long())
        else:
            if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != self.config.d_model:
                raise ValueError(
                    f"inputs_embeds must be (batch, length, {self.config.d_model}), got {tuple(inputs_embeds.shape)}"
                )
            x = inputs_embeds
        B, T = x.shape[:2]
        if cache is not None and not isinstance(cache, SeqConvCache):
            raise TypeError(
                f"cache must be a SeqConvCache (from a previous forward or SeqConvCache.from_model), got "
                f"{type(cache).__name__}"
            )
        seen = cache.get_seq_length() if cache is not None else 0
        if seen + T > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence length {seen + T} ({seen} cached + {T} new) exceeds max_position_embeddings="
                f"{self.config.max_position_embeddings}; truncate the prompt or build the model with a larger l_max"
            )
        if cache is not None and cache.batch_size not in (-1, B):
            raise ValueError(f"cache holds batch size {cache.batch_size}, inputs have batch size {B}")
        mask = _to_bool_mask(attention_mask, B, T, seen)
        if use_cache and cache is None:
            cache = SeqConvCache.from_model(self, B, self.config.max_position_embeddings)
        m = None if mask is None else mask.unsqueeze(-1).to(x.dtype)
        x = bb.drop(x)
        if m is not None:
            x = x * m
        hidden: list[Tensor] = [x] if output_hidden_states else []
        for i, layer in enumerate(bb.layers):
            if use_cache:
                x = block_forward(layer, x, mask, cache.layers[i].forward)
            elif self.gradient_checkpointing and self.training:
                x = self._gradient_checkpointing_func(layer.__call__, x, mask)
            else:
                x = layer(x, mask)
            if m is not None:
                x = x * m.to(x.dtype)
            if output_hidden_states:
                hidden.append(x)
        if bb.final_norm is not None:
            x = bb.final_norm(x, mask)
            if output_hidden_states:
                hidden[-1] = x
        out_cache = cache if use_cache else None
        if not return_dict:
            return tuple(v for v in (x, out_cache, tuple(hidden) if output_hidden_states else None) if v is not None)
        return BaseModelOutputWithPast(
            last_hidden_state=x, cache=out_cache, hidden_states=tuple(hidden) if output_hidden_states else None
        )


class SeqConvForCausalLM(SeqConvPreTrainedModel, GenerationMixin):
    """seqconv language model: :class:`SeqConvModel` + linear LM head (tied to the embedding by default).

    forward(input_ids, attention_mask, labels, cache, use_cache, logits_to_keep) -> :class:`CausalLMOutputWithPast`;
    ``labels`` (batch, length) with -100 = ignore are shifted inside (standard HF causal-LM loss, fp32).
    Generation (``generate``) uses the :class:`SeqConvCache`: one FFT prefill, then O(L) per token and channel.
    """

    _tied_weights_keys = {"lm_head.weight": "model.backbone.encoder.weight"}  # if config.tie_word_embeddings

    def __init__(self, config: SeqConvConfig) -> None:
        super().__init__(config)
        if config.bidirectional:
            raise ValueError("SeqConvForCausalLM needs a causal model; got a config with bidirectional=True")
        self.model = SeqConvModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # generate() must not build a DynamicCache: the model creates its own SeqConvCache on the first forward.
        return False

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.lm_head = value

    def forward(
        self,
        input_ids: Optional[Tensor] = None,
        attention_mask: Optional[Tensor] = None,
        inputs_embeds: Optional[Tensor] = None,
        labels: Optional[Tensor] = None,
        cache: Optional[SeqConvCache] = None,
        use_cache: Optional[bool] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        logits_to_keep: Union[int, Tensor] = 0,
        position_ids: Optional[Tensor] = None,
        output_attentions: Optional[bool] = None,
        num_items_in_batch: Optional[Tensor] = None,
        **kwargs: Any,
    ) -> Union[CausalLMOutputWithPast, tuple]:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            cache=cache if cache is not None else kwargs.pop("past_key_values", None),
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        h = out.last_hidden_state
        sl = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(h[:, sl, :])
        loss = None
        if labels is not None:
            if labels.shape != h.shape[:2]:
                raise ValueError(f"labels must be (batch, length) = {tuple(h.shape[:2])}, got {tuple(labels.shape)}")
            if isinstance(logits_to_keep, int) and logits_to_keep not in (0, h.shape[1]):
                raise ValueError("labels need logits for every position; call with logits_to_keep=0")
            loss = ForCausalLMLoss(logits, labels, self.config.vocab_size, num_items_in_batch=num_items_in_batch)
        if not return_dict:
            rest = tuple(v for v in (out.cache, out.hidden_states) if v is not None)
            return ((loss,) if loss is not None else ()) + (logits,) + rest
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=out.cache, hidden_states=out.hidden_states)


class SeqConvForSequenceClassification(SeqConvPreTrainedModel):
    """Pooled sequence classification / regression head over :class:`SeqConvModel`.

    Pooling (``config.pooling``) runs over real positions (``attention_mask``; without a mask and with
    ``pad_token_id`` set, positions holding ``pad_token_id`` are treated as padding). ``labels``: (batch,) class ids
    (single-label), (batch, num_labels) floats (multi-label, BCE) or (batch,) / (batch, num_labels) floats
    (regression, MSE); ``config.problem_type`` picks the loss as in transformers' other heads.
    """

    _head_keys = ("score.",)

    def __init__(self, config: SeqConvConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = SeqConvModel(config)
        self.score = nn.Linear(config.d_model, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: Optional[Tensor] = None,
        attention_mask: Optional[Tensor] = None,
        inputs_embeds: Optional[Tensor] = None,
        labels: Optional[Tensor] = None,
        output_hidden_states: Optional[bool] = None,
        return_dict: Optional[bool] = None,
        **kwargs: Any,
    ) -> Union[SequenceClassifierOutput, tuple]:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if attention_mask is None and input_ids is not None and self.config.pad_token_id is not None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            use_cache=False,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        h = out.last_hidden_state
        mask = None if attention_mask is None else attention_mask.bool()
        logits = self.score(pool(h, mask, self.config.pooling))
        loss = None
        if labels is not None:
            loss = ForSequenceClassificationLoss(labels, logits, self.config)
        if not return_dict:
            rest = (out.hidden_states,) if out.hidden_states is not None else ()
            return ((loss,) if loss is not None else ()) + (logits,) + rest
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
