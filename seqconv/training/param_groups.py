"""AdamW parameter groups from ``_optim`` hints (safari/S4 convention) plus standard no-decay rules."""

from __future__ import annotations

from typing import Optional

from torch import nn

__all__ = ["build_param_groups", "is_no_decay"]

_NORM_TYPES = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.modules.batchnorm._NormBase,  # BatchNorm*d, SyncBatchNorm, InstanceNorm*d
)
if hasattr(nn, "RMSNorm"):
    _NORM_TYPES = _NORM_TYPES + (nn.RMSNorm,)


def _is_norm_module(module: nn.Module) -> bool:
    return isinstance(module, _NORM_TYPES) or "norm" in type(module).__name__.lower()


def is_no_decay(param_name: str, module: nn.Module) -> bool:
    """Standard rule: biases, normalization weights and embedding tables get no weight decay.

    ``module`` is the module that directly owns the parameter (its ``param_name`` is the last dotted part).
    """
    leaf = param_name.rsplit(".", 1)[-1]
    return leaf == "bias" or leaf.endswith("_bias") or _is_norm_module(module) or isinstance(module, nn.Embedding)


def build_param_groups(model: nn.Module, lr: float, weight_decay: float, include_frozen: bool = False) -> list:
    """Build ``torch.optim.AdamW`` parameter groups.

    * Parameters carrying ``param._optim`` (a dict, e.g. ``{"lr": 1e-3, "weight_decay": 0.0}``) are grouped by
      their hint; keys missing from the hint take the global ``lr`` / ``weight_decay``.
    * Other parameters: biases, norm-layer weights and ``nn.Embedding`` tables get weight decay 0, everything
      else ``weight_decay``.
    * Frozen parameters (``requires_grad=False``) are left out unless ``include_frozen``; shared parameters
      appear once. Empty groups are omitted. Each group has a ``"name"`` key for logging.

    Returns a list of dicts ``{"params": [...], "lr": float, "weight_decay": float, "name": str}`` accepted by
    ``torch.optim.AdamW(groups)``; ``lr`` and ``weight_decay`` are the defaults for the unhinted groups.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"build_param_groups: model must be an nn.Module, got {type(model).__name__}")
    if lr < 0 or weight_decay < 0:
        raise ValueError(f"build_param_groups: lr and weight_decay must be >= 0, got lr={lr}, wd={weight_decay}")
    seen: set = set()
    decay: list = []
    no_decay: list = []
    hinted: dict = {}
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if not p.requires_grad and not include_frozen:
                continue
            hint: Optional[dict] = getattr(p, "_optim", None)
            if hint is not None:
                if not isinstance(hint, dict):
                    full = f"{mod_name}.{p_name}" if mod_name else p_name
                    raise TypeError(f"build_param_groups: {full}._optim must be a dict, got {type(hint).__name__}")
                key = tuple(sorted(hint.items()))
                hinted.setdefault(key, []).append(p)
            elif is_no_decay(p_name, module):
                no_decay.append(p)
            else:
                decay.append(p)
    groups = []
    if decay:
        groups.append({"params": decay, "lr": lr, "weight_decay": weight_decay, "name": "decay"})
    if no_decay:
        groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0, "name": "no_decay"})
    for key, params in hinted.items():
        group = {"params": params, "lr": lr, "weight_decay": weight_decay}
        group.update(dict(key))
        group["name"] = "hint:" + ",".join(f"{k}={v}" for k, v in key)
        groups.append(group)
    return groups
