"""Training helpers: AdamW parameter groups from optimizer hints, LM data packing and tokenization."""

from seqconv.training.param_groups import build_param_groups

__all__ = ["build_param_groups"]
