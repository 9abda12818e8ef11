"""HuggingFace configuration of seqconv language / sequence models (``model_type = "seqconv"``)."""

from __future__ import annotations

import math
import os
from typing import Any, Optional, Union

from transformers import PreTrainedConfig

__all__ = ["SeqConvConfig"]

# The mixers a SeqConvConfig accepts are those of seqconv.modules.registry.mixer_names() (built-ins plus any added
# with register_mixer at runtime); kernel_kwargs apply to mixer_names(kind="global_conv").
_NORMS = ("layernorm", "batchnorm", "rmsnorm", "none")
_POOLING = ("mean", "last", "first", "max", "sum")
_PROBLEM_TYPES = (None, "regression", "single_label_classification", "multi_label_classification")


class SeqConvConfig(PreTrainedConfig):
    r"""
    Configuration of a seqconv model ([`SeqConvModel`], [`SeqConvForCausalLM`],
    [`SeqConvForSequenceClassification`]): a residual stack of sequence mixers (global convolutions, Hyena, TCN,
    TCNCA or attention) built with [`seqconv.modules.Backbone`].

    Args:
        mixer (`str`, *optional*, defaults to `"hyena"`):
            Sequence mixer of every block: `"sgconv"`, `"longconv"`, `"s4d"` (global convolution with that kernel
            parameterization), `"hyena"`, `"tcn"`, `"tcnca"`, `"transformer"` (alias `"attention"`), or any name added with
            `seqconv.modules.register_mixer` (the names of `seqconv.modules.registry.mixer_names()`).
        d_model (`int`, *optional*, defaults to 256):
            Width of the residual stream (alias `hidden_size`).
        n_layer (`int`, *optional*, defaults to 4):
            Number of residual blocks (alias `num_hidden_layers`).
        vocab_size (`int`, *optional*, defaults to 257):
            Number of token ids (257 = the 256 bytes + `<|endoftext|>` of the byte-level tokenizer).
        max_position_embeddings (`int`, *optional*, defaults to 2048):
            Maximum sequence length (alias `l_max`): sizes the convolution kernels and the generation cache.
            Longer inputs raise a `ValueError`.
        mixer_kwargs (`dict`, *optional*):
            Extra keyword arguments of the mixer class (e.g. `{"order": 3, "filter_order": 64}` for Hyena,
            `{"n_heads": 8}` for attention, `{"chunk_size": 128}` for TCNCA, `{"channels": 2, "glu": True}` for global
            convolutions). Direction, `l_max` and `layer_idx` are filled in by the model.
        kernel_kwargs (`dict`, *optional*):
            Keyword arguments of the kernel parameterization of a global-convolution mixer (`"sgconv"`,
            `"longconv"`, `"s4d"`), e.g. `{"kernel_dim": 32}`; an error for other mixers.
        norm (`str`, *optional*, defaults to `"layernorm"`):
            Normalization of the blocks: `"layernorm"`, `"batchnorm"`, `"rmsnorm"` or `"none"`.
        prenorm (`bool`, *optional*, defaults to `True`):
            Pre-norm residual blocks (plus a final norm) if `True`, post-norm otherwise.
        dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the residual branches and the embeddings, in [0, 1).
        mlp_ratio (`float`, *optional*, defaults to 4.0):
            Hidden width of the MLP sub-block as a multiple of `d_model`; 0 = no MLP sub-block.
        bidirectional (`bool`, *optional*, defaults to `False`):
            Non-causal mixers (for classification). A causal LM needs `bidirectional=False`.
        pooling (`str`, *optional*, defaults to `"last"`):
            Pooling of [`SeqConvForSequenceClassification`]: `"mean"`, `"last"`, `"first"`, `"max"` or `"sum"` over
            the real (unpadded) positions.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the GPT-2 style normal init of embeddings and linear layers; residual output
            projections use `initializer_range / sqrt(2 * n_layer)`.
        tie_word_embeddings (`bool`, *optional*, defaults to `True`):
            Share the LM head weight with the input embedding.
        use_cache (`bool`, *optional*, defaults to `True`):
            Return a [`SeqConvCache`] from forward passes in eval mode (fast incremental generation).
        pad_token_id (`int`, *optional*):
            Padding token id (used by sequence classification to find the last real token when no mask is given).
        bos_token_id (`int`, *optional*):
            Beginning-of-sequence token id.
        eos_token_id (`int` or `list[int]`, *optional*, defaults to 256):
            End-of-sequence token id(s) (`<|endoftext|>` of the byte tokenizer).

    Example:

    ```python
    >>> from seqconv.models import SeqConvConfig, SeqConvForCausalLM
    >>> config = SeqConvConfig(mixer="hyena", d_model=128, n_layer=2, max_position_embeddings=1024)
    >>> model = SeqConvForCausalLM(config)
    ```
    """

    model_type = "seqconv"
    attribute_map = {"hidden_size": "d_model", "num_hidden_layers": "n_layer", "l_max": "max_position_embeddings"}
    keys_to_ignore_at_inference = ["cache"]

    mixer: str = "hyena"
    d_model: int = 256
    n_layer: int = 4
    vocab_size: int = 257
    max_position_embeddings: int = 2048
    mixer_kwargs: Optional[dict] = None
    kernel_kwargs: Optional[dict] = None
    norm: str = "layernorm"
    prenorm: bool = True
    dropout: float = 0.0
    mlp_ratio: float = 4.0
    bidirectional: bool = False
    pooling: str = "last"
    initializer_range: float = 0.02
    tie_word_embeddings: bool = True
    use_cache: bool = True
    pad_token_id: Optional[int] = None
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[Union[int, list]] = 256

    def __post_init__(self, **kwargs: Any) -> None:
        self.mixer_kwargs = dict(self.mixer_kwargs or {})
        self.kernel_kwargs = dict(self.kernel_kwargs or {})
        self._validate_seqconv()
        super().__post_init__(**kwargs)

    # ------------------------------------------------------------------------------------------------ validation
    def _validate_seqconv(self) -> None:
        from seqconv.modules.registry import is_global_conv, mixer_names

        if not isinstance(self.mixer, str) or self.mixer not in mixer_names():
            raise ValueError(
                f"SeqConvConfig: unknown mixer {self.mixer!r}; choose one of {mixer_names()} (or add one with "
                f"seqconv.modules.register_mixer)"
            )
        for name in ("d_model", "n_layer", "vocab_size", "max_position_embeddings"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"SeqConvConfig: {name} must be an int >= 1, got {v!r}")
        if not isinstance(self.norm, str) or self.norm.lower() not in _NORMS:
            raise ValueError(f"SeqConvConfig: norm must be one of {list(_NORMS)}, got {self.norm!r}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SeqConvConfig: dropout must be a float in [0, 1), got {self.dropout!r}")
        if not isinstance(self.mlp_ratio, (int, float)) or self.mlp_ratio < 0 or not math.isfinite(self.mlp_ratio):
            raise ValueError(f"SeqConvConfig: mlp_ratio must be a finite number >= 0 (0 = no MLP), got {self.mlp_ratio!r}")
        if self.pooling not in _POOLING:
            raise ValueError(f"SeqConvConfig: pooling must be one of {list(_POOLING)}, got {self.pooling!r}")
        if not isinstance(self.initializer_range, (int, float)) or not self.initializer_range > 0:
            raise ValueError(f"SeqConvConfig: initializer_range must be > 0, got {self.initializer_range!r}")
        for name in ("prenorm", "bidirectional", "tie_word_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"SeqConvConfig: {name} must be a bool, got {getattr(self, name)!r}")
        if self.kernel_kwargs and not is_global_conv(self.mixer):
            raise ValueError(
                f"SeqConvConfig: kernel_kwargs {sorted(self.kernel_kwargs)} only apply to the global-convolution mixers "
                f"{mixer_names(kind='global_conv')}, not mixer={self.mixer!r}; pass mixer options in mixer_kwargs"
            )
        reserved = {"causal", "bidirectional", "l_max", "layer_idx", "d_model"} & set(self.mixer_kwargs)
        if reserved:
            raise ValueError(
                f"SeqConvConfig: mixer_kwargs must not set {sorted(reserved)}; use the config fields "
                f"(bidirectional, max_position_embeddings, d_model) instead"
            )
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"SeqConvConfig: pad_token_id={self.pad_token_id} is outside [0, vocab_size={self.vocab_size})")
        if self.problem_type not in _PROBLEM_TYPES:
            raise ValueError(f"SeqConvConfig: problem_type must be one of {list(_PROBLEM_TYPES)}, got {self.problem_type!r}")

    # ------------------------------------------------------------------------------------------------ helpers
    def backbone_config(self):
        """The :class:`seqconv.modules.BackboneConfig` of this model (token inputs)."""
        from seqconv.modules.backbone import BackboneConfig

        mixer_kwargs = dict(self.mixer_kwargs)
        if self.kernel_kwargs:
            mixer_kwargs["kernel_kwargs"] = {**mixer_kwargs.get("kernel_kwargs", {}), **self.kernel_kwargs}
        return BackboneConfig(
            d_model=self.d_model,
            n_layer=self.n_layer,
            mixer=self.mixer,
            mixer_kwargs=mixer_kwargs,
            vocab_size=self.vocab_size,
            l_max=self.max_position_embeddings,
            norm=self.norm,
            prenorm=self.prenorm,
            dropout=float(self.dropout),
            mlp_ratio=float(self.mlp_ratio),
            causal=not self.bidirectional,
            pooling=self.pooling,
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Union[str, os.PathLike], **kwargs: Any) -> SeqConvConfig:
        """Load a config; a ``config.json`` of another ``model_type`` raises ``ValueError`` (not a silent warning)."""
        config_dict, _ = cls.get_config_dict(pretrained_model_name_or_path, **{
            k: v for k, v in kwargs.items() if k in ("cache_dir", "force_download", "local_files_only", "token",
                                                      "revision", "subfolder")
        })
        other = config_dict.get("model_type")
        if other is not None and other != cls.model_type:
            raise ValueError(
                f"{pretrained_model_name_or_path}: config has model_type={other!r}, expected {cls.model_type!r}; "
                f"load it with the {other!r} classes (or AutoConfig) instead of SeqConvConfig"
            )
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
