"""One entry point for the six LRA tasks: :func:`load_task` -> :class:`LRADataset`, plus :func:`collate`.

Splits are ``datasets.Dataset`` objects (Arrow, numpy format) with columns

* ``input_ids`` (list of uint16 token ids) and ``label`` -- listops, text;
* ``input_ids1``, ``input_ids2``, ``label`` -- retrieval (``is_dual``);
* ``pixels`` (list of uint8 grey levels, row-major) and ``label`` -- image, pathfinder, pathx.

Pixels are stored as uint8 (4x smaller than float32: Path-X would otherwise take ~13 GB) and normalised by
:func:`collate` to float32 ``(x / 255 - pixel_mean) / pixel_std``: CIFAR mean 122.6/255, std 61.0/255;
Pathfinder / Path-X mean 0.5, std 0.5 (-> [-1, 1]).

Processed splits are saved with ``DatasetDict.save_to_disk`` under ``cache_dir()/lra/<task>-<hash>`` where the
hash covers every preprocessing setting and the size/mtime of the source files, so a second call loads in
seconds. Offline ListOps / Pathfinder data are generated into ``cache_dir()/generated/...`` (official layout)
when no official files are given, then read back through the same loaders as the official release.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from seqconv.data_paths import cache_dir, shared_data_dir

from . import listops as _listops
from . import pathfinder as _pf
from . import sources as _src

__all__ = ["TASKS", "LRADataset", "load_task", "collate"]

TASKS = ("listops", "text", "retrieval", "image", "pathfinder", "pathx")
CACHE_VERSION = 1
PathLike = Union[str, Path]

_LISTOPS_GEN_KEYS = {"num_train", "num_val", "num_test", "min_length", "max_depth", "max_args"}
_PF_GEN_KEYS = {"n_samples", "num_workers", "images_per_batch", "progress"} | (
    set(_pf.PathfinderConfig.__dataclass_fields__) - {"image_size"}
)
_DEFAULT_MAX_LENGTH = {"listops": 2048, "text": 4096, "retrieval": 4000}
_PIXEL_STATS = {"image": (122.6 / 255, 61.0 / 255), "pathfinder": (0.5, 0.5), "pathx": (0.5, 0.5)}
_PF_SIZE = {"pathfinder": 32, "pathx": 128}
_AAN_URL = "https://storage.googleapis.com/long-range-arena/lra_release.gz"


@dataclass
class LRADataset:
    """Processed LRA task.

    Attributes:
        name: task name (one of :data:`TASKS`).
        train, val, test: ``datasets.Dataset`` splits (numpy format). For ``text`` val is the test split.
        vocab_size: number of token ids including padding, or None for continuous (pixel) input.
        n_classes: number of labels.
        seq_len: longest sequence over all splits (after truncation).
        d_input: features per position (1 for pixels and for token ids).
        pad_id: padding id for tokens (None for pixels: every image has the full length).
        is_dual: two sequences per example (retrieval).
        pixel_mean, pixel_std: normalisation applied by :meth:`collate` to pixels scaled to [0, 1].
        cache_path: the ``save_to_disk`` folder this came from.
    """

    name: str
    train: Any
    val: Any
    test: Any
    vocab_size: Optional[int]
    n_classes: int
    seq_len: int
    d_input: int
    pad_id: Optional[int]
    is_dual: bool
    pixel_mean: float = 0.0
    pixel_std: float = 1.0
    cache_path: Optional[Path] = None
    info: dict = field(default_factory=dict)

    @property
    def splits(self) -> dict[str, Any]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def collate(self, batch: Sequence[Mapping[str, Any]], pad_to: Optional[int] = None) -> dict:
        """:func:`collate` with this task's pad id and pixel normalisation (use as DataLoader ``collate_fn``)."""
        return collate(
            batch, pad_id=self.pad_id or 0, pixel_mean=self.pixel_mean, pixel_std=self.pixel_std, pad_to=pad_to
        )


