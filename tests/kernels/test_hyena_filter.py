import math

import pytest
import torch

from seqconv.kernels import HyenaFilter, hyena_positional_features


def test_positional_features_formula():
    L, emb = 10, 7
    z = hyena_positional_features(L, L, emb, dtype=torch.float64)
    assert z.shape == (L, emb)
    torch.testing.assert_close(z[:, 0], torch.linspace(0, 1, L, dtype=torch.float64))
    f = torch.linspace(1e-4, 2, 3, dtype=torch.float64)
    pos = torch.arange(L, dtype=torch.float64)
    ref = torch.exp(-1j * f[None] * (2 * math.pi * pos / L)[:, None])
    torch.testing.assert_close(z[:, 1:4], ref.real)
    torch.testing.assert_close(z[:, 4:7], ref.imag)


@pytest.mark.parametrize("emb_dim", [2, 4, 1])
def test_even_emb_dim_rejected(emb_dim):
    with pytest.raises(ValueError, match="emb_dim"):
        HyenaFilter(4, 32, emb_dim=emb_dim)


def test_shapes_hints_and_window():
    torch.manual_seed(0)
    f = HyenaFilter(8, 64, channels=3, emb_dim=5, width=16, w=14.0)
    assert f(64).shape == (3, 8, 64)
    sins = [m for m in f.modules() if type(m).__name__ == "Sin"]
    assert len(sins) == 1 and torch.all(sins[0].freq == 14.0)  # one shared Sin, as published
    for p in f.parameters():
        assert p._optim == {"lr": 1e-3, "weight_decay": 0.0}
    deltas = torch.linspace(math.log(1e-2) / 1.5, math.log(1e-2) / 0.3, 24)
    torch.testing.assert_close(f.deltas, deltas)
    assert not f.deltas.requires_grad and "deltas" in dict(f.named_buffers())
    # window = ratio between the modulated filter and the same MLP without modulation
    g = HyenaFilter(8, 64, channels=3, emb_dim=5, width=16, w=14.0, modulate=False)
    g.load_state_dict(f.state_dict())
    t = torch.linspace(0, 1, 64)
    window = torch.exp(-t[None, :] * deltas.abs()[:, None]).view(3, 8, 64)
    torch.testing.assert_close(f(64), g(64) * window)


def test_window_decays():
    torch.manual_seed(0)
    f = HyenaFilter(32, 256, channels=2)
    h = f(256).detach().abs()
    assert h[..., 192:].mean() < 0.5 * h[..., :64].mean()


def test_normalized_l1():
    f = HyenaFilter(4, 32, channels=2, normalized=True)
    torch.testing.assert_close(f(32).abs().sum(-1), torch.ones(2, 4))


def test_bidirectional_and_long_L():
    f = HyenaFilter(4, 32, channels=2, bidirectional=True)
    assert f(32).shape == (2, 2, 4, 32)
    assert f(50).shape == (2, 2, 4, 50)
    torch.testing.assert_close(f(50)[..., :32], f(32))  # longer L extrapolates, prefix unchanged


def test_bad_config():
    with pytest.raises(ValueError, match="width"):
        HyenaFilter(4, 32, width=0)
    with pytest.raises(ValueError, match="target"):
        HyenaFilter(4, 32, target=2.0)
