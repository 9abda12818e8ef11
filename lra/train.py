"""LRA training loop: deterministic, resumable (bitwise on CPU), optionally data-parallel (torchrun / DDP).

Protocol (REFERENCE §3): train for ``train.epochs`` epochs, evaluate val and test after every epoch, keep the
best-val model (``best.safetensors``), report the test accuracy at the best-val epoch.

Determinism and resumption:

* The epoch's example order is ``torch.randperm(n_train, generator=Generator().manual_seed(seed * 1_000_003 +
  epoch))`` -- a pure function of (seed, epoch) -- cut into global batches of ``data.batch_size``; with
  ``world_size`` processes rank ``r`` takes rows ``r::world_size`` of every global batch (same global order for
  any world size). A resumed epoch skips the batches it has already consumed.
* No ``DataLoader`` iterator is created (it would draw from the global torch RNG); batches are collated
  in-process, so the global RNG is touched only by the model (dropout).
* A step checkpoint (every ``train.checkpoint_every`` optimizer steps and at every epoch end) stores model,
  optimizer, scheduler, torch/numpy/python RNG states, epoch, step-in-epoch, global step, metric history and
  best-val bookkeeping (:mod:`lra.checkpoint`, atomic, no pickle). ``--resume`` restores all of it, so a run
  killed at any moment continues to the same final weights and metrics as an uninterrupted run (bitwise on CPU
  with the same thread count).
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from lra.checkpoint import atomic_write_json, latest_checkpoint, load_checkpoint, prune_checkpoints, save_checkpoint
from lra.tasks import TASK_SPECS

IGNORE_INDEX = -100
_EPOCH_SEED_MULT = 1_000_003


# ------------------------------------------------------------------------------------------------ distributed
class DataError(ValueError):
    """Missing, malformed or inconsistent task data (the message names the file and what to do)."""


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: Optional[str] = None) -> Dist:
    """Read torchrun's env (RANK, WORLD_SIZE, LOCAL_RANK); init NCCL (CUDA) or gloo (CPU) when world_size > 1.

    ``device``: "cpu", "cuda" or None (CUDA when available).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but torch.cuda.is_available() is False; use --device cpu")
    dev = torch.device("cuda", local) if device == "cuda" else torch.device("cpu")
    if device == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    return Dist(rank=rank, world_size=world, local_rank=local, device=dev)


def _all_reduce_sum(values: list[float], d: Dist) -> list[float]:
    if not d.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=d.device if d.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return t.tolist()


def _barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


# ------------------------------------------------------------------------------------------------ data
@dataclass
class TaskData:
    """What the trainer needs from ``lra.data.load_task`` (normalised by :func:`load_data`)."""

    train: Any
    val: Any
    test: Any
    collate: Any
    n_classes: int
    vocab_size: Optional[int] = None
    d_input: Optional[int] = None
    seq_len: Optional[int] = None
    pad_id: Optional[int] = None
    is_dual: bool = False


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if not isinstance(obj, dict) and hasattr(obj, n):
            return getattr(obj, n)
    return default


SYNTHETIC_TASKS = ("assoc_recall", "selective_copy")
PIXEL_TASKS = ("image", "pathfinder", "pathx")


def _synthetic_collate(rows: list) -> dict:
    """Equal-length synthetic examples -> inputs (batch, length) int64, all-True mask, labels."""
    x = torch.as_tensor(np.asarray([r["input_ids"] for r in rows], dtype=np.int64))
    key = "labels" if "labels" in rows[0] else "label"
    y = torch.as_tensor(np.asarray([r[key] for r in rows], dtype=np.int64))
    return {"inputs": x, "mask": torch.ones(x.shape, dtype=torch.bool), "labels": y}