def collate(
    batch: Sequence[Mapping[str, Any]],
    *,
    pad_id: int = 0,
    pixel_mean: float = 0.0,
    pixel_std: float = 1.0,
    pad_to: Optional[int] = None,
) -> dict:
    """Stack examples of one task into tensors.

    Returns a dict with
      * ``inputs``: (batch, length) int64 token ids padded with ``pad_id``; or (batch, length, 1) float32 pixels
        ``(x / 255 - pixel_mean) / pixel_std``; or for dual examples (batch, 2, length) int64 (document 1, 2);
      * ``mask``: bool, same shape without the trailing feature dim, True = real position;
      * ``labels``: (batch,) int64.
    ``length`` is the longest sequence in the batch, or ``pad_to`` if that is larger.
    """
    import torch

    if len(batch) == 0:
        raise ValueError("collate got an empty batch")
    keys = batch[0].keys()
    labels = torch.as_tensor(np.asarray([int(b["label"]) for b in batch], dtype=np.int64))
    if "pixels" in keys:
        x = np.stack([np.asarray(b["pixels"], dtype=np.float32) for b in batch])
        x = (x / 255.0 - pixel_mean) / pixel_std
        inputs = torch.from_numpy(x).unsqueeze(-1)
        if pad_to is not None and pad_to > x.shape[1]:
            inputs = torch.nn.functional.pad(inputs, (0, 0, 0, pad_to - x.shape[1]))
        mask = torch.zeros(inputs.shape[:2], dtype=torch.bool)
        mask[:, : x.shape[1]] = True
        return {"inputs": inputs, "mask": mask, "labels": labels}
    if "input_ids1" in keys:
        seqs = [[b["input_ids1"], b["input_ids2"]] for b in batch]
    elif "input_ids" in keys:
        seqs = [[b["input_ids"]] for b in batch]
    else:
        raise ValueError(f"collate: examples need 'input_ids', 'input_ids1'/'input_ids2' or 'pixels', got {list(keys)}")
    length = max(len(s) for pair in seqs for s in pair)
    length = max(length, pad_to or 0)
    n_docs = len(seqs[0])
    ids = np.full((len(batch), n_docs, length), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), n_docs, length), dtype=bool)
    for i, pair in enumerate(seqs):
        for j, s in enumerate(pair):
            ids[i, j, : len(s)] = np.asarray(s, dtype=np.int64)
            mask[i, j, : len(s)] = True
    if n_docs == 1:
        ids, mask = ids[:, 0], mask[:, 0]
    return {"inputs": torch.from_numpy(ids), "mask": torch.from_numpy(mask), "labels": labels}


# ------------------------------------------------------------------------------------------------ helpers


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _fingerprint(paths: Sequence[Path]) -> list:
    out = []
    for p in paths:
        st = p.stat()
        out.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    return out


def _subset(n: int, k: Optional[int], seed: int, salt: int) -> np.ndarray:
    """Indices of a seeded random subset of size k (in random order), or all indices in file order."""
    if k is None or k >= n:
        return np.arange(n)
    if k < 1:
        raise ValueError(f"subset size must be >= 1, got {k}")
    return np.random.default_rng([seed, salt]).permutation(n)[:k]


def _list_column(rows: Union[Sequence[np.ndarray], np.ndarray], value_type: Any, chunk: int = 16384) -> Any:
    """Arrow list column from variable-length numpy rows (or a 2-D array), built without Python-level copies."""
    import pyarrow as pa

    chunks = []
    for s in range(0, max(len(rows), 1), chunk):
        part = rows[s : s + chunk]
        if isinstance(part, np.ndarray) and part.ndim == 2:
            lengths = np.full(len(part), part.shape[1], dtype=np.int64)
            values = part.reshape(-1)
        else:
            lengths = np.fromiter((len(r) for r in part), dtype=np.int64, count=len(part))
            values = np.concatenate(part) if len(part) else np.zeros(0)
        offsets = np.zeros(len(part) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        chunks.append(pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.astype(value_type.to_pandas_dtype()))))
    return pa.chunked_array(chunks, type=pa.list_(value_type))


