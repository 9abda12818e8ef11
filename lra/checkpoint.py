"""Atomic, pickle-free training checkpoints: tensors in safetensors, everything else in JSON.

A checkpoint named ``<stem>`` in a folder is two files:

* ``<stem>.safetensors`` -- model state (``model.*``), optimizer tensors (``optim.<param index>.<key>``) and
  RNG tensors (``rng.*``);
* ``<stem>.json`` -- the JSON state (epoch, step, metrics history, optimizer param groups, scheduler state,
  python/numpy RNG scalars, run config) plus the tensors file's name, byte size and sha256.

Both are written to a hidden temp file in the same folder, flushed, ``fsync``-ed and moved into place with
``os.replace`` (atomic on POSIX); the JSON is written last and is the commit point. A checkpoint is valid only
if its JSON parses and the tensors file it names exists with the recorded size and sha256, so a run killed at
any moment (``kill -9``) leaves either the previous checkpoint or the new one, never a torn one; temp files
(``.tmp-*``) are ignored and cleaned up. Loading never unpickles (``safetensors.torch.load_file`` + ``json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "capture_rng",
    "restore_rng",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "prune_checkpoints",
]

PathLike = Union[str, Path]
_STEP_RE = re.compile(r"^step-(\d+)\.json$")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write_fn) -> None:
    """Write via ``write_fn(tmp_path)`` to a temp file in ``path``'s folder, fsync, ``os.replace`` into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + path.name, dir=path.parent)
    os.close(fd)
    try:
        write_fn(tmp)
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    _atomic_write(Path(path), write)


def atomic_write_json(path: PathLike, obj: Any) -> None:
    """Atomically replace ``path`` with ``obj`` as indented JSON (floats round-trip exactly)."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode("utf-8"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ RNG states
def capture_rng() -> tuple[dict[str, torch.Tensor], dict]:
    """Current torch (CPU and CUDA), numpy and python RNG states as (tensors, JSON-able dict)."""
    tensors = {"rng.torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s.clone()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, pystate, gauss = random.getstate()
    state = {
        "numpy": {"name": name, "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": list(pystate), "gauss_next": gauss},
    }
    return tensors, state


def restore_rng(tensors: dict[str, torch.Tensor], state: dict) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k].to(torch.uint8) for k in cuda])
    n = state["numpy"]
    keys = tensors["rng.numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


# ------------------------------------------------------------------------------------------------ optimizer
def _optimizer_split(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = val.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[key] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_join(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for name, t in tensors.items():
        if not name.startswith("optim."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = t
    for idx, d in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(d)
    return {"state": state, "param_groups": meta["param_groups"]}


def _jsonable(obj: Any) -> Any:
    """Drop what JSON cannot hold (scheduler state holds only numbers/lists/dicts in practice)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    raise TypeError(f"cannot store {type(obj).__name__} in a JSON checkpoint state")


def _model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors that share storage (tied weights); load_state_dict re-ties them.
    return {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------------------ save / load
def save_checkpoint(
    folder: PathLike,
    stem: str,
    *,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
    state: Optional[dict] = None,
    extra_tensors: Optional[dict[str, torch.Tensor]] = None,
    rng: bool = True,
) -> Path:
    """Write checkpoint ``<folder>/<stem>.{safetensors,json}`` atomically; returns the JSON path.

    ``state`` is any JSON-able dict (epoch, step, history, config ...); optimizer param groups, scheduler state
    and RNG scalars are added under reserved keys ``_optimizer``, ``_scheduler``, ``_rng``, ``_tensors``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = _model_state(model)
    meta = dict(state or {})
    if optimizer is not None:
        ot, om = _optimizer_split(optimizer)
        tensors.update(ot)
        meta["_optimizer"] = _jsonable(om)
    if scheduler is not None:
        meta["_scheduler"] = _jsonable(scheduler.state_dict())
    if rng:
        rt, rs = capture_rng()
        tensors.update(rt)
        meta["_rng"] = rs
    if extra_tensors:
        tensors.update({f"extra.{k}": v.detach().cpu().contiguous().clone() for k, v in extra_tensors.items()})
    tensor_path = folder / f"{stem}.safetensors"
    _atomic_write(tensor_path, lambda tmp: save_file(tensors, tmp))
    meta["_tensors"] = {"file": tensor_path.name, "bytes": tensor_path.stat().st_size, "sha256": _sha256(tensor_path)}
    json_path = folder / f"{stem}.json"
    atomic_write_json(json_path, meta)
    return json_path


def _validate(json_path: Path) -> Optional[dict]:
    """The parsed JSON state if the checkpoint at ``json_path`` is complete and intact, else None."""
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        info = meta["_tensors"]
        tpath = json_path.parent / info["file"]
        if not tpath.is_file() or tpath.stat().st_size != info["bytes"]:
            return None
        if _sha256(tpath) != info["sha256"]:
            return None
        return meta
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_checkpoint(
    json_path: PathLike,
    *,
    model: Optional[nn.Module] = None,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
    restore_rng_state: bool = True,
    map_location: str = "cpu",
) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` into the given objects; returns its JSON state.

    Raises:
        ValueError: if the checkpoint is incomplete or corrupt (size or sha256 mismatch, unreadable JSON).
    """
    json_path = Path(json_path)
    meta = _validate(json_path)
    if meta is None:
        raise ValueError(f"checkpoint {json_path} is incomplete or corrupt (missing/mismatched tensors file)")
    tensors = load_file(str(json_path.parent / meta["_tensors"]["file"]), device=map_location)
    if model is not None:
        sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(sd, strict=True)
    if optimizer is not None:
        if "_optimizer" not in meta:
            raise ValueError(f"checkpoint {json_path} holds no optimizer state")
        optimizer.load_state_dict(_optimizer_join(tensors, meta["_optimizer"]))
    if scheduler is not None:
        if "_scheduler" not in meta:
            raise ValueError(f"checkpoint {json_path} holds no scheduler state")
        scheduler.load_state_dict(meta["_scheduler"])
    if restore_rng_state and "_rng" in meta:
        restore_rng(tensors, meta["_rng"])
    meta["_extra_tensors"] = {k[len("extra."):]: v for k, v in tensors.items() if k.startswith("extra.")}
    meta["_rng_tensors"] = {k: v for k, v in tensors.items() if k.startswith("rng.")}
    return meta


def list_checkpoints(folder: PathLike) -> list[tuple[int, Path]]:
    """``(step, json path)`` of the step checkpoints (``step-<n>.json``) in ``folder``, ascending (unvalidated)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = _STEP_RE.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_checkpoint(folder: PathLike) -> Optional[Path]:
    """JSON path of the newest *valid* step checkpoint in ``folder`` (temp files and torn checkpoints skipped)."""
    for _, path in reversed(list_checkpoints(folder)):
        if _validate(path) is not None:
            return path
    return None


def prune_checkpoints(folder: PathLike, keep: int = 2) -> None:
    """Delete all but the newest ``keep`` valid step checkpoints and any leftover temp files."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for p in folder.glob(".tmp-*"):
        try:
            p.unlink()
        except OSError:
            pass
    valid = [(s, p) for s, p in list_checkpoints(folder) if _validate(p) is not None]
    for _, p in valid[:-keep] if keep > 0 else valid:
        meta = json.loads(p.read_text(encoding="utf-8"))
        p.unlink(missing_ok=True)
        (folder / meta["_tensors"]["file"]).unlink(missing_ok=True)
