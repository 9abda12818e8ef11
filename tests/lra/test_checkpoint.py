"""Atomic, pickle-free checkpoints: round trip, torn/partial files ignored, corruption detected."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from safetensors import safe_open
from torch import nn
from transformers import get_cosine_schedule_with_warmup

from lra.checkpoint import latest_checkpoint, load_checkpoint, prune_checkpoints, save_checkpoint


def _setup(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 7), nn.Dropout(0.3), nn.BatchNorm1d(7), nn.Linear(7, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.05)
    sched = get_cosine_schedule_with_warmup(opt, 2, 20)
    return model, opt, sched


def _step(model, opt, sched):
    x = torch.randn(4, 5)
    loss = model(x).square().mean() + float(np.random.rand()) + random.random()
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return loss.detach()


def test_round_trip_continues_bitwise(tmp_path):
    model, opt, sched = _setup()
    for _ in range(3):
        _step(model, opt, sched)
    save_checkpoint(tmp_path, "step-000000003", model=model, optimizer=opt, scheduler=sched, state={"epoch": 1})
    ref = [_step(model, opt, sched) for _ in range(3)]

    model2, opt2, sched2 = _setup(seed=123)  # different init and RNG: everything must come from the checkpoint
    meta = load_checkpoint(latest_checkpoint(tmp_path), model=model2, optimizer=opt2, scheduler=sched2)
    assert meta["epoch"] == 1 and sched2.last_epoch == 3
    got = [_step(model2, opt2, sched2) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(ref, got))  # losses include torch/numpy/python RNG draws
    for (ka, a), (kb, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert ka == kb and torch.equal(a, b)


def test_files_are_safetensors_and_json(tmp_path):
    model, opt, sched = _setup()
    _step(model, opt, sched)
    path = save_checkpoint(tmp_path, "step-000000001", model=model, optimizer=opt, scheduler=sched)
    meta = json.loads(path.read_text())
    with safe_open(str(tmp_path / meta["_tensors"]["file"]), framework="pt") as f:
        keys = set(f.keys())
    assert "model.0.weight" in keys and "rng.torch" in keys and any(k.startswith("optim.") for k in keys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000000001.json", "step-000000001.safetensors"]


def test_partial_and_torn_checkpoints_are_ignored(tmp_path):
    model, opt, sched = _setup()
    save_checkpoint(tmp_path, "step-000000002", model=model, optimizer=opt, scheduler=sched)
    good = latest_checkpoint(tmp_path)
    # a writer killed mid-write leaves a temp file (never a final name) ...
    (tmp_path / ".tmp-abc-step-000000004.safetensors").write_bytes(b"\x00" * 10)
    # ... and a torn newer checkpoint: JSON present but its tensors file truncated
    save_checkpoint(tmp_path, "step-000000003", model=model, optimizer=opt, scheduler=sched)
    tfile = tmp_path / "step-000000003.safetensors"
    tfile.write_bytes(tfile.read_bytes()[:50])
    # ... and a JSON that is cut short
    (tmp_path / "step-000000005.json").write_text('{"_tensors": {"file": "step-0000')
    assert latest_checkpoint(tmp_path) == good
    with pytest.raises(ValueError, match="incomplete or corrupt"):
        load_checkpoint(tmp_path / "step-000000003.json", model=model)
    prune_checkpoints(tmp_path, keep=2)
    assert not list(tmp_path.glob(".tmp-*"))
    assert latest_checkpoint(tmp_path) == good


def test_bit_flip_is_detected(tmp_path):
    model, opt, sched = _setup()
    save_checkpoint(tmp_path, "step-000000001", model=model, optimizer=opt, scheduler=sched)
    tfile = tmp_path / "step-000000001.safetensors"
    data = bytearray(tfile.read_bytes())
    data[-1] ^= 0xFF
    tfile.write_bytes(bytes(data))
    assert latest_checkpoint(tmp_path) is None


def test_prune_keeps_newest(tmp_path):
    model, _, _ = _setup()
    for s in (1, 2, 3, 4):
        save_checkpoint(tmp_path, f"step-{s:09d}", model=model, rng=False)
    prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["step-000000003.json", "step-000000004.json"]
    assert len(list(tmp_path.glob("*.safetensors"))) == 2
