"""Readers for the raw LRA sources: AAN retrieval TSVs, IMDB JSON lines (or the hub), CIFAR-10 JPEG tarball.

Every reader returns plain numpy / python data; :mod:`lra.data.tasks` turns it into ``datasets.Dataset``.
Byte-level text encoding (Text, Retrieval): ``id = byte + 1`` so that ``0`` is padding; ``vocab_size = 257``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

import numpy as np

__all__ = [
    "BYTE_PAD_ID",
    "BYTE_VOCAB_SIZE",
    "CIFAR10_CLASSES",
    "encode_bytes",
    "aan_files",
    "read_aan_tsv",
    "imdb_files",
    "read_imdb_jsonl",
    "cifar10_members",
    "read_cifar10_images",
]

PathLike = Union[str, Path]
BYTE_PAD_ID = 0
BYTE_VOCAB_SIZE = 257
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
AAN_SPLITS = {"train": "train", "val": "eval", "test": "test"}


def encode_bytes(text: str, max_length: Optional[int] = None) -> np.ndarray:
    """UTF-8 bytes of ``text`` shifted by one (0 = pad), truncated to ``max_length``; uint16 array."""
    raw = text.encode("utf-8")
    if max_length is not None:
        raw = raw[:max_length]
    return np.frombuffer(raw, dtype=np.uint8).astype(np.uint16) + 1


# ---------------------------------------------------------------- AAN retrieval


def aan_files(root: PathLike) -> dict[str, Path]:
    """Official AAN paths ``<root>/tsv_data/new_aan_pairs.{train,eval,test}.tsv`` keyed by train/val/test.

    If ``root`` itself holds the three files (a user pointed at ``tsv_data/``), those are returned.
    """
    root = Path(root)
    direct = {s: root / f"new_aan_pairs.{f}.tsv" for s, f in AAN_SPLITS.items()}
    if all(p.is_file() for p in direct.values()):
        return direct
    return {s: root / "tsv_data" / f"new_aan_pairs.{f}.tsv" for s, f in AAN_SPLITS.items()}


def read_aan_tsv(path: PathLike, max_length: Optional[int] = 4000) -> tuple[list, list, list[int]]:
    """Read one AAN pairs file (no header; tab-separated label, id1, id2, text1, text2).

    Returns (byte ids of text1, byte ids of text2, labels). Labels may be written as ``0``/``1`` or ``0.0``/``1.0``.

    Raises:
        FileNotFoundError: if missing.
        ValueError: naming file and line for a wrong column count or a label other than 0/1.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AAN retrieval file {path} not found")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    a, b, labels = [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        for row in reader:
            if not row:
                continue
            line = reader.line_num
            if len(row) != 5:
                raise ValueError(
                    f"{path}:{line}: expected 5 tab-separated columns (label, id1, id2, text1, text2), got {len(row)}"
                )
            try:
                lab = float(row[0])
            except ValueError:
                raise ValueError(f"{path}:{line}: label {row[0]!r} is not a number") from None
            if lab not in (0.0, 1.0):
                raise ValueError(f"{path}:{line}: label {row[0]!r} out of range (expected 0 or 1)")
            labels.append(int(lab))
            a.append(encode_bytes(row[3], max_length))
            b.append(encode_bytes(row[4], max_length))
    if not labels:
        raise ValueError(f"{path}: no rows")
    return a, b, labels


# ---------------------------------------------------------------- IMDB


def imdb_files(root: PathLike) -> dict[str, Path]:
    """``<root>/{train,test}.jsonl.gz`` (or ``<root>/imdb/...``) keyed by split."""
    root = Path(root)
    if not (root / "train.jsonl.gz").is_file() and (root / "imdb" / "train.jsonl.gz").is_file():
        root = root / "imdb"
    return {"train": root / "train.jsonl.gz", "test": root / "test.jsonl.gz"}


def read_imdb_jsonl(path: PathLike) -> tuple[list[str], list[int]]:
    """Read an IMDB ``*.jsonl.gz`` file (fields ``text`` and ``label`` in {0, 1}); returns (texts, labels).

    Raises:
        ValueError: naming file and line for invalid JSON, missing fields or a label other than 0/1.
    """
    path = Path(path)
    texts, labels = [], []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{line_no}: invalid JSON ({e.msg})") from None
                if not isinstance(rec, dict) or "text" not in rec or "label" not in rec:
                    raise ValueError(f"{path}:{line_no}: expected an object with 'text' and 'label' fields")
                if rec["label"] not in (0, 1):
                    raise ValueError(f"{path}:{line_no}: label {rec['label']!r} out of range (expected 0 or 1)")
                texts.append(rec["text"])
                labels.append(int(rec["label"]))
    except (OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path}: corrupt gzip file ({e})") from None
    if not labels:
        raise ValueError(f"{path}: no records")
    return texts, labels


# ---------------------------------------------------------------- CIFAR-10


def cifar10_members(tar_path: PathLike) -> dict[str, list[tuple[str, bytes, int]]]:
    """Read the raw JPEG bytes of every ``{train,test}/<class>/NNNN.jpg`` member (without extracting).

    Returns ``{"train": [(name, jpeg bytes, class index)], "test": [...]}``, each sorted by name so the order
    is deterministic.

    Raises:
        ValueError: for an unreadable tarball or a member with an unknown split or class folder.
    """
    tar_path = Path(tar_path)
    out: dict[str, list[tuple[str, bytes, int]]] = {"train": [], "test": []}
    try:
        with tarfile.open(tar_path, "r:*") as tf:
            for m in tf:
                if not m.isfile():
                    continue
                parts = Path(m.name).parts
                if len(parts) < 3 or not m.name.lower().endswith((".jpg", ".jpeg", ".png")):
                    continue
                split, cls = parts[-3], parts[-2]
                if split not in out or cls not in CIFAR10_CLASSES:
                    raise ValueError(
                        f"{tar_path}: member {m.name!r} is not under {{train,test}}/<class>/ with a CIFAR-10 class "
                        f"({', '.join(CIFAR10_CLASSES)})"
                    )
                data = tf.extractfile(m)
                assert data is not None
                out[split].append((m.name, data.read(), CIFAR10_CLASSES.index(cls)))
    except (tarfile.TarError, OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{tar_path}: corrupt or unreadable tarball ({e})") from None
    for split in out:
        out[split].sort(key=lambda r: r[0])
        if not out[split]:
            raise ValueError(f"{tar_path}: no {split}/<class>/*.jpg members found")
    return out


def read_cifar10_images(members: Sequence[tuple[str, bytes, int]], tar_path: PathLike = "") -> np.ndarray:
    """Decode JPEG bytes to grayscale (PIL ``convert("L")``: ITU-R 601 luma) -> (n, 1024) uint8.

    Raises:
        ValueError: naming the member for an undecodable image or one that is not 32x32.
    """
    from PIL import Image

    out = np.empty((len(members), 1024), dtype=np.uint8)
    for i, (name, data, _) in enumerate(members):
        try:
            with Image.open(io.BytesIO(data)) as im:
                arr = np.asarray(im.convert("L"))
        except Exception as e:  # noqa: BLE001 -- PIL raises many types for corrupt data
            raise ValueError(f"{tar_path}:{name}: cannot decode image ({type(e).__name__}: {e})") from None
        if arr.shape != (32, 32):
            raise ValueError(f"{tar_path}:{name}: image is {arr.shape}, expected (32, 32)")
        out[i] = arr.reshape(-1)
    return out
