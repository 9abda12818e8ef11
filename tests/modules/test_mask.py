"""The one mask and length contract, the same for every registered mixer."""

from __future__ import annotations

import pytest
import torch

from seqconv.modules import build_mixer
from seqconv.modules.mask import check_mixer_input

MIXERS = {
    "sgconv": {"kernel_kwargs": {"kernel_dim": 4}},
    "longconv": {},
    "s4d": {},
    "hyena": {},
    "tcn": {"receptive_field": 8},
    "tcnca": {"chunk_size": 4},
    "transformer": {"n_heads": 2},
}
B, L, D, LMAX = 2, 12, 8, 16


def _mixer(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_mixer(name, D, causal=True, l_max=LMAX, **MIXERS[name]).eval()


@pytest.mark.parametrize("name", list(MIXERS))
def test_bool_int_and_float_01_masks_are_the_same(name: str) -> None:
    m = _mixer(name)
    x = torch.randn(B, L, D)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, :3] = False  # left padding
    with torch.no_grad():
        ref = m(x, mask)
        assert torch.equal(m(x, mask.long()), ref)
        assert torch.equal(m(x, mask.float()), ref)


@pytest.mark.parametrize("name", list(MIXERS))
def test_additive_mask_wrong_shape_and_too_long_are_refused(name: str) -> None:
    m = _mixer(name)
    x = torch.randn(B, L, D)
    additive = torch.zeros(B, L)
    additive[0, :3] = float("-inf")  # transformers' 0 / -inf style
    with pytest.raises(ValueError, match="additive attention mask"):
        m(x, additive)
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, length\)"):
        m(x, torch.ones(B, 1, dtype=torch.bool))  # a (batch, 1) mask is not broadcast silently
    with pytest.raises(ValueError, match=f"exceeds l_max={LMAX}"):
        m(torch.randn(B, LMAX + 1, D))
    with pytest.raises(ValueError, match="x must be"):
        m(torch.randn(B, L))


def test_backbone_refuses_lengths_above_l_max() -> None:
    from seqconv.modules import Backbone, BackboneConfig

    for mixer in ("sgconv", "longconv"):  # kernels parameterized up to l_max: longer input would cut the field
        kw = {"kernel_kwargs": {"kernel_dim": 4}} if mixer == "sgconv" else {}
        net = Backbone(BackboneConfig(mixer=mixer, d_model=D, n_layer=1, l_max=LMAX, vocab_size=11, mixer_kwargs=kw))
        net(torch.randint(0, 11, (1, LMAX)))
        with pytest.raises(ValueError, match=f"exceeds l_max={LMAX}"):
            net(torch.randint(0, 11, (1, LMAX + 1)))


def test_offset_counts_cached_tokens() -> None:
    x = torch.randn(1, 4, D)
    check_mixer_input(x, None, "m", l_max=8, offset=4)
    with pytest.raises(ValueError, match="after 5 cached tokens"):
        check_mixer_input(x, None, "m", l_max=8, offset=5)
