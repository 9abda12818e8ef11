"""Plot every kernel family (time domain + magnitude spectrum) at init and after a short fit on CPU.

Synthetic task: y = k_target * x (causal conv, per feature) with smooth damped-cosine targets
``k_target[h](t) = exp(-t / tau_h) cos(2 pi t / P_h)``; each kernel parameterization is trained with Adam to
reproduce y from white-noise x for ``--steps`` steps (default 100). One PNG per family is written to
``--out`` (default outputs/plots/): rows = init / trained, columns = time domain / |rfft| (dB).

Usage:  python -m experiments.plot_kernels [--out outputs/plots] [--steps 100] [--length 256]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from seqconv.kernels import HyenaFilter, LongConvKernel, S4DKernel, SGConvKernel  # noqa: E402
from seqconv.ops import long_conv  # noqa: E402

H_PLOT = 3  # features shown per panel


def families(H: int, L: int) -> dict:
    """name -> (title, constructor) for each kernel family plotted."""
    return {
        "sgconv": ("SGConv (kernel_dim 16, decay 1/2 per scale)", lambda: SGConvKernel(H, L, kernel_dim=16)),
        "longconv_squash": ("Long conv, squash lambda=0.002", lambda: LongConvKernel(H, L, lam=0.002)),
        "longconv_smooth": (
            "Long conv, moving-average smoothing + squash",
            lambda: LongConvKernel(H, L, lam=0.002, smoothing="moving_average"),
        ),
        "longconv_gauss": (
            "Long conv, Gaussian-in-frequency smoothing + squash",
            lambda: LongConvKernel(H, L, lam=0.002, smoothing="gaussian"),
        ),
        "hyena_filter": ("Hyena implicit filter (emb_dim 5, width 32)", lambda: HyenaFilter(H, L, emb_dim=5, width=32)),
        "s4d": ("S4D-Lin (d_state 32)", lambda: S4DKernel(H, L, d_state=32)),
    }


def target_kernel(H: int, L: int) -> torch.Tensor:
    """(H, L) damped cosines with periods 12..48 and decay times 20..60 taps, unit L2 norm."""
    t = torch.arange(L, dtype=torch.float32)
    periods = torch.linspace(12, 48, H)[:, None]
    taus = torch.linspace(20, 60, H)[:, None]
    k = torch.exp(-t / taus) * torch.cos(2 * math.pi * t / periods)
    return k / k.norm(dim=-1, keepdim=True)


def fit(kernel: torch.nn.Module, target: torch.Tensor, steps: int, lr: float, batch: int = 8) -> list:
    """Fit ``kernel`` so that long_conv(x, kernel) matches long_conv(x, target); returns the loss curve."""
    H, L = target.shape
    opt = torch.optim.Adam(kernel.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    losses = []
    kernel.train()
    for _ in range(steps):
        x = torch.randn(batch, L, H, generator=g)
        with torch.no_grad():
            y = long_conv(x, target)
        loss = (long_conv(x, kernel(L)[0]) - y).square().mean() / y.square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    kernel.eval()
    return losses


def _panel(axes, k: torch.Tensor, target: torch.Tensor, label: str, show_target: bool) -> None:
    ax_t, ax_f = axes
    L = k.shape[-1]
    for h in range(min(H_PLOT, k.shape[0])):
        (line,) = ax_t.plot(k[h].numpy(), lw=1.0, label=f"feature {h}")
        spec = torch.fft.rfft(k[h], n=2 * L).abs().clamp_min(1e-8)
        ax_f.plot(torch.linspace(0, 0.5, spec.numel()).numpy(), (20 * spec.log10()).numpy(), lw=1.0, color=line.get_color())
        if show_target:
            ax_t.plot(target[h].numpy(), lw=0.8, ls="--", color=line.get_color(), alpha=0.7)
    ax_t.set_title(f"{label}: time domain" + (" (dashed: target)" if show_target else ""), fontsize=9)
    ax_t.set_xlabel("lag t")
    ax_f.set_title(f"{label}: magnitude spectrum", fontsize=9)
    ax_f.set_xlabel("frequency (cycles / sample)")
    ax_f.set_ylabel("dB")
    ax_t.legend(fontsize=7, loc="upper right")


def main(argv=None) -> list:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("outputs/plots"), help="output directory for the PNGs")
    p.add_argument("--steps", type=int, default=100, help="training steps per family")
    p.add_argument("--length", type=int, default=256, help="kernel / sequence length")
    p.add_argument("--features", type=int, default=4, help="features H")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate of the fit")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.steps < 0 or args.length < 16 or args.features < 1:
        raise SystemExit("need --steps >= 0, --length >= 16 and --features >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    target = target_kernel(args.features, args.length)
    written = []
    for name, (title, make) in families(args.features, args.length).items():
        torch.manual_seed(args.seed)
        kernel = make()
        with torch.no_grad():
            k0 = kernel.eval()(args.length)[0].clone()
        t0 = time.perf_counter()
        losses = fit(kernel, target, args.steps, args.lr)
        with torch.no_grad():
            k1 = kernel(args.length)[0].clone()
        fig, axes = plt.subplots(2, 2, figsize=(12, 7), constrained_layout=True)
        _panel(axes[0], k0, target, "init", show_target=False)
        last = f"{losses[-1]:.3g}" if losses else "n/a"
        _panel(axes[1], k1, target, f"after {args.steps} steps (rel. MSE {last})", show_target=True)
        fig.suptitle(f"{title}  -  L={args.length}, first {min(H_PLOT, args.features)} features", fontsize=11)
        path = args.out / f"kernel_{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
        print(f"{name:16s} rel. MSE {losses[0] if losses else float('nan'):.3g} -> {last}  "
              f"({time.perf_counter() - t0:.1f}s)  {path}")
    return written


if __name__ == "__main__":
    main()
