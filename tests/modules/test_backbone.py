import pytest
import torch

from seqconv.modules.backbone import Backbone, BackboneConfig, SequenceClassifier, SequenceTagger
from seqconv.modules.norms import SequenceBatchNorm, build_norm
from seqconv.modules.pooling import Pooling, pool


def _cfg(**kw):
    base = dict(d_model=16, n_layer=2, mixer="tcn", mixer_kwargs={"receptive_field": 16}, vocab_size=11)
    base.update(kw)
    return BackboneConfig(**base)


# ---- norms -------------------------------------------------------------------------------------------------------


def test_batchnorm_matches_torch_without_mask():
    torch.manual_seed(0)
    x = torch.randn(4, 9, 6, dtype=torch.float64)
    ours, ref = SequenceBatchNorm(6).double(), torch.nn.BatchNorm1d(6).double()
    for _ in range(3):  # training: batch stats and running-stat updates
        # both compute the same fp64 statistics -> 1e-10
        torch.testing.assert_close(ours(x), ref(x.transpose(1, 2)).transpose(1, 2), atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x), ref(x.transpose(1, 2)).transpose(1, 2), atol=1e-10, rtol=1e-10)


def test_batchnorm_masked_statistics_ignore_padding():
    torch.manual_seed(0)
    x = torch.randn(2, 10, 4, dtype=torch.float64)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    bn = SequenceBatchNorm(4).double()
    y = bn(x, mask)
    x2 = x.clone()
    x2[1, 6:] = 1e3  # garbage in padding must not move the statistics
    torch.testing.assert_close(bn(x2, mask)[mask], y[mask])
    real = x[mask]  # (n_real, 4)
    expected = (real - real.mean(0)) / torch.sqrt(real.var(0, unbiased=False) + 1e-5)
    torch.testing.assert_close(y[mask], expected)


@pytest.mark.parametrize("name", ["layernorm", "batchnorm", "rmsnorm", "none", "LayerNorm"])
def test_build_norm(name):
    n = build_norm(name, 8)
    x = torch.randn(2, 5, 8)
    assert n(x, torch.ones(2, 5, dtype=torch.bool)).shape == x.shape


def test_rmsnorm_value():
    x = torch.randn(3, 4, 8, dtype=torch.float64)
    n = build_norm("rmsnorm", 8).double()
    torch.testing.assert_close(n(x), x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))


def test_bad_norm():
    with pytest.raises(ValueError, match="groupnorm"):
        build_norm("groupnorm", 8)


# ---- pooling ------------------------------------------------------------------------------------------------------


def test_pooling_modes():
    x = torch.arange(2 * 5 * 1, dtype=torch.float32).reshape(2, 5, 1)
    mask = torch.tensor([[True, True, True, False, False], [False, False, True, True, True]])
    assert pool(x, mask, "mean").flatten().tolist() == [1.0, 8.0]
    assert pool(x, mask, "last").flatten().tolist() == [2.0, 9.0]
    assert pool(x, mask, "first").flatten().tolist() == [0.0, 7.0]
    assert pool(x, mask, "max").flatten().tolist() == [2.0, 9.0]
    assert pool(x, mask, "sum").flatten().tolist() == [3.0, 24.0]
    assert pool(x, None, "last").flatten().tolist() == [4.0, 9.0]
    assert Pooling("mean")(x).flatten().tolist() == [2.0, 7.0]


def test_pooling_errors():
    x = torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match="pooling mode"):
        pool(x, None, "median")
    with pytest.raises(ValueError, match="no real positions"):
        pool(x, torch.tensor([[True] * 4, [False] * 4]))
    with pytest.raises(ValueError, match="mask must have shape"):
        pool(x, torch.ones(2, 5, dtype=torch.bool))


# ---- backbone -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mixer,kw", [("tcn", {"receptive_field": 16}), ("tcnca", {"chunk_size": 8}),
                                      ("transformer", {"n_heads": 2})])
@pytest.mark.parametrize("prenorm,norm,mlp", [(True, "layernorm", 2.0), (False, "batchnorm", 0.0),
                                               (True, "rmsnorm", 0.0)])
def test_backbone_shapes_and_grads(mixer, kw, prenorm, norm, mlp):
    torch.manual_seed(0)
    model = Backbone(_cfg(mixer=mixer, mixer_kwargs=kw, prenorm=prenorm, norm=norm, mlp_ratio=mlp))
    ids = torch.randint(0, 11, (3, 21))
    mask = torch.ones(3, 21, dtype=torch.bool)
    mask[2, 15:] = False
    y = model(ids, mask)
    assert y.shape == (3, 21, 16)
    y.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("mixer,kw", [("tcn", {"receptive_field": 16}), ("tcnca", {"chunk_size": 8}),
                                      ("transformer", {"n_heads": 2})])
