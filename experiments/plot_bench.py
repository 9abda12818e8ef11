"""PNG plots of the benchmark JSON files written by :mod:`experiments.bench` (matplotlib, Agg backend).

Usage:  python -m experiments.plot_bench [--dir benchmarks]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    """Lay out, write (110 dpi) and close ``fig``."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _load(path: Path) -> Optional[dict]:
    return json.loads(path.read_text()) if path.exists() else None


def plot_mixers(data: dict, out: Path) -> list[Path]:
    rows = data["rows"]
    mixers = list(dict.fromkeys(r["mixer"] for r in rows))
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for ax, key, title in zip(axes, ("fwd ms", "fwd+bwd ms", "peak MiB"),
                              ("forward (inference)", "forward + backward", "peak memory, fwd+bwd")):
        for m in mixers:
            pts = [(r["L"], r[key]) for r in rows if r["mixer"] == m and r.get(key)]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o", label=m, linestyle="--" if m == "transformer" else "-")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length L")
        ax.set_ylabel("MiB" if key == "peak MiB" else "ms")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("one mixer layer (causal), side by side")
    return [_save(fig, out / "mixers_scaling.png")]


def plot_lm(data: dict, out: Path) -> list[Path]:
    rows = data["rows"]
    contexts = sorted({r["context"] for r in rows})
    mixers = list(dict.fromkeys(r["mixer"] for r in rows))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    width = 0.8 / max(1, len(mixers))
    for i, m in enumerate(mixers):
        ys = [next((r["tokens/s"] for r in rows if r["mixer"] == m and r["context"] == c), 0.0) for c in contexts]
        ax.bar([j + i * width for j in range(len(contexts))], ys, width, label=m)
    ax.set_xticks([j + width * (len(mixers) - 1) / 2 for j in range(len(contexts))])
    ax.set_xticklabels([str(c) for c in contexts])
    ax.set_xlabel("context length")
    ax.set_ylabel("training tokens / s")
    ax.set_yscale("log")
    ax.set_title("LM training throughput, equal parameter count")
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    return [_save(fig, out / "lm_throughput.png")]


def plot_op(data: dict, out: Path) -> list[Path]:
    rows = [r for r in data["rows"] if r["method"] != "floor"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, key in zip(axes, ("x floor", "x bandwidth bound")):
        for m in dict.fromkeys(r["method"] for r in rows):
            for mode in ("fwd", "fwd+bwd"):
                pts = [(r["L"], r[key]) for r in rows if r["method"] == m and r["mode"] == mode]
                if pts:
                    xs, ys = zip(*pts)
                    ax.plot(xs, ys, marker="o", label=f"{m} {mode}", linestyle="-" if mode == "fwd" else "--")
        ax.axhline(1.0, color="k", linewidth=0.8)
        if key == "x floor":
            ax.axhline(1.3, color="r", linewidth=0.8, linestyle=":", label="target 1.3x")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length L")
        ax.set_ylabel(f"time as a multiple of the {'FFT floor' if key == 'x floor' else 'bandwidth bound'}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("long_conv op efficiency")
    return [_save(fig, out / "op_efficiency.png")]


def plot_all(directory: Path) -> list[Path]:
    """Write every plot whose JSON exists in ``directory``; return the PNG paths."""
    made: list[Path] = []
    for name, fn in (("mixers", plot_mixers), ("lm_throughput", plot_lm), ("op_efficiency", plot_op)):
        data = _load(directory / f"{name}.json")
        if data is not None:
            made += fn(data, directory)
    return made


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", default="benchmarks")
    args = p.parse_args(argv)
    for path in plot_all(Path(args.dir)):
        print(path)


if __name__ == "__main__":
    main()
