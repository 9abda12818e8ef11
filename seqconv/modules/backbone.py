"""Residual backbone over any registered mixer, plus classification / tagging heads.

``Backbone``: encoder -> N blocks -> final norm, each block (pre-norm)::

    x = x + dropout(mixer(norm1(x), mask))
    x = x + dropout(mlp(norm2(x)))            # only if mlp_ratio > 0

or (post-norm, ``prenorm=False``, e.g. the SGConv ListOps recipe with BatchNorm)::

    x = norm1(x + dropout(mixer(x, mask)))
    x = norm2(x + dropout(mlp(x)))            # only if mlp_ratio > 0

The final norm is applied only with pre-norm (post-norm blocks already end in a norm). The encoder
is ``nn.Embedding(vocab_size, d_model)`` for token inputs (batch, length) or ``nn.Linear(d_input,
d_model)`` for continuous inputs (batch, length, d_input) (a (batch, length) float input is read as
d_input = 1). Padding positions are zeroed after the encoder and after every block, so they carry
nothing into mixers; norms get the mask (BatchNorm keeps padding out of its statistics).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor, nn

from seqconv.modules.mask import check_mixer_input
from seqconv.modules.norms import build_norm
from seqconv.modules.pooling import POOLING_MODES, pool
from seqconv.modules.registry import build_mixer


@dataclass
class BackboneConfig:
    """Configuration of :class:`Backbone`.

    Exactly one of ``vocab_size`` (token inputs) and ``d_input`` (continuous inputs) must be set.
    ``mlp_ratio = 0`` means no MLP sub-block. ``causal`` is passed to the mixer (as ``bidirectional =
    not causal`` where the mixer uses that flag). ``l_max`` is passed to mixers that take it.
    ``pooling`` is the default for heads built from this config.
    """

    d_model: int = 128
    n_layer: int = 4
    mixer: str = "sgconv"
    mixer_kwargs: dict[str, Any] = field(default_factory=dict)
    vocab_size: Optional[int] = None
    d_input: Optional[int] = None
    padding_idx: Optional[int] = None
    l_max: Optional[int] = None
    norm: str = "layernorm"
    prenorm: bool = True
    dropout: float = 0.0
    mlp_ratio: float = 0.0
    causal: bool = False
    pooling: str = "mean"

    def __post_init__(self) -> None:
        if (self.vocab_size is None) == (self.d_input is None):
            raise ValueError(
                f"set exactly one of vocab_size (token inputs) and d_input (continuous inputs); "
                f"got vocab_size={self.vocab_size!r}, d_input={self.d_input!r}"
            )
        for name in ("d_model", "n_layer"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if self.vocab_size is not None and self.vocab_size < 1:
            raise ValueError(f"vocab_size must be >= 1, got {self.vocab_size!r}")
        if self.d_input is not None and self.d_input < 1:
            raise ValueError(f"d_input must be >= 1, got {self.d_input!r}")
        if self.mlp_ratio < 0:
            raise ValueError(f"mlp_ratio must be >= 0 (0 = no MLP), got {self.mlp_ratio!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling={self.pooling!r} is not known; use one of {list(POOLING_MODES)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Block(nn.Module):
    """One residual block: mixer sub-block and optional MLP sub-block (pre- or post-norm)."""

    def __init__(self, config: BackboneConfig, layer_idx: int) -> None:
        super().__init__()
        c = config
        self.prenorm = c.prenorm
        self.mixer = build_mixer(c.mixer, c.d_model, causal=c.causal, l_max=c.l_max, layer_idx=layer_idx,
                                 **c.mixer_kwargs)
        self.norm1 = build_norm(c.norm, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.mlp: Optional[nn.Module] = None
        if c.mlp_ratio > 0:
            hidden = max(1, int(round(c.mlp_ratio * c.d_model)))
            self.mlp = nn.Sequential(nn.Linear(c.d_model, hidden), nn.GELU(), nn.Dropout(c.dropout),
                                     nn.Linear(hidden, c.d_model))
            self.norm2 = build_norm(c.norm, c.d_model)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """x: (batch, length, d_model) -> (batch, length, d_model)."""
        if self.prenorm:
            x = x + self.drop(self.mixer(self.norm1(x, mask), mask))
            if self.mlp is not None:
                x = x + self.drop(self.mlp(self.norm2(x, mask)))
        else:
            x = self.norm1(x + self.drop(self.mixer(x, mask)), mask)
            if self.mlp is not None:
                x = self.norm2(x + self.drop(self.mlp(x)), mask)
        return x


class Backbone(nn.Module):
    """Encoder + residual mixer blocks + final norm: inputs -> (batch, length, d_model).

    ``forward(inputs, mask=None)``: ``inputs`` is (batch, length) int64 token ids when
    ``vocab_size`` is set, or (batch, length, d_input) / (batch, length) floats when ``d_input`` is set;
    ``mask`` is (batch, length) bool, True = real token.
    """

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        self.config = config
        if config.vocab_size is not None:
            self.encoder: nn.Module = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.padding_idx)
        else:
            self.encoder = nn.Linear(config.d_input, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList([Block(config, i) for i in range(config.n_layer)])
        self.final_norm = build_norm(config.norm, config.d_model) if config.prenorm else None

    @property
    def d_model(self) -> int:
        return self.config.d_model

    def _encode(self, inputs: Tensor) -> Tensor:
        c = self.config
        if c.vocab_size is not None:
            if inputs.dim() != 2 or inputs.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
                raise TypeError(
                    f"token inputs must be integer (batch, length), got dtype {inputs.dtype} "
                    f"shape {tuple(inputs.shape)}"
                )
            return self.encoder(inputs.long())
        if not inputs.is_floating_point():
            raise TypeError(f"continuous inputs must be floating point, got dtype {inputs.dtype}")
        if inputs.dim() == 2 and c.d_input == 1:
            inputs = inputs.unsqueeze(-1)
        if inputs.dim() != 3 or inputs.shape[-1] != c.d_input:
            raise ValueError(f"continuous inputs must be (batch, length, {c.d_input}), got {tuple(inputs.shape)}")
        return self.encoder(inputs)

    def forward(self, inputs: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """inputs: (batch, length) ids or (batch, length, d_input) floats -> (batch, length, d_model)."""
        x = self._encode(inputs)
        mask = check_mixer_input(x, mask, "Backbone", l_max=self.config.l_max)
        if mask is not None:
            if bool(mask.all()):  # no padding (e.g. pixel tasks): the unmasked paths are the same and faster
                mask = None
        m = None if mask is None else mask.unsqueeze(-1).to(x.dtype)
        x = self.drop(x)
        if m is not None:
            x = x * m
        for layer in self.layers:
            x = layer(x, mask)
            if m is not None:
                x = x * m.to(x.dtype)
        if self.final_norm is not None:
            x = self.final_norm(x, mask)
        return x


class SequenceClassifier(nn.Module):
    """Pooled classification head over a :class:`Backbone`; optionally dual input (LRA Retrieval).

    Single input: ``logits = Linear(pool(backbone(inputs, mask)))``.
    Dual input (``dual=True``): both sequences go through the same backbone and pooling, features
    ``[a, b, a - b, a * b]`` (4 * d_model) go through ``Linear -> GELU -> Linear`` (hidden ``d_hidden``,
    default d_model).

    forward(inputs, mask=None, inputs2=None, mask2=None) -> (batch, n_classes) logits.
    """

    def __init__(
        self,
        backbone: Backbone,
        n_classes: int,
        pooling: Optional[str] = None,
        dual: bool = False,
        d_hidden: Optional[int] = None,
    ) -> None:
        super().__init__()
        if not isinstance(n_classes, int) or n_classes < 1:
            raise ValueError(f"n_classes must be an int >= 1, got {n_classes!r}")
        pooling = pooling if pooling is not None else backbone.config.pooling
        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling={pooling!r} is not known; use one of {list(POOLING_MODES)}")
        self.backbone = backbone
        self.pooling = pooling
        self.dual = dual
        d = backbone.d_model
        if dual:
            h = d_hidden if d_hidden is not None else d
            self.head: nn.Module = nn.Sequential(nn.Linear(4 * d, h), nn.GELU(), nn.Linear(h, n_classes))
        else:
            self.head = nn.Linear(d, n_classes)

    def features(self, inputs: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Pooled backbone features (batch, d_model)."""
        return pool(self.backbone(inputs, mask), mask, self.pooling)

    def forward(
        self,
        inputs: Tensor,
        mask: Optional[Tensor] = None,
        inputs2: Optional[Tensor] = None,
        mask2: Optional[Tensor] = None,
    ) -> Tensor:
        """-> (batch, n_classes) logits."""
        a = self.features(inputs, mask)
        if not self.dual:
            if inputs2 is not None:
                raise ValueError("inputs2 was given but the classifier was built with dual=False")
            return self.head(a)
        if inputs2 is None:
            raise ValueError("dual=True classifier needs inputs2 (the second sequence)")
        b = self.features(inputs2, mask2)
        return self.head(torch.cat([a, b, a - b, a * b], dim=-1))


class SequenceTagger(nn.Module):
    """Per-position head over a :class:`Backbone`: forward(inputs, mask=None) -> (batch, length, n_classes).

    Used for sequence-to-sequence synthetic tasks (selective copying), with -100 labels ignored.
    """

    def __init__(self, backbone: Backbone, n_classes: int) -> None:
        super().__init__()
        if not isinstance(n_classes, int) or n_classes < 1:
            raise ValueError(f"n_classes must be an int >= 1, got {n_classes!r}")
        self.backbone = backbone
        self.head = nn.Linear(backbone.d_model, n_classes)

    def forward(self, inputs: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """-> (batch, length, n_classes) logits."""
        return self.head(self.backbone(inputs, mask))
