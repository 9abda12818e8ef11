"""Markdown report of finished LRA runs beside the published numbers (REFERENCE §3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

from lra.tasks import TASK_SPECS, TASKS

__all__ = ["collect_results", "render_report", "PUBLISHED_MODELS"]

PUBLISHED_MODELS = {"transformer": "Transformer", "s4": "S4 (v2)", "sgconv": "SGConv"}


def collect_results(runs_dir: Union[str, Path]) -> list[dict]:
    """All ``results.json`` with ``status == "finished"`` under ``runs_dir`` (any depth), sorted by task/model."""
    runs_dir = Path(runs_dir)
    out = []
    if not runs_dir.is_dir():
        return out
    for p in sorted(runs_dir.rglob("results.json")):
        try:
            res = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if res.get("status") != "finished":
            continue
        res["_run_dir"] = str(p.parent)
        out.append(res)
    order = {t: i for i, t in enumerate(TASKS)}
    out.sort(key=lambda r: (order.get(r.get("task"), 99), r.get("model", ""), r.get("preset", ""), r.get("seed", 0)))
    return out


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _pub(task: str, model: str) -> str:
    pub = (TASK_SPECS[task].published or {}) if task in TASK_SPECS else {}
    if model not in pub:
        return "-"
    return "fail" if pub[model] is None else f"{pub[model]:.2f}"


def render_report(results: list[dict]) -> str:
    """Markdown: one row per finished run (test acc at the best-val epoch) and the published LRA table."""
    lines = [
        "## Measured runs",
        "",
        "| task | model | preset | seed | test acc @ best val (%) | best val (%) | best epoch / epochs | params "
        "| train time (s) | published, same model (%) | run dir |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    if not results:
        lines.append("| (no finished runs) | | | | | | | | | | |")
    for r in results:
        task, model = r.get("task", "?"), r.get("model", "?")
        epochs = len(r.get("history") or [])
        t = (r.get("timings") or {}).get("train_seconds")
        lines.append(
            f"| {TASK_SPECS[task].title if task in TASK_SPECS else task} | {model} | {r.get('preset', '?')} "
            f"| {r.get('seed', '?')} | {_pct(r.get('test_acc_at_best_val'))} | {_pct(r.get('best_val_acc'))} "
            f"| {r.get('best_epoch', '-')} / {epochs} | {r.get('n_params', 0):,} | {'-' if t is None else f'{t:.0f}'} "
            f"| {_pub(task, model)} | {r.get('_run_dir', '')} |"
        )
    lra_tasks = [t for t in TASKS if TASK_SPECS[t].published]
    lines += [
        "",
        "## Published LRA accuracy (%) (REFERENCE §3)",
        "",
        "| model | " + " | ".join(TASK_SPECS[t].title for t in lra_tasks) + " |",
        "|---|" + "---|" * len(lra_tasks),
    ]
    for key, name in PUBLISHED_MODELS.items():
        lines.append(f"| {name} | " + " | ".join(_pub(t, key) for t in lra_tasks) + " |")
    lines += [
        "",
        "cpu-preset runs are small models on short, generated or truncated data; they are not comparable "
        "to the published full-size numbers.",
    ]
    return "\n".join(lines) + "\n"