def _load_synthetic(cfg: dict) -> TaskData:
    """Associative recall / selective copying from :mod:`lra.data.synthetic`; val/test use seeds +1/+2 (disjoint
    streams) and ``data.n_eval`` examples each (default n_train // 5)."""
    from lra.data import synthetic

    dc, seed = cfg["data"], int(cfg["seed"])
    gen = dict(dc.get("gen") or {})
    n_train = int(dc.get("n_train") or 10000)
    n_eval = int(dc.get("n_eval") or max(1, n_train // 5))
    if cfg["task"] == "assoc_recall":
        allowed = {"seq_len", "vocab_size"}
        make = synthetic.associative_recall_dataset
        vocab = int(gen.get("vocab_size", 16))
    else:
        allowed = {"seq_len", "n_tokens", "vocab_size"}
        make = synthetic.selective_copying_dataset
        vocab = int(gen.get("vocab_size", 10))
    bad = sorted(set(gen) - allowed)
    if bad:
        raise ValueError(f"data.gen keys {bad} are not settings of {cfg['task']}; allowed: {sorted(allowed)}")
    if "seq_len" not in gen:
        raise ValueError(f"{cfg['task']} needs data.gen.seq_len (e.g. --set data.gen.seq_len=256)")
    splits = {name: make(n, seed=seed * 3 + k, **gen)
              for k, (name, n) in enumerate((("train", n_train), ("val", n_eval), ("test", n_eval)))}
    return TaskData(**splits, collate=_synthetic_collate, n_classes=vocab, vocab_size=vocab,
                    seq_len=int(gen["seq_len"]), pad_id=None, d_input=None)


def _pregenerate_listops(gen: dict, n_train: Optional[int], n_eval: Optional[int], seed: int) -> Path:
    """Write generated ListOps in the official layout (cached by settings) and return its root.

    Used when ``data.gen.max_length`` (the generator's length bound) is set: ``load_task``'s own ``max_length``
    argument is the truncation length, so the generator bound cannot be passed through it.
    """
    import hashlib

    from lra.data.listops import listops_files, write_listops_tsv
    from seqconv.data_paths import cache_dir

    n_ev = n_eval if n_eval is not None else (2000 if n_train is None else max(1, min(2000, n_train // 10)))
    settings = {"num_train": n_train or 96000, "num_val": n_ev, "num_test": n_ev, "seed": seed, **gen}
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    root = cache_dir() / "generated" / f"listops-runner-{h}"
    if not all(p.is_file() for p in listops_files(root).values()):
        write_listops_tsv(root, **settings)
    return root


def load_data(cfg: dict, data_dir: Optional[str] = None) -> TaskData:
    """Load the task's splits: ``lra.data.load_task`` for the LRA tasks, :mod:`lra.data.synthetic` otherwise.

    Uses ``cfg['data']``: ``max_length`` (token truncation; ignored for pixel tasks), ``n_train`` / ``n_eval``
    (seeded subsets, and generation sizes for generated data) and ``gen`` (generator settings).
    """
    if cfg["task"] in SYNTHETIC_TASKS:
        return _load_synthetic(cfg)
    from lra.data import load_task

    dc, seed = cfg["data"], int(cfg["seed"])
    gen = dict(dc.get("gen") or {})
    n_train, n_eval = dc.get("n_train"), dc.get("n_eval")
    if cfg["task"] == "listops" and "max_length" in gen:
        # generator lengths (the cpu preset's): official files, when given, are used as they are
        from lra.data.tasks import official_listops_files, warn_no_official_listops

        if data_dir is None or official_listops_files(data_dir) is None:
            if data_dir is not None:
                warn_no_official_listops(data_dir)
            data_dir = str(_pregenerate_listops(gen, n_train, n_eval, seed))
        gen = {}
    max_length = None if cfg["task"] in PIXEL_TASKS else dc.get("max_length")
    ds = load_task(cfg["task"], data_dir, max_length=max_length, seed=seed, n_train=n_train, n_eval=n_eval, **gen)
    return TaskData(train=ds.train, val=ds.val, test=ds.test, collate=ds.collate, n_classes=int(ds.n_classes),
                    vocab_size=ds.vocab_size, d_input=None if ds.vocab_size is not None else ds.d_input,
                    seq_len=ds.seq_len, pad_id=ds.pad_id, is_dual=bool(ds.is_dual))


def _rows(dataset: Any, idx: list[int]) -> list:
    if hasattr(dataset, "__getitems__"):
        return dataset.__getitems__(idx)
    return [dataset[i] for i in idx]


def unpack_batch(batch: Any, dual: bool = False) -> dict[str, Optional[Tensor]]:
    """Normalise a collated batch to ``{"inputs", "mask", "labels", "inputs2", "mask2"}``.

    ``dual``: split a (batch, 2, length) pair tensor into the two documents (retrieval).
    """
    if isinstance(batch, dict):
        out = {
            "inputs": _get(batch, "inputs", "input_ids"),
            "mask": _get(batch, "mask", "attention_mask"),
            "labels": _get(batch, "labels", "label", "targets"),
            "inputs2": _get(batch, "inputs2", "input_ids2"),
            "mask2": _get(batch, "mask2", "attention_mask2"),
        }
    elif isinstance(batch, (tuple, list)) and len(batch) == 3:
        out = {"inputs": batch[0], "mask": batch[1], "labels": batch[2], "inputs2": None, "mask2": None}
    elif isinstance(batch, (tuple, list)) and len(batch) == 5:
        out = dict(zip(("inputs", "mask", "inputs2", "mask2", "labels"), batch))
    else:
        raise TypeError(f"collate returned an unsupported batch of type {type(batch).__name__}")
    x, m = out["inputs"], out["mask"]
    if out["inputs2"] is None and dual and x is not None and x.dim() == 3 and x.shape[1] == 2:
        # lra.data.collate stacks the two documents of a retrieval pair as (batch, 2, length)
        out["inputs"], out["inputs2"] = x[:, 0], x[:, 1]
        if m is not None:
            out["mask"], out["mask2"] = m[:, 0], m[:, 1]
    if out["inputs"] is None or out["labels"] is None:
        raise TypeError(f"collated batch lacks inputs or labels; keys: {list(batch) if isinstance(batch, dict) else ''}")
    return out


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """Deterministic permutation of range(n) for (seed, epoch)."""
    g = torch.Generator().manual_seed(seed * _EPOCH_SEED_MULT + epoch)
    return torch.randperm(n, generator=g).tolist()


def global_batches(n: int, batch_size: int, seed: int, epoch: int, world_size: int = 1) -> list[list[int]]:
    """Global batches of the epoch; a trailing batch smaller than ``world_size`` is dropped."""
    order = epoch_order(n, seed, epoch)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if batches and len(batches[-1]) < world_size:
        batches.pop()
    return batches


def shard(batch: list[int], rank: int, world_size: int) -> list[int]:
    """Rows ``rank::world_size`` of a global batch."""
    return batch[rank::world_size]


# ------------------------------------------------------------------------------------------------ model
def build_model(cfg: dict, data: TaskData) -> nn.Module:
    """SequenceClassifier (or SequenceTagger for per-position labels) over a Backbone from ``cfg['backbone']``."""
    from seqconv.modules.backbone import Backbone, BackboneConfig, SequenceClassifier, SequenceTagger

    b = dict(cfg["backbone"])
    l_max = data.seq_len or cfg["data"].get("max_length")
    token = data.vocab_size is not None
    bc = BackboneConfig(
        d_model=b["d_model"], n_layer=b["n_layer"], mixer=b["mixer"], mixer_kwargs=dict(b.get("mixer_kwargs") or {}),
        vocab_size=data.vocab_size if token else None, d_input=None if token else (data.d_input or 1),
        padding_idx=data.pad_id if token else None, l_max=l_max, norm=b["norm"], prenorm=b["prenorm"],
        dropout=b["dropout"], mlp_ratio=b.get("mlp_ratio", 0.0), causal=b.get("causal", False), pooling=b["pooling"],
    )
    backbone = Backbone(bc)
    if TASK_SPECS[cfg["task"]].seq2seq:
        return SequenceTagger(backbone, data.n_classes)
    return SequenceClassifier(backbone, data.n_classes, dual=data.is_dual)


def _forward(model: nn.Module, b: dict, device: torch.device) -> tuple[Tensor, Tensor]:
    def mv(t: Optional[Tensor]) -> Optional[Tensor]:
        return None if t is None else t.to(device, non_blocking=True)

    inputs, mask, labels = mv(b["inputs"]), mv(b["mask"]), mv(b["labels"])
    if b["inputs2"] is not None:
        logits = model(inputs, mask, mv(b["inputs2"]), mv(b["mask2"]))
    else:
        logits = model(inputs, mask)
    return logits, labels


def _loss_and_correct(logits: Tensor, labels: Tensor) -> tuple[Tensor, int, int]:
    """Mean CE (ignoring -100) plus (#correct, #counted)."""
    logits = logits.float()
    if logits.dim() == 3:
        logits = logits.reshape(-1, logits.shape[-1])
        labels = labels.reshape(-1)
    labels = labels.long()
    loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
    valid = labels != IGNORE_INDEX
    correct = int(((logits.argmax(-1) == labels) & valid).sum())
    return loss, correct, int(valid.sum())


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Any, collate, batch_size: int, d: Dist, amp: bool = False,
             progress: bool = False, desc: str = "eval", dual: bool = False) -> dict[str, float]:
    """Accuracy and mean loss over ``dataset`` (sharded across ranks, summed with all_reduce)."""
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    idx = list(range(d.rank, len(dataset), d.world_size))
    loss_sum = correct = count = 0.0
    batches = range(0, len(idx), batch_size)
    for i in tqdm(batches, desc=desc, leave=False, disable=not progress, dynamic_ncols=True):
        b = unpack_batch(collate(_rows(dataset, idx[i : i + batch_size])), dual)
        with _autocast(d, amp):
            logits, labels = _forward(model, b, d.device)
        loss, c, n = _loss_and_correct(logits, labels)
        loss_sum += float(loss) * n
        correct += c
        count += n
    loss_sum, correct, count = _all_reduce_sum([loss_sum, correct, count], d)
    model.train(was_training)
    return {"acc": correct / max(count, 1), "loss": loss_sum / max(count, 1), "n": int(count)}


def _autocast(d: Dist, amp: bool):
    if amp and d.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------------ run
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _config_for_compare(cfg: dict) -> str:
    c = {k: v for k, v in cfg.items() if k not in ("train",)}
    c["train"] = {k: v for k, v in cfg["train"].items() if k not in ("checkpoint_every", "log_every")}
    return json.dumps(c, sort_keys=True)


def run(
    cfg: dict,
    run_dir: str | Path,
    *,
    data_dir: Optional[str] = None,
    resume: bool = False,
    overwrite: bool = False,
    device: Optional[str] = None,
    progress: bool = True,
    keep_checkpoints: int = 2,
) -> dict:
    """Train and evaluate one configuration in ``run_dir``; returns the results dict (also ``results.json``).

    ``resume``: continue from the newest valid checkpoint in ``run_dir/checkpoints`` (the stored config must
    match ``cfg`` up to checkpoint/log intervals); a finished run is not retrained. Without ``resume`` an
    existing run dir with checkpoints or results is an error unless ``overwrite``.
    """
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from seqconv.training.param_groups import build_param_groups

    t_start = time.time()
    d = setup_distributed(device)
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    results_path = run_dir / "results.json"
    existing = latest_checkpoint(ckpt_dir)
    if d.is_main:
        if (existing is not None or results_path.exists()) and not resume:
            if not overwrite:
                raise FileExistsError(
                    f"run dir {run_dir} already holds a run; pass --resume to continue it, --overwrite to start over, "
                    "or choose another --out/--name"
                )
            for p in list(ckpt_dir.glob("*")) + [results_path]:
                if p.is_file():
                    p.unlink()
            existing = None
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume and results_path.exists() and existing is None:
            res = json.loads(results_path.read_text())
            if res.get("status") == "finished":
                return res
    _barrier(d)
    existing = latest_checkpoint(ckpt_dir) if resume else None
    if resume and results_path.exists():
        res = json.loads(results_path.read_text())
        if res.get("status") == "finished" and _config_for_compare(res["config"]) == _config_for_compare(cfg):
            return res

    seed = int(cfg["seed"])
    seed_everything(seed)
    t_data = time.time()
    try:
        data = load_data(cfg, data_dir)
    except ValueError as e:  # corrupt rows, wrong columns, labels out of range: the loaders name file and line
        raise DataError(str(e)) from e
    t_data = time.time() - t_data
    seed_everything(seed)  # model init independent of what data loading drew
    model = build_model(cfg, data).to(d.device)
    n_params = count_params(model)
    oc = cfg["optim"]
    groups = build_param_groups(model, lr=oc["lr"], weight_decay=oc["weight_decay"])
    for g in groups:
        g.pop("name", None)
    optimizer = torch.optim.AdamW(groups, lr=oc["lr"], betas=tuple(oc["betas"]), weight_decay=oc["weight_decay"])
    tc, dc = cfg["train"], cfg["data"]
    bs = int(dc["batch_size"])
    if bs % d.world_size:
        raise ValueError(f"data.batch_size={bs} must be divisible by the number of processes {d.world_size}")
    n_batches = len(global_batches(len(data.train), bs, seed, 0, d.world_size))
    total_steps = n_batches * int(tc["epochs"])
    if tc.get("max_steps"):
        total_steps = min(total_steps, int(tc["max_steps"]))
    warmup = int(round(oc.get("warmup_frac", 0.0) * total_steps))
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, max(total_steps, 1))
    ddp_model: nn.Module = model
    if d.enabled:
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[d.device.index] if d.device.type == "cuda" else None)

    state: dict[str, Any] = {
        "epoch": 0, "step_in_epoch": 0, "global_step": 0, "history": [], "best": None,
        "train_seconds": 0.0, "eval_seconds": 0.0, "resumes": [], "epoch_acc": [0.0, 0, 0],
    }
    if existing is not None:
        meta = load_checkpoint(existing, model=model, optimizer=optimizer, scheduler=scheduler, restore_rng_state=True)
        if _config_for_compare(meta["config"]) != _config_for_compare(cfg):
            raise ValueError(
                f"--resume: the checkpoint {existing} was written by a different configuration; "
                "use the same task/model/preset/--set values, or start a new run dir"
            )
        for k in state:
            if k in meta:
                state[k] = meta[k]
        if d.enabled and len(meta.get("rank_rng") or []) == d.world_size:  # each rank gets its own streams back
            torch.set_rng_state(torch.tensor(meta["rank_rng"][d.rank], dtype=torch.uint8))
            state["epoch_acc"] = meta["rank_epoch_acc"][d.rank]
        state["resumes"] = list(state["resumes"]) + [{"from": existing.name, "global_step": state["global_step"]}]

    def save(stem_step: int) -> None:
        rank_rng = rank_acc = None
        if d.enabled:  # per-rank dropout RNG streams and per-rank running train metrics
            rank_rng, rank_acc = [None] * d.world_size, [None] * d.world_size
            dist.all_gather_object(rank_rng, torch.get_rng_state().tolist())
            dist.all_gather_object(rank_acc, state["epoch_acc"])
        if d.is_main:
            st = dict(state, config=cfg)
            if rank_rng is not None:
                st["rank_rng"], st["rank_epoch_acc"] = rank_rng, rank_acc
            save_checkpoint(ckpt_dir, f"step-{stem_step:09d}", model=model, optimizer=optimizer,
                            scheduler=scheduler, state=st)
            prune_checkpoints(ckpt_dir, keep=keep_checkpoints)
        _barrier(d)

    amp = bool(tc.get("amp", False))
    clip = float(oc.get("grad_clip") or 0.0)
    log_every = int(tc.get("log_every") or 0)
    ckpt_every = int(tc.get("checkpoint_every") or 0)
    show = progress and d.is_main
    stop = bool(tc.get("max_steps")) and state["global_step"] >= int(tc["max_steps"])
    model.train()
    for epoch in range(int(state["epoch"]), int(tc["epochs"])):
        if stop:
            break
        batches = global_batches(len(data.train), bs, seed, epoch, d.world_size)
        start = int(state["step_in_epoch"])
        t0 = time.time()
        loss_acc, correct_acc, count_acc = state["epoch_acc"] if start else (0.0, 0, 0)
        bar = tqdm(total=len(batches), initial=start, desc=f"epoch {epoch + 1}/{tc['epochs']}", disable=not show,
                   dynamic_ncols=True)
        for bi in range(start, len(batches)):
            b = unpack_batch(data.collate(_rows(data.train, shard(batches[bi], d.rank, d.world_size))), data.is_dual)
            with _autocast(d, amp):
                logits, labels = _forward(ddp_model, b, d.device)
            loss, c, n = _loss_and_correct(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            scheduler.step()
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"non-finite training loss {loss_value} at epoch {epoch}, batch {bi}")
            loss_acc += loss_value * n
            correct_acc += c
            count_acc += n
            state["global_step"] += 1
            state["step_in_epoch"] = bi + 1
            state["epoch_acc"] = [loss_acc, correct_acc, count_acc]
            bar.update(1)
            if log_every and state["global_step"] % log_every == 0:
                bar.set_postfix(loss=f"{loss_acc / max(count_acc, 1):.4f}", acc=f"{correct_acc / max(count_acc, 1):.3f}",
                                lr=f"{scheduler.get_last_lr()[0]:.2e}")
            if tc.get("max_steps") and state["global_step"] >= int(tc["max_steps"]):
                stop = True
            if ckpt_every and state["global_step"] % ckpt_every == 0 and bi + 1 < len(batches) and not stop:
                state["train_seconds"] += time.time() - t0
                t0 = time.time()
                save(state["global_step"])
            if stop:
                break
        bar.close()
        state["train_seconds"] += time.time() - t0
        t1 = time.time()
        ebs = int(dc.get("eval_batch_size") or bs)
        val = evaluate(model, data.val, data.collate, ebs, d, amp, show, "val", data.is_dual)
        test = evaluate(model, data.test, data.collate, ebs, d, amp, show, "test", data.is_dual)
        state["eval_seconds"] += time.time() - t1
        tr_loss, tr_correct, tr_count = _all_reduce_sum([loss_acc, correct_acc, count_acc], d)
        rec = {
            "epoch": epoch + 1, "global_step": state["global_step"], "partial": stop,
            "train_loss": tr_loss / max(tr_count, 1) if tr_count else None,
            "train_acc": tr_correct / max(tr_count, 1) if tr_count else None,
            "val_acc": val["acc"], "val_loss": val["loss"], "test_acc": test["acc"], "test_loss": test["loss"],
            "lr": scheduler.get_last_lr()[0], "train_seconds_total": state["train_seconds"],
        }
        state["history"].append(rec)
        if state["best"] is None or val["acc"] > state["best"]["val_acc"]:
            state["best"] = {"epoch": epoch + 1, "val_acc": val["acc"], "test_acc": test["acc"]}
            if d.is_main:
                save_checkpoint(run_dir, "best", model=model, state={"config": cfg, "best": state["best"]}, rng=False)
        if show:
            tqdm.write(
                f"epoch {epoch + 1}: train_loss {rec['train_loss']:.4f} train_acc {rec['train_acc']:.4f} "
                f"val_acc {val['acc']:.4f} test_acc {test['acc']:.4f} (best val {state['best']['val_acc']:.4f} "
                f"@ epoch {state['best']['epoch']}, test {state['best']['test_acc']:.4f})"
            )
        state["epoch"] = epoch + 1
        state["step_in_epoch"] = 0
        state["epoch_acc"] = [0.0, 0, 0]
        save(state["global_step"])

    results = {
        "status": "finished",
        "task": cfg["task"], "model": cfg["model"], "preset": cfg["preset"], "seed": seed,
        "test_acc_at_best_val": state["best"]["test_acc"] if state["best"] else None,
        "best_val_acc": state["best"]["val_acc"] if state["best"] else None,
        "best_epoch": state["best"]["epoch"] if state["best"] else None,
        "final_test_acc": state["history"][-1]["test_acc"] if state["history"] else None,
        "n_params": n_params,
        "data": {"n_train": len(data.train), "n_val": len(data.val), "n_test": len(data.test),
                 "seq_len": data.seq_len, "vocab_size": data.vocab_size, "d_input": data.d_input,
                 "n_classes": data.n_classes, "is_dual": data.is_dual},
        "steps": state["global_step"], "steps_per_epoch": n_batches, "world_size": d.world_size,
        "timings": {"train_seconds": state["train_seconds"], "eval_seconds": state["eval_seconds"],
                    "data_seconds_last_process": t_data, "wall_seconds_last_process": time.time() - t_start},
        "history": state["history"], "resumes": state["resumes"], "config": cfg,
        "env": {"torch": torch.__version__, "python": platform.python_version(), "device": str(d.device),
                "threads": torch.get_num_threads(), "host": platform.node()},
    }
    if d.is_main:
        save_checkpoint(run_dir, "final", model=model, state={"config": cfg}, rng=False)
        atomic_write_json(results_path, results)
    _barrier(d)
    return results
