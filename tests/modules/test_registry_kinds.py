"""Registry metadata (mixer_kind / is_attention / is_global_conv) and runtime registration everywhere names are used."""

from __future__ import annotations

import pytest
from torch import nn

from seqconv.modules.registry import (
    is_attention,
    is_global_conv,
    mixer_kind,
    mixer_names,
    register_mixer,
    unregister_mixer,
)

BUILTIN = ["sgconv", "longconv", "s4d", "hyena", "tcn", "tcnca", "transformer"]


class _Ident(nn.Module):
    def __init__(self, d_model, causal=True, **kw):
        super().__init__()
        self.lin = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None):
        return self.lin(x)


@pytest.fixture
def custom_mixer():
    register_mixer("test_custom_ident", _Ident)
    yield "test_custom_ident"
    unregister_mixer("test_custom_ident")


def test_kinds():
    assert mixer_names(kind="global_conv") == ["longconv", "s4d", "sgconv"]
    assert mixer_names(kind="attention") == ["attention", "transformer"]
    canonical = mixer_names(canonical=True)  # other tests in this process may have registered custom mixers
    assert set(BUILTIN) <= set(canonical) and "attention" not in canonical
    assert is_attention("transformer") and is_attention("attention") and not is_attention("hyena")
    assert is_global_conv("s4d") and not is_global_conv("tcn")
    assert mixer_kind("tcnca") == "conv"
    with pytest.raises(ValueError, match="valid names"):
        mixer_kind("nope")


def test_register_kind_and_unregister(custom_mixer):
    assert custom_mixer in mixer_names() and mixer_kind(custom_mixer) == "custom"
    register_mixer("test_custom_attn", _Ident, kind="attention")
    try:
        assert is_attention("test_custom_attn")
    finally:
        unregister_mixer("test_custom_attn")
    assert "test_custom_attn" not in mixer_names()
    with pytest.raises(ValueError, match="kind"):
        register_mixer("test_bad_kind", _Ident, kind="bogus")
    with pytest.raises(ValueError, match="built in"):
        unregister_mixer("tcn")


def test_config_accepts_registered_mixer(custom_mixer):
    from seqconv.models import SeqConvConfig

    cfg = SeqConvConfig(mixer=custom_mixer, d_model=8, n_layer=1)
    assert cfg.mixer == custom_mixer
    with pytest.raises(ValueError, match="global-convolution"):
        SeqConvConfig(mixer=custom_mixer, kernel_kwargs={"kernel_dim": 4})
    for name in mixer_names():
        SeqConvConfig(mixer=name, d_model=8, n_layer=1)
    with pytest.raises(ValueError, match="unknown mixer"):
        SeqConvConfig(mixer="no_such_mixer")


def test_registered_mixer_in_experiment_choices(custom_mixer):
    from experiments import bench_mixers, compare_lm, pretrain_lm

    assert custom_mixer in pretrain_lm.model_choices()
    assert "gpt2" in pretrain_lm.model_choices()
    assert set(mixer_names()) <= set(pretrain_lm.model_choices())
    ap = pretrain_lm.build_parser()
    args = ap.parse_args(["--model", custom_mixer, "--output-dir", "x"])
    assert args.model == custom_mixer
    assert ap.parse_args(["--output-dir", "x"]).model == "sgconv"
    assert custom_mixer in bench_mixers.mixer_list()
    assert bench_mixers.mixer_list()[-1] == "transformer" and "attention" not in bench_mixers.mixer_list()
    n = compare_lm.count_params(custom_mixer, 8, 1, 2, 16, 257)
    assert n > 0


def test_lra_models_are_the_registry_builtins():
    from lra.tasks import MODELS

    # every built-in has an LRA recipe (custom mixers registered by other tests in this process have none)
    assert sorted(MODELS) == sorted(BUILTIN) and set(MODELS) <= set(mixer_names(canonical=True))
