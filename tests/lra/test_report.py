"""Report table: finished runs collected and rendered beside the published numbers."""

from __future__ import annotations

import json

from lra.cli import main
from lra.report import collect_results, render_report


def _write(path, **kw):
    path.mkdir(parents=True)
    res = {"status": "finished", "task": "listops", "model": "sgconv", "preset": "cpu", "seed": 0,
           "test_acc_at_best_val": 0.3712, "best_val_acc": 0.38, "best_epoch": 2, "n_params": 12345,
           "history": [{}, {}, {}], "timings": {"train_seconds": 321.4}}
    res.update(kw)
    (path / "results.json").write_text(json.dumps(res))


def test_report_rows_and_published_table(tmp_path, capsys):
    _write(tmp_path / "a")
    _write(tmp_path / "b", task="image", model="transformer", test_acc_at_best_val=0.25, best_val_acc=0.26)
    _write(tmp_path / "c", status="running")
    rows = collect_results(tmp_path)
    assert [r["task"] for r in rows] == ["listops", "image"]
    text = render_report(rows)
    assert "| ListOps | sgconv | cpu | 0 | 37.12 | 38.00 | 2 / 3 | 12,345 | 321 | 61.45 |" in text
    assert "| Image | transformer | cpu | 0 | 25.00 | 26.00 |" in text and "| 42.44 |" in text
    assert "| SGConv | 61.45 | 89.20 | 91.11 | 87.97 | 95.46 | 97.83 |" in text
    assert "| Transformer | 36.37 | 64.27 | 57.46 | 42.44 | 71.40 | fail |" in text
    assert main(["report", "--runs", str(tmp_path), "--output", str(tmp_path / "r.md")]) == 0
    assert capsys.readouterr().out == text == (tmp_path / "r.md").read_text()


def test_report_empty(tmp_path):
    assert "(no finished runs)" in render_report(collect_results(tmp_path / "missing"))
