"""Smoke run of the benchmark suite at the smallest sizes: every script runs, tables, plots and RESULTS.md appear."""

import json
import time

import pytest

from experiments import bench
from experiments.bench_mixers import summarize
from experiments.benchutil import time_interleaved


def test_bench_smoke(tmp_path) -> None:
    bench.main(["--smoke", "--out", str(tmp_path)])
    for name in ("mixers", "lm_throughput", "op_efficiency", "profile"):
        data = json.loads((tmp_path / f"{name}.json").read_text())
        assert data, name
    mixers = json.loads((tmp_path / "mixers.json").read_text())["rows"]
    assert {r["mixer"] for r in mixers} == {"sgconv", "hyena", "tcn", "transformer"}
    assert all(r["fwd ms"] > 0 and r["fwd+bwd ms"] > 0 for r in mixers)
    lm = json.loads((tmp_path / "lm_throughput.json").read_text())["rows"]
    ref = next(r["params"] for r in lm if r["mixer"] == "transformer")
    for r in lm:  # parameter counts matched within 15% at this tiny width
        assert abs(r["params"] - ref) / ref < 0.15, r
        assert r["tokens/s"] > 0
    op = json.loads((tmp_path / "op_efficiency.json").read_text())["rows"]
    assert {r["method"] for r in op} == {"floor", "long_conv", "long_conv[BLH]"}
    assert all(r["x floor"] == pytest.approx(1.0) for r in op if r["method"] == "floor")
    text = (tmp_path / "RESULTS.md").read_text()
    for heading in ("## Mixer scaling", "## End-to-end LM", "## Long-conv op", "## Profile", "## Fixes"):
        assert heading in text
    assert "python -m experiments.bench_mixers --lengths 64" in text
    for png in ("mixers_scaling.png", "lm_throughput.png", "op_efficiency.png"):
        assert (tmp_path / png).stat().st_size > 1000


def test_time_interleaved_caps_and_counts() -> None:
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1

    def slow():
        calls["slow"] += 1
        time.sleep(0.02)

    times = time_interleaved({"fast": fast, "slow": slow}, budget_s=0.05, min_reps=2, max_reps=4, max_call_s=0.01)
    assert len(times["slow"]) == 1 and calls["slow"] == 1  # over the cap: the warm-up call only
    assert len(times["fast"]) == 4 and calls["fast"] == 5  # warm-up + max_reps


def test_summarize_crossover() -> None:
    rows = [{"L": L, "mixer": m, "fwd+bwd ms": t, "peak MiB": 1.0}
            for L, m, t in [(1, "a", 5.0), (1, "transformer", 1.0), (2, "a", 2.0), (2, "transformer", 3.0),
                            (4, "a", 3.0), (4, "transformer", 12.0)]]
    s = summarize(rows, at=4)
    assert s["crossover"]["a"] == 2
    assert s["speedup"]["a"] == pytest.approx(4.0)
