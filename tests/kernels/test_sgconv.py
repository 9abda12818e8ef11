import math

import pytest
import torch

from seqconv.kernels import SGConvKernel, sgconv_num_scales


@pytest.mark.parametrize(
    "l_max,kernel_dim,init_scale,expected",
    [(2048, 1, 0, 12), (4096, 2, 0, 12), (4000, 1, 0, 13), (1024, 32, 0, 6), (16384, 64, 1, 8)],
    ids=["listops", "text", "retrieval", "image", "pathx"],
)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_scale_layouts_and_param_count(l_max, kernel_dim, init_scale, expected, bidirectional):
    assert sgconv_num_scales(l_max, kernel_dim, init_scale) == expected
    H, C = 3, 2
    k = SGConvKernel(H, l_max, channels=C, bidirectional=bidirectional, kernel_dim=kernel_dim, init_scale=init_scale)
    assert k.n_scales == expected
    n = sum(p.numel() for p in k.kernel_list)
    assert n == expected * kernel_dim * H * C * (2 if bidirectional else 1)
    assert k.full_len >= l_max and k.full_len < 2 * l_max
    assert k._unnormalized().shape[-1] == k.full_len


def test_exact_small_layout_by_hand():
    # kernel_dim 2, l_max 8 -> 3 scales of lengths 2, 2, 4; multiplier 2 -> factors 4, 2, 1.
    torch.manual_seed(0)
    k = SGConvKernel(1, 8, kernel_dim=2)
    assert k.n_scales == 3
    w0, w1, w2 = (p.detach()[0, 0] for p in k.kernel_list)
    a, b = w2.tolist()
    # linear interpolation x2 with align_corners=False: [a, 0.75a+0.25b, 0.25a+0.75b, b]
    up = torch.tensor([a, 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b, b])
    raw = torch.cat([4 * w0, 2 * w1, up])
    expected = raw / raw.norm()
    torch.testing.assert_close(k(8)[0, 0], expected, rtol=1e-6, atol=1e-6)  # fp32 round-off only
    torch.testing.assert_close(k(5)[0, 0], expected[:5], rtol=1e-6, atol=1e-6)
    out = k(11)[0, 0]
    torch.testing.assert_close(out[:8], expected, rtol=1e-6, atol=1e-6)
    assert torch.all(out[8:] == 0)


def test_nearest_interpolation():
    torch.manual_seed(0)
    k = SGConvKernel(1, 8, kernel_dim=2, interpolate="nearest", decay_min=1.0, decay_max=1.0)
    a, b = k.kernel_list[2].detach()[0, 0].tolist()
    raw = torch.cat([k.kernel_list[0].detach()[0, 0], k.kernel_list[1].detach()[0, 0], torch.tensor([a, a, b, b])])
    torch.testing.assert_close(k(8)[0, 0], raw / raw.norm(), rtol=1e-6, atol=1e-6)


def test_norm_is_fixed_buffer():
    torch.manual_seed(0)
    k = SGConvKernel(4, 64, channels=2, kernel_dim=4)
    full = k(k.full_len)
    torch.testing.assert_close(full.norm(dim=-1), torch.ones(2, 4), rtol=1e-5, atol=1e-5)
    norm_before = k.kernel_norm.clone()
    with torch.no_grad():
        for p in k.kernel_list:
            p.mul_(3.0)
    assert torch.equal(k.kernel_norm, norm_before)  # not recomputed from the new weights
    torch.testing.assert_close(k(k.full_len).norm(dim=-1), 3 * torch.ones(2, 4), rtol=1e-5, atol=1e-5)
    assert "kernel_norm" in dict(k.named_buffers())