def _make_split(columns: dict[str, Any], labels: Sequence[int]) -> Any:
    import datasets
    import pyarrow as pa

    data: dict[str, Any] = {}
    feats: dict[str, Any] = {}
    for name, (rows, dtype) in columns.items():
        pa_type = {"uint16": pa.uint16(), "uint8": pa.uint8()}[dtype]
        data[name] = _list_column(rows, pa_type)
        feats[name] = datasets.List(datasets.Value(dtype))
    data["label"] = pa.array(np.asarray(labels, dtype=np.int64))
    feats["label"] = datasets.Value("int64")
    return datasets.Dataset.from_dict(data, features=datasets.Features(feats))


def _max_len(ds: Any, cols: Sequence[str]) -> int:
    import pyarrow.compute as pc

    m = 0
    for c in cols:
        if len(ds) == 0:
            continue
        m = max(m, int(pc.max(pc.list_value_length(ds.data.column(c))).as_py()))
    return m


def _check_gen_kwargs(name: str, gen_kwargs: dict, allowed: set) -> None:
    bad = sorted(set(gen_kwargs) - allowed)
    if bad:
        raise TypeError(
            f"load_task({name!r}): unknown generator setting(s) {bad}; allowed: {sorted(allowed) or 'none'}"
        )


# ------------------------------------------------------------------------------------------------ per task


def official_listops_files(data_dir: PathLike) -> Optional[dict[str, Path]]:
    """The official ListOps TSVs (split -> path) under ``data_dir/listops-1000/`` or ``data_dir/``, or None."""
    root = Path(data_dir)
    for cand in (_listops.listops_files(root), {s: root / f"basic_{s}.tsv" for s in _listops.LISTOPS_SPLITS}):
        if all(p.is_file() for p in cand.values()):
            return cand
    return None


def warn_no_official_listops(data_dir: PathLike, stacklevel: int = 2) -> None:
    root = Path(data_dir)
    warnings.warn(
        f"no official ListOps files under {root} (looked for {root}/listops-1000/basic_{{train,val,test}}.tsv); "
        "generating ListOps offline instead",
        UserWarning,
        stacklevel=stacklevel + 1,
    )


