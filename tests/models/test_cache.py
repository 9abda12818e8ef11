"""Exactness of cached (incremental) decoding against full recomputation, for every causal mixer.

Tolerance: the cached path computes the same sums as the uncached one but in a different order (a direct dot
product over the cached inputs instead of an FFT convolution; SDPA over a KV cache instead of a full masked
SDPA). In fp32 (eps ~6e-8) the FFT conv's error is ~eps * log2(n) * sum|k||u| and the dot product's ~eps * n * max,
so for these tiny models (|logits| < ~5, n <= 64) differences are O(1e-6); atol = rtol = 1e-4 leaves a 100x margin
while still catching any wrong tap or off-by-one position (which changes logits by O(1e-2) or more).
"""

from __future__ import annotations

import pytest
import torch

from seqconv.models import SeqConvCache, SeqConvConfig, SeqConvForCausalLM
from seqconv.models.cache import causal_dot
from seqconv.models.modeling import block_forward

VOCAB = 29  # prime, odd
MIXERS = {
    "hyena": {},
    "hyena3": {"mixer_kwargs": {"order": 3, "short_filter_order": 5}},
    "sgconv": {"kernel_kwargs": {"kernel_dim": 4}, "mixer_kwargs": {"channels": 2}},
    "longconv": {"kernel_kwargs": {"lam": 0.0}},
    "s4d": {"kernel_kwargs": {"d_state": 8}},
    "tcn": {"mixer_kwargs": {"kernel_size": 3}},
    "tcnca": {"mixer_kwargs": {"chunk_size": 7}},
    "transformer": {"mixer_kwargs": {"n_heads": 2}},
    "transformer_learned": {"mixer_kwargs": {"n_heads": 2, "positional": "learned"}},
}


def make(name: str, l_max: int = 64, **over) -> SeqConvForCausalLM:
    kw = dict(MIXERS[name])
    mixer = {"hyena3": "hyena", "transformer_learned": "transformer"}.get(name, name)
    kw.update(over)
    cfg = SeqConvConfig(mixer=mixer, d_model=16, n_layer=2, vocab_size=VOCAB, max_position_embeddings=l_max,
                        mlp_ratio=2.0, eos_token_id=None, **kw)
    torch.manual_seed(0)
    model = SeqConvForCausalLM(cfg).eval()
    if mixer in ("sgconv", "longconv", "s4d", "hyena"):
        # make the long-range taps matter: the default inits give tiny far taps
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("name", list(MIXERS))
def test_stepwise_logits_match_full_forward(name):
    model = make(name)
    ids = torch.randint(0, VOCAB, (2, 23), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(ids, use_cache=False).logits
        out = model(ids[:, :9], use_cache=True)  # prefill 9 tokens
        cache = out.cache
        parts = [out.logits]
        parts.append(model(ids[:, 9:12], cache=cache).logits)  # multi-token continuation
        for t in range(12, 23):
            parts.append(model(ids[:, t : t + 1], cache=cache).logits)  # single-token steps
    inc = torch.cat(parts, 1)
    assert cache.get_seq_length() == 23
    torch.testing.assert_close(inc, full, atol=1e-4, rtol=1e-4)


_SLOW_GEN = ("hyena3", "tcn", "tcnca", "transformer_learned")  # covered by the logits test in the default suite


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in _SLOW_GEN else n for n in MIXERS]
)
def test_greedy_generate_same_tokens(name):
    model = make(name)
    ids = torch.randint(0, VOCAB, (2, 7), generator=torch.Generator().manual_seed(2))
    a = model.generate(ids, max_new_tokens=9, do_sample=False, use_cache=True)
    b = model.generate(ids, max_new_tokens=9, do_sample=False, use_cache=False)
    assert a.shape == (2, 16)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["hyena", pytest.param("tcnca", marks=pytest.mark.slow), "transformer"])
def test_left_padded_batch_matches_recompute(name):
    model = make(name)
    ids = torch.randint(1, VOCAB, (3, 10), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0
    mask[2, :1] = 0
    ids = ids.masked_fill(mask == 0, 0)
    a = model.generate(ids, attention_mask=mask, max_new_tokens=6, do_sample=False)
    b = model.generate(ids, attention_mask=mask, max_new_tokens=6, do_sample=False, use_cache=False)
    assert torch.equal(a, b)
    # logits of the cached steps match a full masked forward
    with torch.no_grad():
        full_mask = torch.cat([mask, torch.ones(3, a.shape[1] - 10, dtype=mask.dtype)], 1)
        full = model(a, attention_mask=full_mask, use_cache=False).logits
        out = model(a[:, :10], attention_mask=mask, use_cache=True)
        steps = [out.logits]
        for t in range(10, a.shape[1]):
            steps.append(model(a[:, t : t + 1], attention_mask=full_mask[:, : t + 1], cache=out.cache).logits)
    inc = torch.cat(steps, 1)
    real = full_mask.bool()
    torch.testing.assert_close(inc[real], full[real], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["hyena", pytest.param("tcnca", marks=pytest.mark.slow)])
def test_beam_search_and_sampling_match_recompute(name):
    model = make(name)
    ids = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(4))
    a = model.generate(ids, max_new_tokens=6, num_beams=3, do_sample=False)
    b = model.generate(ids, max_new_tokens=6, num_beams=3, do_sample=False, use_cache=False)
    assert torch.equal(a, b)
    torch.manual_seed(7)
    s1 = model.generate(ids, max_new_tokens=6, do_sample=True, top_k=5, num_return_sequences=2)
    torch.manual_seed(7)
    s2 = model.generate(ids, max_new_tokens=6, do_sample=True, top_k=5, num_return_sequences=2, use_cache=False)
    assert s1.shape == (4, 14)
    assert torch.equal(s1, s2)