@pytest.mark.parametrize("norm", ["layernorm", "batchnorm"])
def test_backbone_causal_and_padding(mixer, kw, norm):
    torch.manual_seed(0)
    model = Backbone(_cfg(mixer=mixer, mixer_kwargs=kw, causal=True, norm=norm)).eval()
    ids = torch.randint(1, 11, (2, 30))
    ids2 = ids.clone()
    ids2[:, 17:] = torch.randint(1, 11, (2, 13))
    with torch.no_grad():
        # fp32, same prefix computation -> 1e-5
        torch.testing.assert_close(model(ids)[:, :17], model(ids2)[:, :17], atol=1e-5, rtol=1e-5)
        mask = torch.ones(2, 30, dtype=torch.bool)
        mask[:, 24:] = False
        torch.testing.assert_close(model(ids, mask)[:, :24], model(ids[:, :24]), atol=1e-5, rtol=1e-5)


def test_backbone_bidirectional_padding_invariance():
    torch.manual_seed(0)
    model = Backbone(_cfg(mixer="transformer", mixer_kwargs={"n_heads": 2}, causal=False, mlp_ratio=1.0)).eval()
    ids = torch.randint(1, 11, (2, 20))
    padded = torch.cat([ids, torch.randint(0, 11, (2, 7))], dim=1)
    mask = torch.ones(2, 27, dtype=torch.bool)
    mask[:, 20:] = False
    with torch.no_grad():
        torch.testing.assert_close(model(padded, mask)[:, :20], model(ids), atol=1e-5, rtol=1e-5)


def test_backbone_continuous_inputs():
    model = Backbone(_cfg(vocab_size=None, d_input=3))
    assert model(torch.randn(2, 12, 3)).shape == (2, 12, 16)
    model1 = Backbone(_cfg(vocab_size=None, d_input=1))
    assert model1(torch.randn(2, 12)).shape == (2, 12, 16)
    with pytest.raises(TypeError, match="floating point"):
        model(torch.randint(0, 3, (2, 12, 3)))
    with pytest.raises(ValueError, match="continuous inputs"):
        model(torch.randn(2, 12, 4))


def test_backbone_bf16_autocast():
    torch.manual_seed(0)
    model = Backbone(_cfg(mixer="tcnca", mixer_kwargs={"chunk_size": 8})).eval()
    ids = torch.randint(0, 11, (2, 19))
    with torch.no_grad():
        ref = model(ids)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = model(ids)
    # bf16 (8 mantissa bits) through 2 blocks -> 5e-2 relative to the output scale
    assert (y.float() - ref).abs().max() / ref.abs().max() < 5e-2


def test_classifier_and_dual():
    torch.manual_seed(0)
    clf = SequenceClassifier(Backbone(_cfg()), n_classes=4, pooling="last")
    ids = torch.randint(0, 11, (3, 13))
    assert clf(ids).shape == (3, 4)
    dual = SequenceClassifier(Backbone(_cfg()), n_classes=2, dual=True)
    ids2 = torch.randint(0, 11, (3, 9))
    out = dual(ids, None, ids2, None)
    assert out.shape == (3, 2)
    a, b = dual.features(ids), dual.features(ids2)
    torch.testing.assert_close(out, dual.head(torch.cat([a, b, a - b, a * b], -1)))
    with pytest.raises(ValueError, match="needs inputs2"):
        dual(ids)
    with pytest.raises(ValueError, match="dual=False"):
        clf(ids, None, ids2)
    tagger = SequenceTagger(Backbone(_cfg()), n_classes=5)
    assert tagger(ids).shape == (3, 13, 5)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"vocab_size": None}, "exactly one"),
        ({"d_input": 3}, "exactly one"),
        ({"n_layer": 0}, "n_layer"),
        ({"mlp_ratio": -1}, "mlp_ratio"),
        ({"dropout": 1.0}, "dropout"),
        ({"pooling": "median"}, "pooling"),
    ],
)
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        _cfg(**kw)


def test_unknown_mixer_in_backbone():
    with pytest.raises(ValueError, match="valid names"):
        Backbone(_cfg(mixer="lstm"))


def test_bad_token_inputs():
    with pytest.raises(TypeError, match="integer"):
        Backbone(_cfg())(torch.randn(2, 5))
    with pytest.raises(ValueError, match="mask must have shape"):
        Backbone(_cfg())(torch.randint(0, 11, (2, 5)), torch.ones(2, 6, dtype=torch.bool))
