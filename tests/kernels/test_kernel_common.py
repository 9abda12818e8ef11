"""Contract tests shared by every kernel parameterization: shapes, eval caching, gradients, errors."""

import pytest
import torch

from seqconv.kernels import KERNELS, build_kernel

SMALL = {"sgconv": {"kernel_dim": 4}, "hyena_filter": {"width": 8}, "s4d": {"d_state": 4}, "longconv": {}}


def _make(name, **kw):
    torch.manual_seed(0)
    return build_kernel(name, 6, 32, **{**SMALL[name], **kw})


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("L", [1, 17, 32, 45])
def test_shapes(name, bidirectional, L):
    k = _make(name, channels=3, bidirectional=bidirectional)
    out = k(L)
    assert out.shape == ((3, 2, 6, L) if bidirectional else (3, 6, L)) == k.output_shape(L)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


class _Counter:
    def __init__(self, module):
        self.n = 0
        orig = module._compute

        def wrapped(L):
            self.n += 1
            return orig(L)

        module._compute = wrapped


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_eval_cache(name):
    k = _make(name)
    c = _Counter(k)
    k(32), k(32)
    assert c.n == 2  # training: always recomputed
    k.eval()
    with torch.no_grad():
        a = k(32)
        b = k(32)
        assert c.n == 3 and a is b
        k(16)
        assert c.n == 4  # new L
        k(16)
        assert c.n == 4
        p = next(p for p in k.parameters() if p.requires_grad)
        p.add_(0.5)  # in-place update (as an optimizer step) invalidates the cache
        d = k(16)
        assert c.n == 5 and not torch.equal(d, a[..., :16])
    with torch.inference_mode():
        k(16)
        assert c.n == 5
    k(16).sum().backward()  # eval but gradients wanted: recomputed, differentiable
    assert c.n == 6 and p.grad is not None
    k.train()
    k.eval()
    with torch.no_grad():
        k(16)
    assert c.n == 7  # mode switch cleared the cache
    k2 = k.double()
    with torch.no_grad():
        assert k2(16).dtype == torch.float64
    assert c.n == 8


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_gradients_reach_all_params(name):
    k = _make(name, channels=2, bidirectional=True)
    k(40).square().sum().backward()
    for pname, p in k.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_autocast_keeps_fp32(name):
    k = _make(name)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert k(32).dtype == torch.float32


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_length(name, bad):
    with pytest.raises(ValueError, match="L must be a positive int"):
        _make(name)(bad)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_bad_common_args(name):
    with pytest.raises(ValueError, match="channels"):
        build_kernel(name, 4, 32, channels=0, **SMALL[name])
    with pytest.raises(ValueError, match="d_model"):
        build_kernel(name, 0, 32, **SMALL[name])
    with pytest.raises(ValueError, match="unknown kernel"):
        build_kernel("gconv", 4, 32)