def test_continue_from_returned_cache():
    model = make("hyena")
    ids = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(5))
    r = model.generate(ids, max_new_tokens=5, do_sample=False, return_dict_in_generate=True)
    assert isinstance(r.cache, SeqConvCache)
    assert r.cache.get_seq_length() == r.sequences.shape[1] - 1  # the last token was sampled, not yet fed
    more = torch.cat([r.sequences, torch.randint(0, VOCAB, (2, 3), generator=torch.Generator().manual_seed(6))], 1)
    a = model.generate(more, cache=r.cache, max_new_tokens=6, do_sample=False)
    b = model.generate(more, max_new_tokens=6, do_sample=False, use_cache=False)
    assert torch.equal(a, b)


def test_causal_dot_matches_direct_sum():
    g = torch.Generator().manual_seed(0)
    B, C, H, Lmax, t = 2, 3, 5, 17, 11
    buf = torch.randn(B, H, Lmax, generator=g, dtype=torch.float64)
    k = torch.randn(C, H, Lmax, generator=g, dtype=torch.float64)
    got = causal_dot(buf, k.flip(-1).contiguous(), t)
    want = torch.zeros(B, C, H, dtype=torch.float64)
    for s in range(t + 1):
        want += k[None, :, :, s] * buf[:, None, :, t - s]
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)  # fp64: only summation-order rounding


@pytest.mark.parametrize("name", ["sgconv", "longconv", "s4d", "hyena"])
def test_kernels_are_prefix_consistent(name):
    """The cache computes the kernel once for max length; this is exact only if kernel(L)[..., :l] == kernel(l)."""
    model = make(name)
    mixer = model.model.backbone.layers[0].mixer
    kern = mixer.filter_fn if name == "hyena" else mixer.kernel
    with torch.no_grad():
        long, short = kern(64).clone(), kern(13).clone()
    torch.testing.assert_close(long[..., :13], short, atol=1e-6, rtol=1e-6)


def test_block_forward_matches_block():
    model = make("sgconv")
    block = model.model.backbone.layers[0]
    x = torch.randn(2, 9, 16)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[0, :3] = False
    for prenorm in (True, False):
        block.prenorm = prenorm
        torch.testing.assert_close(block_forward(block, x, mask, block.mixer), block(x, mask), atol=0, rtol=0)


def test_cache_grows_and_reorders():
    model = make("transformer", l_max=300)
    ids = torch.randint(0, VOCAB, (2, 70), generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        out = model(ids, use_cache=True)
        cache = out.cache
        cache.reorder_cache(torch.tensor([1, 0]))
        step = model(ids[[1, 0], 69:70] * 0 + 3, cache=cache).logits
        full = model(torch.cat([ids[[1, 0]], torch.full((2, 1), 3)], 1), use_cache=False).logits[:, -1:]
    torch.testing.assert_close(step, full, atol=1e-4, rtol=1e-4)
    assert cache.layers[0].keys.shape[2] >= 71


def test_uncacheable_configs_raise_clearly():
    cfg = SeqConvConfig(mixer="hyena", d_model=8, n_layer=1, vocab_size=VOCAB, max_position_embeddings=32,
                        mixer_kwargs={"normalized": True})
    model = SeqConvForCausalLM(cfg).eval()
    with pytest.raises(ValueError, match="normalized=True"):
        model(torch.zeros(1, 4, dtype=torch.long), use_cache=True)
    # the uncached path still works
    assert model(torch.zeros(1, 4, dtype=torch.long), use_cache=False).logits.shape == (1, 4, VOCAB)
    with pytest.raises(ValueError, match="bidirectional"):
        SeqConvForCausalLM(SeqConvConfig(mixer="sgconv", d_model=8, n_layer=1, bidirectional=True))


def test_cache_rejects_too_long_and_wrong_batch():
    model = make("hyena", l_max=16)
    with torch.no_grad():
        out = model(torch.zeros(1, 15, dtype=torch.long), use_cache=True)
        with pytest.raises(ValueError, match="exceeds max_position_embeddings"):
            model(torch.zeros(1, 2, dtype=torch.long), cache=out.cache)
        with pytest.raises(ValueError, match="batch size"):
            model(torch.zeros(3, 1, dtype=torch.long), cache=out.cache)
        with pytest.raises(TypeError, match="SeqConvCache"):
            model(torch.zeros(1, 1, dtype=torch.long), cache=object())
