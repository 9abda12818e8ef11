"""Loss curves of pretrain_lm runs: train and validation loss vs training seconds and vs tokens, one colour per run.

Reads each run directory's ``metrics.csv`` (written by ``CSVMetricsCallback``: ``step``, ``loss``, ``eval_loss``,
``tokens_seen``, ``time``) and, when present, ``budget.csv`` (``TimeBudgetCallback``: training seconds per step,
evaluation time excluded), joined on ``step``. Without ``budget.csv`` the x axis is wall time since the first row.

    python experiments/plot_lm_curves.py runs/compare_lm/hyena runs/compare_lm/sgconv runs/compare_lm/transformer \\
        --out loss.png
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any, Optional

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _float(v: Any) -> Optional[float]:
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return None


def load_curves(run_dir: Path, clock: str = "wall_s") -> dict[str, list[tuple[float, float, float]]]:
    """``{"train": [(seconds, tokens, loss), ...], "eval": [...]}`` of one run directory."""
    metrics = Path(run_dir) / "metrics.csv"
    if not metrics.is_file():
        raise ValueError(f"{str(run_dir)!r} has no metrics.csv; pass pretrain_lm --output-dir directories")
    with open(metrics, newline="") as f:
        rows = list(csv.DictReader(f))
    seconds: dict[int, float] = {}
    budget = Path(run_dir) / "budget.csv"
    if budget.is_file():
        with open(budget, newline="") as f:
            seconds = {int(r["step"]): float(r[clock]) for r in csv.DictReader(f)}
    t0 = next((_float(r.get("time")) for r in rows if _float(r.get("time")) is not None), 0.0)
    out: dict[str, list[tuple[float, float, float]]] = {"train": [], "eval": []}
    for r in rows:
        step = int(float(r["step"]))
        sec = seconds.get(step) if seconds else (_float(r.get("time")) or t0) - t0
        tokens = _float(r.get("tokens_seen"))
        if sec is None or tokens is None:
            continue
        for kind, key in (("train", "loss"), ("eval", "eval_loss")):
            v = _float(r.get(key))
            if v is not None:
                out[kind].append((sec, tokens, v))
    for kind in out:  # the final evaluation may repeat the last periodic one
        out[kind] = sorted(dict(((s, t), (s, t, v)) for s, t, v in out[kind]).values())
    return out


def plot_curves(run_dirs: list[Path], out: Path, title: str = "", clock: str = "wall_s",
                labels: Optional[list[str]] = None) -> Path:
    """Two panels (loss vs training seconds, loss vs tokens); solid = train loss, dashed + dots = validation loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = labels or [Path(d).name for d in run_dirs]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    all_losses: list[float] = []
    for i, (d, label) in enumerate(zip(run_dirs, labels)):
        curves = load_curves(Path(d), clock)
        c = colors[i % len(colors)]
        for ax, xi in ((axes[0], 0), (axes[1], 1)):
            scale = 1.0 if xi == 0 else 1e6
            tr, ev = curves["train"], curves["eval"]
            if tr:
                ax.plot([p[xi] / scale for p in tr], [p[2] for p in tr], color=c, lw=1.2, alpha=0.8,
                        label=f"{label} train")
            if ev:
                ax.plot([p[xi] / scale for p in ev], [p[2] for p in ev], color=c, lw=1.8, ls="--", marker="o",
                        ms=3.5, label=f"{label} val")
        all_losses += [p[2] for p in curves["train"] + curves["eval"]]
    clock_name = "CPU" if clock == "cpu_s" else "wall-clock"
    axes[0].set_xlabel(f"training {clock_name} seconds (evaluation excluded)")
    axes[1].set_xlabel("training tokens (millions)")
    axes[0].set_ylabel("loss (nats / byte)")
    if all_losses:  # the first logged losses (~5.5 nats) would squash the interesting range
        lo = min(all_losses)
        ordered = sorted(all_losses)
        hi = ordered[int(0.9 * (len(ordered) - 1))]
        axes[0].set_ylim(lo - 0.05 * (hi - lo + 1e-6), hi + 0.15 * (hi - lo + 1e-6))
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, ncol=1, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: Optional[list[str]] = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="pretrain_lm run directories (with metrics.csv)")
    ap.add_argument("--out", required=True, help="PNG path")
    ap.add_argument("--title", default="")
    ap.add_argument("--clock", choices=("wall_s", "cpu_s"), default="wall_s", help="x axis clock (from budget.csv)")
    a = ap.parse_args(argv)
    return plot_curves([Path(r) for r in a.runs], Path(a.out), a.title, a.clock)


if __name__ == "__main__":
    print(main())