def _listops_source(data_dir: Optional[PathLike], seed: int, n_train: Optional[int], n_eval: Optional[int],
                    user_max_length: Optional[int], gen_kwargs: dict) -> tuple[dict[str, Path], dict]:
    _check_gen_kwargs("listops", gen_kwargs, _LISTOPS_GEN_KEYS)
    if data_dir is not None:
        found = official_listops_files(data_dir)
        if found is not None:
            return found, {"files": _fingerprint(list(found.values()))}
        warn_no_official_listops(data_dir, stacklevel=4)
    n_eval_default = 2000 if n_train is None else max(1, min(2000, n_train // 10))
    gen = {
        "num_train": n_train if n_train is not None else 96000,
        "num_val": n_eval if n_eval is not None else n_eval_default,
        "num_test": n_eval if n_eval is not None else n_eval_default,
        "min_length": 500,
        # the generator's exclusive upper bound; a user max_length caps it so nothing needs truncating
        "max_length": 2000 if user_max_length is None else min(2000, user_max_length + 1),
        "max_depth": 10,
        "max_args": 10,
        "seed": seed,
    }
    gen.update(gen_kwargs)
    out = cache_dir() / "generated" / f"listops-{_hash(gen)}"
    files = _listops.listops_files(out)
    if not all(p.is_file() for p in files.values()):
        g = dict(gen)
        files = _listops.write_listops_tsv(out, **g)
    return files, {"generated": gen}


def _build_listops(files: dict[str, Path], max_length: int, seed: int, n_train, n_eval) -> dict:
    splits = {}
    for salt, split in enumerate(_listops.LISTOPS_SPLITS):
        ids, labels = _listops.read_listops_tsv(files[split], max_length=max_length)
        idx = _subset(len(ids), n_train if split == "train" else n_eval, seed, salt)
        splits[split] = _make_split({"input_ids": ([ids[i] for i in idx], "uint16")}, [labels[i] for i in idx])
    return splits


def _text_source(data_dir: Optional[PathLike]) -> tuple[Optional[dict[str, Path]], dict]:
    root: Optional[Path]
    if data_dir is not None:
        root = Path(data_dir)
    else:
        try:
            root = shared_data_dir() / "imdb"
        except FileNotFoundError:
            root = None
    if root is not None:
        files = _src.imdb_files(root)
        if all(p.is_file() for p in files.values()):
            return files, {"files": _fingerprint(list(files.values()))}
    return None, {"hub": "imdb", "looked_in": str(root)}


def _build_text(files: Optional[dict[str, Path]], looked_in: str, max_length: int, seed: int, n_train, n_eval) -> dict:
    if files is not None:
        raw = {s: _src.read_imdb_jsonl(p) for s, p in files.items()}
    else:
        try:
            import datasets

            hub = datasets.load_dataset("imdb")
            raw = {s: (list(hub[s]["text"]), list(hub[s]["label"])) for s in ("train", "test")}
        except Exception as e:  # noqa: BLE001 -- any hub failure ends in the same instruction
            raise FileNotFoundError(
                f"IMDB not found: expected {looked_in}/train.jsonl.gz and {looked_in}/test.jsonl.gz (JSON lines with "
                f"'text' and 'label'), and the hub fallback datasets.load_dataset('imdb') failed ({type(e).__name__}: "
                f"{e}). Set SEQCONV_DATA to the shared data folder or pass data_dir=<folder with the two files>."
            ) from None
    splits = {}
    for salt, split in enumerate(("train", "test")):
        texts, labels = raw[split]
        idx = _subset(len(texts), n_train if split == "train" else n_eval, seed, salt)
        ids = [_src.encode_bytes(texts[i], max_length) for i in idx]
        splits[split] = _make_split({"input_ids": (ids, "uint16")}, [labels[i] for i in idx])
    return splits


def _retrieval_source(data_dir: Optional[PathLike]) -> tuple[dict[str, Path], dict]:
    msg_tail = (
        f"Download the LRA release ({_AAN_URL}), extract it, and pass data_dir (CLI: --data-dir) = "
        "<the lra_release folder that holds tsv_data/> (AAN retrieval has no offline generator)."
    )
    if data_dir is None:
        raise FileNotFoundError(
            "retrieval needs the AAN files tsv_data/new_aan_pairs.train.tsv, tsv_data/new_aan_pairs.eval.tsv and "
            f"tsv_data/new_aan_pairs.test.tsv under data_dir, but data_dir is None. {msg_tail}"
        )
    files = _src.aan_files(data_dir)
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"retrieval: missing AAN file(s): {', '.join(missing)}. {msg_tail}")
    return files, {"files": _fingerprint(list(files.values()))}


def _build_retrieval(files: dict[str, Path], max_length: int, seed: int, n_train, n_eval) -> dict:
    splits = {}
    for salt, (split, path) in enumerate(files.items()):
        a, b, labels = _src.read_aan_tsv(path, max_length)
        idx = _subset(len(labels), n_train if split == "train" else n_eval, seed, salt)
        splits[split] = _make_split(
            {"input_ids1": ([a[i] for i in idx], "uint16"), "input_ids2": ([b[i] for i in idx], "uint16")},
            [labels[i] for i in idx],
        )
    return splits


def _image_source(data_dir: Optional[PathLike]) -> tuple[Path, dict]:
    root = Path(data_dir) if data_dir is not None else shared_data_dir() / "cifar10"
    for cand in (root / "cifar10_jpg.tar.gz", root / "cifar10" / "cifar10_jpg.tar.gz", root):
        if cand.is_file():
            return cand, {"files": _fingerprint([cand])}
    raise FileNotFoundError(
        f"CIFAR-10 not found: expected {root / 'cifar10_jpg.tar.gz'} (train/<class>/*.jpg and test/<class>/*.jpg). "
        "Set SEQCONV_DATA to the shared data folder or pass data_dir=<folder with cifar10_jpg.tar.gz>."
    )


def _build_image(tar: Path, seed: int, n_train, n_eval) -> dict:
    members = _src.cifar10_members(tar)
    perm = np.random.default_rng([seed, 10]).permutation(len(members["train"]))
    n_tr = len(perm) * 9 // 10  # 45k / 5k of the 50k training images
    parts = {"train": perm[:n_tr], "val": perm[n_tr:], "test": np.arange(len(members["test"]))}
    splits = {}
    for salt, (split, idx) in enumerate(parts.items()):
        src = members["test" if split == "test" else "train"]
        keep = idx[_subset(len(idx), n_train if split == "train" else n_eval, seed, salt)]
        rows = [src[i] for i in keep]
        pixels = _src.read_cifar10_images(rows, tar)
        splits[split] = _make_split({"pixels": (pixels, "uint8")}, [r[2] for r in rows])
    return splits


def _pathfinder_source(name: str, data_dir: Optional[PathLike], seed: int, n_train, n_eval,
                       gen_kwargs: dict) -> tuple[Path, dict, dict]:
    _check_gen_kwargs(name, gen_kwargs, _PF_GEN_KEYS)
    size = _PF_SIZE[name]
    run_opts = {k: gen_kwargs.pop(k) for k in ("num_workers", "progress") if k in gen_kwargs}
    if data_dir is not None:
        root = Path(data_dir)
        for cand in (_pf.pathfinder_dir(root, size), root):
            if (cand / "metadata").is_dir() and any((cand / "metadata").glob("*.npy")):
                return cand, {"files": _fingerprint(sorted((cand / "metadata").glob("*.npy")))}, run_opts
        warnings.warn(
            f"no official {name} files under {root} (looked for {_pf.pathfinder_dir(root, size)}/metadata/*.npy); "
            f"generating {name} offline instead",
            UserWarning,
            stacklevel=3,
        )
    base = _pf.PATHFINDER32 if name == "pathfinder" else _pf.PATHX
    n_samples = gen_kwargs.pop("n_samples", None)
    if n_samples is None:
        n_samples = 200000 if n_train is None else int(math.ceil(n_train / 0.8))
        if n_eval is not None:
            n_samples = max(n_samples, 10 * n_eval)
    images_per_batch = gen_kwargs.pop("images_per_batch", 1000)
    cfg = base.to_dict()
    cfg.update(gen_kwargs)
    cfg["paddle_margins"] = tuple(cfg["paddle_margins"])
    config = _pf.PathfinderConfig(**cfg)
    gen = {"config": config.to_dict(), "n_samples": n_samples, "images_per_batch": images_per_batch, "seed": seed}
    out = cache_dir() / "generated" / f"{name}-{_hash(gen)}"
    folder = _pf.pathfinder_dir(out, config.image_size, config.contour_length)
    if not (folder / "metadata").is_dir():
        folder = _pf.write_pathfinder(
            out, n_samples, config, seed=seed, images_per_batch=images_per_batch,
            num_workers=run_opts.get("num_workers"), progress=run_opts.get("progress", True),
        )
    return folder, {"generated": gen}, run_opts


def _build_pathfinder(folder: Path, size: int, seed: int, n_train, n_eval, num_workers: int) -> dict:
    index = _pf.pathfinder_index(folder)
    n = len(index)
    perm = np.random.default_rng([seed, 20]).permutation(n)
    n_tr, n_va = int(n * 0.8), int(n * 0.1)
    parts = {"train": perm[:n_tr], "val": perm[n_tr : n_tr + n_va], "test": perm[n_tr + n_va :]}
    splits = {}
    for split, idx in parts.items():
        k = n_train if split == "train" else n_eval
        idx = idx[:k] if k is not None else idx
        pixels, kept = _pf.read_images([index[i][0] for i in idx], size, num_workers=num_workers)
        labels = [index[idx[j]][1] for j in kept]
        splits[split] = _make_split({"pixels": (pixels, "uint8")}, labels)
    return splits


# ------------------------------------------------------------------------------------------------ entry point


def load_task(
    name: str,
    data_dir: Optional[PathLike] = None,
    *,
    max_length: Optional[int] = None,
    seed: int = 0,
    n_train: Optional[int] = None,
    n_eval: Optional[int] = None,
    **gen_kwargs: Any,
) -> LRADataset:
    """Load (or generate), preprocess and cache one LRA task.

    Args:
        name: ``listops`` | ``text`` | ``retrieval`` | ``image`` | ``pathfinder`` | ``pathx``.
        data_dir: the official ``lra_release`` folder (listops-1000/, tsv_data/, pathfinder32/, pathfinder128/), or the
            folder of one task's files; for text/image default the shared data (``shared_data_dir()``). ListOps and
            Pathfinder/Path-X are generated into ``cache_dir()`` when no official files are found.
        max_length: truncate token sequences (defaults: listops 2048, text 4096, retrieval 4000 per document);
            must be None for the pixel tasks.
        seed: seed of the generators, of the 80/10/10 (Pathfinder) and 45k/5k (CIFAR) splits and of subsets.
        n_train, n_eval: use a seeded random subset of this many train / val+test examples (CPU presets). For
            generated data they also size the generation (unless overridden in gen_kwargs).
        **gen_kwargs: offline generator settings. ListOps: num_train, num_val, num_test, min_length (exclusive lower
            bound, default 500), max_depth, max_args; generated lengths stay below 2000 and <= max_length.
            Pathfinder/Path-X: n_samples, images_per_batch, num_workers, progress and any
            :class:`lra.data.pathfinder.PathfinderConfig` field (contour_length, paddle_margins, ...).

    Returns:
        :class:`LRADataset` (splits as ``datasets.Dataset`` in numpy format, plus task metadata).

    Raises:
        ValueError: unknown task, bad max_length, or bad data (message names file and line).
        FileNotFoundError: data that cannot be found or generated (message says which files to put where).
    """
    if name not in TASKS:
        raise ValueError(f"unknown LRA task {name!r}; choose one of {', '.join(TASKS)}")
    if name in _PIXEL_STATS and max_length is not None:
        raise ValueError(f"max_length does not apply to the pixel task {name!r} (got {max_length}); pass None")
    user_max_length = max_length
    if name in _DEFAULT_MAX_LENGTH:
        max_length = _DEFAULT_MAX_LENGTH[name] if max_length is None else max_length
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be a positive int, got {max_length!r}")
    elif gen_kwargs and name not in _PF_SIZE:
        _check_gen_kwargs(name, gen_kwargs, set())
    if name in ("text", "retrieval") and gen_kwargs:
        _check_gen_kwargs(name, gen_kwargs, set())
    for arg, val in (("n_train", n_train), ("n_eval", n_eval)):
        if val is not None and (not isinstance(val, int) or val < 1):
            raise ValueError(f"{arg} must be None or a positive int, got {val!r}")

    gen_kwargs = dict(gen_kwargs)
    num_workers = 0
    if name == "listops":
        src, fp = _listops_source(data_dir, seed, n_train, n_eval, user_max_length, gen_kwargs)
    elif name == "text":
        src, fp = _text_source(data_dir)
    elif name == "retrieval":
        src, fp = _retrieval_source(data_dir)
    elif name == "image":
        src, fp = _image_source(data_dir)
    else:
        src, fp, run_opts = _pathfinder_source(name, data_dir, seed, n_train, n_eval, gen_kwargs)
        num_workers = run_opts.get("num_workers") or 0

    key = {"task": name, "version": CACHE_VERSION, "source": fp, "max_length": max_length, "seed": seed,
           "n_train": n_train, "n_eval": n_eval}
    target = cache_dir() / "lra" / f"{name}-{_hash(key)}"
    if (target / "lra_meta.json").is_file():
        return _load_cached(target)

    if name == "listops":
        splits = _build_listops(src, max_length, seed, n_train, n_eval)
    elif name == "text":
        splits = _build_text(src, fp.get("looked_in", ""), max_length, seed, n_train, n_eval)
    elif name == "retrieval":
        splits = _build_retrieval(src, max_length, seed, n_train, n_eval)
    elif name == "image":
        splits = _build_image(src, seed, n_train, n_eval)
    else:
        splits = _build_pathfinder(src, _PF_SIZE[name], seed, n_train, n_eval, num_workers)

    cols = {"retrieval": ["input_ids1", "input_ids2"]}.get(name, ["pixels"] if name in _PIXEL_STATS else ["input_ids"])
    mean, std = _PIXEL_STATS.get(name, (0.0, 1.0))
    meta = {
        "name": name,
        "vocab_size": {"listops": len(_listops.LISTOPS_VOCAB), "text": _src.BYTE_VOCAB_SIZE,
                       "retrieval": _src.BYTE_VOCAB_SIZE}.get(name),
        "n_classes": 10 if name in ("listops", "image") else 2,
        "seq_len": max(_max_len(ds, cols) for ds in splits.values()),
        "d_input": 1,
        "pad_id": None if name in _PIXEL_STATS else 0,
        "is_dual": name == "retrieval",
        "pixel_mean": mean,
        "pixel_std": std,
        "val_is_test": name == "text",
        "key": key,
    }
    _check_labels(splits, meta["n_classes"])
    _save(target, splits, meta)
    return _load_cached(target)


def _check_labels(splits: dict, n_classes: int) -> None:
    import pyarrow.compute as pc

    for split, ds in splits.items():
        if len(ds) == 0:
            raise ValueError(f"split {split!r} is empty after loading; check the source files and n_train/n_eval")
        lo, hi = pc.min(ds.data.column("label")).as_py(), pc.max(ds.data.column("label")).as_py()
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"split {split!r}: labels span {lo}..{hi}, expected 0..{n_classes - 1}")


def _save(target: Path, splits: dict, meta: dict) -> None:
    import datasets

    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        datasets.DatasetDict(splits).save_to_disk(str(tmp))
    finally:
        if bars:
            datasets.enable_progress_bars()
    (tmp / "lra_meta.json").write_text(json.dumps(meta, indent=1, default=str))
    if (target / "lra_meta.json").is_file():  # a concurrent run finished first; keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)


def _load_cached(target: Path) -> LRADataset:
    import datasets

    meta = json.loads((target / "lra_meta.json").read_text())
    dd = datasets.load_from_disk(str(target))
    dd = dd.with_format("numpy")
    val = dd["test"] if meta["val_is_test"] else dd["val"]
    return LRADataset(
        name=meta["name"], train=dd["train"], val=val, test=dd["test"], vocab_size=meta["vocab_size"],
        n_classes=meta["n_classes"], seq_len=meta["seq_len"], d_input=meta["d_input"], pad_id=meta["pad_id"],
        is_dual=meta["is_dual"], pixel_mean=meta["pixel_mean"], pixel_std=meta["pixel_std"], cache_path=target,
        info=meta,
    )
