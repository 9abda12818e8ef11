"""Mixer registry: build any sequence mixer by name.

Names: "sgconv", "longconv", "s4d" (all :class:`seqconv.modules.global_conv.GlobalConv` with that
kernel), "hyena" (:class:`seqconv.modules.hyena.HyenaOperator`), "tcn", "tcnca", and "transformer"
(alias "attention"; :class:`seqconv.modules.attention.MultiHeadAttention`). Modules are imported
lazily, so a missing optional mixer only fails when it is requested.

This is the one list of mixer names in the project: configs, LRA, the LM experiments and the benchmarks read
:func:`mixer_names`; what kind a mixer is (global convolution, other convolution, attention, custom) is given by
:func:`mixer_kind` / :func:`is_global_conv` / :func:`is_attention`.

Direction is given uniformly with ``causal``: it becomes ``bidirectional = not causal`` for
GlobalConv/Hyena and ``causal`` for TCN, TCNCA and attention.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable, Optional

from torch import nn

# name -> (module path, class name, extra fixed kwargs, name of the direction argument)
_BUILTIN: dict[str, tuple[str, str, dict, str]] = {
    "sgconv": ("seqconv.modules.global_conv", "GlobalConv", {"kernel": "sgconv"}, "bidirectional"),
    "longconv": ("seqconv.modules.global_conv", "GlobalConv", {"kernel": "longconv"}, "bidirectional"),
    "s4d": ("seqconv.modules.global_conv", "GlobalConv", {"kernel": "s4d"}, "bidirectional"),
    "hyena": ("seqconv.modules.hyena", "HyenaOperator", {}, "bidirectional"),
    "tcn": ("seqconv.modules.tcn", "TCN", {}, "causal"),
    "tcnca": ("seqconv.modules.tcnca", "TCNCA", {}, "causal"),
    "transformer": ("seqconv.modules.attention", "MultiHeadAttention", {}, "causal"),
    "attention": ("seqconv.modules.attention", "MultiHeadAttention", {}, "causal"),
}
_CUSTOM: dict[str, Callable[..., nn.Module]] = {}

# name -> kind: "global_conv" (takes kernel_kwargs), "conv" (other convolutional mixers), "attention";
# custom mixers are "custom" unless registered with another kind.
_KINDS: dict[str, str] = {
    "sgconv": "global_conv", "longconv": "global_conv", "s4d": "global_conv",
    "hyena": "conv", "tcn": "conv", "tcnca": "conv",
    "transformer": "attention", "attention": "attention",
}
# aliases: other names of an already listed mixer (left out of mixer_names(canonical=True))
_ALIASES: dict[str, str] = {"attention": "transformer"}


def mixer_names(kind: Optional[str] = None, canonical: bool = False) -> list[str]:
    """All names accepted by :func:`build_mixer` (the single list of mixer names).

    Args:
        kind: only mixers of this :func:`mixer_kind` (e.g. ``"global_conv"``, ``"attention"``); None = all.
        canonical: drop aliases (``"attention"``, an alias of ``"transformer"``).
    """
    names = set(_BUILTIN) | set(_CUSTOM)
    if canonical:
        names -= set(_ALIASES)
    if kind is not None:
        names = {n for n in names if _KINDS.get(n, "custom") == kind}
    return sorted(names)


def mixer_kind(name: str) -> str:
    """``"global_conv"``, ``"conv"``, ``"attention"`` or (custom mixers by default) ``"custom"``."""
    if name not in _BUILTIN and name not in _CUSTOM:
        raise ValueError(f"unknown mixer {name!r}; valid names: {mixer_names()}")
    return _KINDS.get(name, "custom")


def is_global_conv(name: str) -> bool:
    """Whether ``name`` is a global-convolution mixer (accepts ``kernel_kwargs``)."""
    return mixer_kind(name) == "global_conv"


def is_attention(name: str) -> bool:
    """Whether ``name`` is an attention mixer."""
    return mixer_kind(name) == "attention"


def register_mixer(name: str, factory: Callable[..., nn.Module], kind: str = "custom") -> None:
    """Register ``factory(d_model, **kwargs) -> nn.Module`` under ``name`` (must not shadow a built-in).

    ``kind`` is reported by :func:`mixer_kind` (``"global_conv"``, ``"conv"``, ``"attention"`` or ``"custom"``).
    """
    if name in _BUILTIN:
        raise ValueError(f"mixer name {name!r} is built in; choose another name")
    if kind not in ("global_conv", "conv", "attention", "custom"):
        raise ValueError(f"kind must be 'global_conv', 'conv', 'attention' or 'custom', got {kind!r}")
    _CUSTOM[name] = factory
    _KINDS[name] = kind


def unregister_mixer(name: str) -> None:
    """Remove a mixer added with :func:`register_mixer` (built-ins cannot be removed)."""
    if name in _BUILTIN:
        raise ValueError(f"mixer name {name!r} is built in and cannot be unregistered")
    _CUSTOM.pop(name, None)
    _KINDS.pop(name, None)


def _accepts(cls: Callable, arg: str) -> bool:
    params = inspect.signature(cls).parameters
    return arg in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def get_mixer_class(name: str) -> Callable[..., nn.Module]:
    """The class (or factory) registered under ``name``; ValueError listing valid names if unknown."""
    if name in _CUSTOM:
        return _CUSTOM[name]
    if name not in _BUILTIN:
        raise ValueError(f"unknown mixer {name!r}; valid names: {mixer_names()}")
    module, cls_name, _, _ = _BUILTIN[name]
    return getattr(importlib.import_module(module), cls_name)


def build_mixer(
    name: str,
    d_model: int,
    causal: Optional[bool] = None,
    l_max: Optional[int] = None,
    layer_idx: Optional[int] = None,
    **kwargs,
) -> nn.Module:
    """Build the mixer ``name`` for width ``d_model``.

    Args:
        name: one of :func:`mixer_names`.
        d_model: feature dim.
        causal: direction; None keeps the mixer's default. Translated to ``bidirectional=not causal``
            for mixers that take ``bidirectional``.
        l_max: maximum sequence length, passed to mixers that accept it.
        layer_idx: layer index, passed to mixers that accept it.
        **kwargs: mixer-specific options, passed through.

    Returns a module with ``forward(x: (batch, length, d_model), mask=None) -> (batch, length, d_model)``.
    """
    if not isinstance(name, str):
        raise TypeError(f"mixer name must be a str, got {type(name).__name__}")
    cls = get_mixer_class(name)
    kw = dict(_BUILTIN[name][2]) if name in _BUILTIN else {}
    kw.update(kwargs)
    if causal is not None:
        direction = _BUILTIN[name][3] if name in _BUILTIN else ("causal" if _accepts(cls, "causal") else None)
        has_explicit = direction is not None and direction in inspect.signature(cls).parameters
        if direction == "causal" and (has_explicit or name not in _BUILTIN):
            kw.setdefault("causal", causal)
        elif direction == "bidirectional" and has_explicit:
            kw.setdefault("bidirectional", not causal)
        elif not causal:
            raise ValueError(f"mixer {name!r} is causal only; it cannot be built with causal=False")
    if l_max is not None and _accepts(cls, "l_max"):
        kw.setdefault("l_max", l_max)
    if layer_idx is not None and _accepts(cls, "layer_idx"):
        kw.setdefault("layer_idx", layer_idx)
    return cls(d_model, **kw)
