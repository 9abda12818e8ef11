import importlib.util

import pytest
import torch
from torch import nn

from seqconv.modules.registry import build_mixer, get_mixer_class, mixer_names, register_mixer
from tests.modules._mixer_checks import check_bf16_autocast, check_causal, check_gradients, check_padding_invariance

_HAS_GC = importlib.util.find_spec("seqconv.modules.global_conv") is not None
_HAS_HYENA = importlib.util.find_spec("seqconv.modules.hyena") is not None

ALL = ["sgconv", "longconv", "s4d", "hyena", "tcn", "tcnca", "transformer"]
KW = {"tcn": {"receptive_field": 64}, "tcnca": {"chunk_size": 8}, "transformer": {"n_heads": 2}}


def _build(name, causal, **kw):
    if name in ("sgconv", "longconv", "s4d") and not _HAS_GC:
        pytest.skip("seqconv.modules.global_conv not present")
    if name == "hyena" and not _HAS_HYENA:
        pytest.skip("seqconv.modules.hyena not present")
    torch.manual_seed(0)
    return build_mixer(name, 16, causal=causal, l_max=64, layer_idx=0, **{**KW.get(name, {}), **kw})


def test_names():
    assert set(ALL) <= set(mixer_names())


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="valid names") as e:
        build_mixer("mamba", 16)
    for n in ALL:
        assert n in str(e.value)
    with pytest.raises(TypeError, match="str"):
        build_mixer(3, 16)


@pytest.mark.parametrize("name", ["sgconv", "longconv", "s4d"])
def test_global_conv_kernel_and_direction(name):
    m = _build(name, causal=False)
    assert type(m).__name__ == "GlobalConv" and m.bidirectional
    assert not _build(name, causal=True).bidirectional


def test_direction_translation():
    assert _build("tcn", causal=False).causal is False
    assert _build("tcnca", causal=True).causal is True
    assert _build("transformer", causal=False).causal is False
    assert get_mixer_class("attention") is get_mixer_class("transformer")


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("name", ALL)
def test_every_causal_mixer_is_causal(name, with_mask):
    check_causal(_build(name, causal=True), 16, length=40, t0=23, with_mask=with_mask)


@pytest.mark.parametrize("name", ["sgconv", "longconv", "s4d", "tcn", "tcnca", "transformer"])
def test_bidirectional_padding_never_changes_real_positions(name):
    check_padding_invariance(_build(name, causal=False), 16, length=29, pad=11)


@pytest.mark.parametrize("name", ALL)
def test_bf16_and_gradients_through_registry(name):
    m = _build(name, causal=True)
    check_bf16_autocast(m, 16)
    check_gradients(m, 16)


def test_register_custom_mixer():
    class Shift(nn.Module):
        def __init__(self, d_model, causal=True, layer_idx=None):
            super().__init__()
            self.lin = nn.Linear(d_model, d_model)
            self.causal = causal

        def forward(self, x, mask=None):
            return self.lin(x)

    register_mixer("test_shift", Shift)
    m = build_mixer("test_shift", 8, causal=False, layer_idx=2)
    assert isinstance(m, Shift) and m.causal is False
    with pytest.raises(ValueError, match="built in"):
        register_mixer("tcn", Shift)