def test_decay_over_scales():
    torch.manual_seed(0)
    k = SGConvKernel(256, 1024, kernel_dim=32)  # 6 scales, segments 32, 32, 64, 128, 256, 512
    kern = k(1024).detach().abs()[0]
    bounds = [0, 32, 64, 128, 256, 512, 1024]
    means = [kern[:, s:e].mean().item() for s, e in zip(bounds[:-1], bounds[1:])]
    assert all(m1 > m2 for m1, m2 in zip(means[:-1], means[1:])), means
    assert means[0] / means[-1] > 8  # 2**5 = 32 nominal, shrunk by interpolation averaging


def test_per_feature_multiplier_range():
    k = SGConvKernel(5, 64, kernel_dim=8, decay_min=1.0, decay_max=3.0)
    torch.testing.assert_close(k.multiplier.flatten(), torch.linspace(1.0, 3.0, 5))


@pytest.mark.parametrize("mode", ["learnable", "learnable-fixed"])
def test_learnable_modes(mode):
    torch.manual_seed(0)
    k = SGConvKernel(6, 32, kernel_dim=4, mode=mode, decay_min=0.5, decay_max=1.5)
    assert torch.all(k.multiplier == 1)
    assert k.decay.shape == (6,) and torch.all((k.decay >= 0.5) & (k.decay <= 1.5))
    assert k.decay.requires_grad == (mode == "learnable")
    # envelope (t+1)^-decay applied to the multiplier-free concatenation before normalization
    pieces = [torch.nn.functional.interpolate(p.detach(), scale_factor=2 ** max(0, i - 1), mode="linear")
              if i > 1 else p.detach() for i, p in enumerate(k.kernel_list)]
    raw = torch.cat(pieces, dim=-1)
    t = torch.arange(raw.shape[-1], dtype=torch.float32)
    raw = raw * (t + 1) ** (-k.decay.detach().view(1, -1, 1))
    torch.testing.assert_close(k(32).detach(), raw / raw.norm(dim=-1, keepdim=True), rtol=1e-5, atol=1e-6)
    if mode == "learnable":
        k(32).sum().backward()
        assert k.decay.grad is not None and k.decay._optim == {"lr": 1e-3, "weight_decay": 0.0}


def test_cos_init_rows_are_permuted_cosines():
    torch.manual_seed(0)
    H, d = 6, 16
    k = SGConvKernel(H, 256, channels=2, kernel_dim=d, init="cos")
    grid = torch.linspace(0, 1, d)
    rows = torch.stack([torch.cos(2 * math.pi * j * grid) for j in range(H)])
    for p in k.kernel_list:
        w = p.detach()
        assert torch.equal(w[0], w[1])  # same for every channel
        # each feature's row is one of the cosines, all distinct -> a permutation
        idx = [int(torch.argmin((rows - w[0, h]).abs().sum(-1))) for h in range(H)]
        assert sorted(idx) == list(range(H))
        torch.testing.assert_close(w[0], rows[idx])


def test_bidirectional_halves():
    torch.manual_seed(0)
    k = SGConvKernel(3, 64, channels=2, bidirectional=True, kernel_dim=8)
    out = k(64)
    assert out.shape == (2, 2, 3, 64)
    full = k._unnormalized() / k.kernel_norm  # (2C, H, L): first C causal, next C anti-causal
    torch.testing.assert_close(out[:, 0], full[:2, :, :64])
    torch.testing.assert_close(out[:, 1], full[2:, :, :64])


def test_optim_hints():
    k = SGConvKernel(3, 64, kernel_dim=8, lr=5e-4)
    for p in k.kernel_list:
        assert p._optim == {"lr": 5e-4, "weight_decay": 0.0}


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kernel_dim": 128}, "kernel_dim=128 is larger than l_max=64"),
        ({"kernel_dim": 8, "init_scale": 5}, "init_scale"),
        ({"mode": "sum"}, "mode"),
        ({"init": "zeros"}, "init"),
        ({"interpolate": "cubic"}, "interpolate"),
        ({"decay_min": 3.0, "decay_max": 1.0}, "decay_min"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGConvKernel(4, 64, **kwargs)
