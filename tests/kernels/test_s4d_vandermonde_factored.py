"""The factored S4D Vandermonde product equals the direct definition exp(dtA * l) for every l."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqconv.kernels import s4d_vandermonde


def direct(C: torch.Tensor, dtA: torch.Tensor, L: int) -> torch.Tensor:
    pos = torch.arange(L, dtype=dtA.real.dtype)
    return 2 * torch.einsum("chn,hnl->chl", C, torch.exp(dtA.unsqueeze(-1) * pos)).real


@settings(max_examples=20, deadline=None)
@given(L=st.integers(1, 300), H=st.integers(1, 5), N=st.integers(1, 6), channels=st.integers(1, 3),
       chunk=st.sampled_from([1, 7, 1 << 24]))
def test_factored_matches_direct_float64(L: int, H: int, N: int, channels: int, chunk: int) -> None:
    g = torch.Generator().manual_seed(L * 31 + H)
    dtA = torch.complex(-torch.rand(H, N, generator=g, dtype=torch.float64) * 0.3,
                        torch.rand(H, N, generator=g, dtype=torch.float64) * 5)
    C = torch.complex(torch.randn(channels, H, N, generator=g, dtype=torch.float64),
                      torch.randn(channels, H, N, generator=g, dtype=torch.float64))
    # float64: exp(x a S) exp(x b) and exp(x (aS + b)) differ by a few ulp of O(1) terms
    torch.testing.assert_close(s4d_vandermonde(C, dtA, L, chunk_elems=chunk), direct(C, dtA, L), rtol=1e-10, atol=1e-10)


def test_factored_float32_long_kernel_close_to_float64() -> None:
    """At L = 4096 in float32 the factored kernel is as close to the float64 truth as the direct float32 one."""
    g = torch.Generator().manual_seed(0)
    dtA = torch.complex(-torch.rand(8, 16, generator=g, dtype=torch.float64) * 0.01,
                        torch.rand(8, 16, generator=g, dtype=torch.float64) * 3)
    C = torch.complex(torch.randn(1, 8, 16, generator=g, dtype=torch.float64),
                      torch.randn(1, 8, 16, generator=g, dtype=torch.float64))
    truth = direct(C, dtA, 4096)
    err_fast = (s4d_vandermonde(C.to(torch.complex64), dtA.to(torch.complex64), 4096).double() - truth).abs().max()
    err_direct = (direct(C.to(torch.complex64), dtA.to(torch.complex64), 4096).double() - truth).abs().max()
    assert err_fast <= 2 * err_direct + 1e-5, (err_fast, err_direct)
