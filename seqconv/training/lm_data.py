"""Language-model data pipeline: text files (or a hub dataset) -> tokens -> packed fixed-length blocks.

Stages, each a cached ``datasets`` step (the cache key covers the file list with sizes and mtimes, the tokenizer, the
block size and the split settings, so changing any of them re-runs only what changed):

1. segments: every file is read as UTF-8 (binary or empty corpora raise ValueError), cut at line breaks into pieces
   of about ``segment_chars`` characters; the last piece of a file is flagged ``doc_end``.
2. tokens: ``Dataset.map(batched=True, num_proc=...)`` encodes each piece and appends ``<|endoftext|>`` after the
   last piece of each document.
3. blocks: concatenate-and-chunk packing (``seqconv.training.packing.pack_dataset``) into rows of ``block_size``.

Without separate validation files, the last ``val_fraction`` of the packed blocks is the evaluation split.
``LMData.eval_tokens_per_byte`` (predicted target tokens / their UTF-8 bytes) converts the per-token loss into
bits per byte: ``bpb = loss_nats_per_token * tokens / bytes / ln 2``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, Features, Value
from datasets import Sequence as HFSequence
from tokenizers import Tokenizer

from seqconv.training.packing import pack_dataset
from seqconv.training.tokenization import EOS_TOKEN, encode_corpus, token_byte_lengths

PIPELINE_VERSION = "lm_data-v1"  # bump when the processing below changes meaning
TEXT_SUFFIXES = (".txt", ".raw", ".text", ".md", ".tokens")


@dataclass
class LMDataConfig:
    """Where the text comes from and how it is cut.

    train_files / val_files: paths, directories (all ``TEXT_SUFFIXES`` files below, recursively) or glob patterns.
    dataset_name: a ``datasets`` hub name instead of files (needs a reachable hub); ``text_column`` holds the text.
    block_size: tokens per training example (the context length).
    val_fraction: share of packed blocks held out for evaluation when no validation files/split are given.
    max_eval_blocks: cap on evaluation blocks (None: all).
    """

    block_size: int
    train_files: list[str] = field(default_factory=list)
    val_files: list[str] = field(default_factory=list)
    dataset_name: str | None = None
    dataset_config: str | None = None
    text_column: str = "text"
    train_split: str = "train"
    val_split: str | None = "validation"
    eos_per_row: bool = True
    val_fraction: float = 0.05
    max_eval_blocks: int | None = None
    segment_chars: int = 1 << 16
    num_proc: int | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.train_files, str):
            self.train_files = [self.train_files]
        if isinstance(self.val_files, str):
            self.val_files = [self.val_files]
        if not isinstance(self.block_size, int) or self.block_size < 2:
            raise ValueError(f"block_size must be an int >= 2 (context length in tokens); got {self.block_size!r}")
        if bool(self.train_files) == bool(self.dataset_name):
            raise ValueError(
                "give exactly one data source: train_files (local text files/dirs/globs) or dataset_name (hub); "
                f"got train_files={self.train_files!r}, dataset_name={self.dataset_name!r}"
            )
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1); got {self.val_fraction!r}")
        if self.segment_chars < 1024:
            raise ValueError(f"segment_chars must be >= 1024; got {self.segment_chars!r}")


@dataclass
class LMData:
    """Packed datasets (column ``input_ids``: int32 lists of ``block_size``) and the statistics needed for bpb."""

    train: Dataset
    eval: Dataset | None
    tokenizer: Tokenizer
    block_size: int
    train_tokens: int
    eval_tokens: int  # predicted target tokens in the eval split: n_blocks * (block_size - 1)
    eval_bytes: int  # UTF-8 bytes those target tokens stand for
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def eval_tokens_per_byte(self) -> float:
        if self.eval_bytes <= 0:
            return float("nan")
        return self.eval_tokens / self.eval_bytes


def bits_per_byte(loss_nats_per_token: float, tokens_per_byte: float) -> float:
    """Bits per UTF-8 byte from the mean cross-entropy (nats/token): loss * tokens / bytes / ln 2."""
    return loss_nats_per_token * tokens_per_byte / math.log(2)


# ---------------------------------------------------------------------------------------------------------------- files
def resolve_text_files(patterns: Sequence[str], what: str = "train_files") -> list[Path]:
    """Expand files, directories (recursively, ``TEXT_SUFFIXES`` only) and glob patterns into a sorted file list."""
    out: list[Path] = []
    for pat in patterns:
        p = Path(os.path.expanduser(str(pat)))
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in TEXT_SUFFIXES)
            if not found:
                raise ValueError(f"{what}: directory {str(p)!r} holds no text files (suffixes {TEXT_SUFFIXES})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            found = sorted(Path(q) for q in glob.glob(str(p), recursive=True) if Path(q).is_file())
            if not found:
                raise FileNotFoundError(f"{what}: {str(pat)!r} matches no file or directory")
            out.extend(found)
    seen: set[Path] = set()
    unique = [q for q in out if not (q.resolve() in seen or seen.add(q.resolve()))]
    return unique


def check_text_file(path: Path, sniff_bytes: int = 1 << 16) -> int:
    """Raise ValueError if ``path`` looks binary (NUL bytes or invalid UTF-8 in its first bytes); return its size."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(sniff_bytes)
    nul = head.find(b"\x00")
    if nul != -1:
        raise ValueError(f"{str(path)!r} looks binary (NUL byte at offset {nul}); give UTF-8 text files")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # a multi-byte char cut at the sniff boundary is fine
            raise ValueError(
                f"{str(path)!r} is not UTF-8 text (invalid byte at offset {e.start}); convert it or drop it"
            ) from None
    return size


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path!r} is not UTF-8 text (invalid byte at offset {e.start})") from None


def _split_text(text: str, segment_chars: int) -> list[str]:
    """Cut ``text`` into pieces of about ``segment_chars`` characters, preferably right after a newline."""
    pieces = []
    start = 0
    while start < len(text):
        end = min(start + segment_chars, len(text))
        if end < len(text):
            nl = text.rfind("\n", start + segment_chars // 2, end)
            if nl != -1:
                end = nl + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def _file_segments(files: list[str], stamps: list[str], segment_chars: int) -> Iterator[dict[str, Any]]:
    del stamps  # only part of the cache key
    for path in files:
        text = _read_text(path)
        if "\x00" in text:
            raise ValueError(f"{path!r} looks binary (contains NUL characters); give UTF-8 text files")
        pieces = _split_text(text, segment_chars)
        for i, piece in enumerate(pieces):
            yield {"text": piece, "doc_end": i == len(pieces) - 1}


SEGMENT_FEATURES = Features({"text": Value("string"), "doc_end": Value("bool")})


def load_file_segments(patterns: Sequence[str], segment_chars: int, cache_dir: str | None, what: str) -> Dataset:
    """Dataset of text pieces (columns ``text``, ``doc_end``) from local files, cached by file list/sizes/mtimes."""
    files = resolve_text_files(patterns, what)
    sizes = [check_text_file(f) for f in files]
    if sum(sizes) == 0:
        raise ValueError(f"{what}: the corpus is empty (all {len(files)} file(s) have 0 bytes): {[str(f) for f in files]}")
    stamps = [f"{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files]
    try:
        ds = Dataset.from_generator(
            _file_segments,
            gen_kwargs={"files": [str(f.resolve()) for f in files], "stamps": stamps, "segment_chars": segment_chars},
            features=SEGMENT_FEATURES,
            cache_dir=cache_dir,
        )
    except Exception as e:  # datasets wraps generator errors in DatasetGenerationError
        cause = e
        while cause.__cause__ is not None or cause.__context__ is not None:
            cause = cause.__cause__ or cause.__context__
            if isinstance(cause, ValueError):
                raise ValueError(str(cause)) from e
        raise
    return ds


def load_hub_segments(cfg: LMDataConfig, split: str) -> Dataset:
    """Rows of a hub dataset as text pieces; raises RuntimeError with a clear message when the hub is unreachable."""
    import datasets

    try:
        ds = datasets.load_dataset(cfg.dataset_name, cfg.dataset_config, split=split, cache_dir=cfg.cache_dir)
    except Exception as e:
        raise RuntimeError(
            f"could not load dataset {cfg.dataset_name!r} (config {cfg.dataset_config!r}, split {split!r}) from the "
            f"hub or its cache: {type(e).__name__}: {e}. If this machine is offline, download the text first and pass "
            "--train-files/--val-files (local text files, directories or globs)."
        ) from e
    if cfg.text_column not in ds.column_names:
        raise ValueError(f"text_column {cfg.text_column!r} not in {cfg.dataset_name!r} columns {ds.column_names}")
    eos_per_row = cfg.eos_per_row
    return ds.map(
        lambda b: {"text": b[cfg.text_column], "doc_end": [eos_per_row] * len(b[cfg.text_column])},
        batched=True,
        remove_columns=ds.column_names,
        features=SEGMENT_FEATURES,
        num_proc=cfg.num_proc,
    )


# ---------------------------------------------------------------------------------------------------------- tokenizing
def _tokenize_batch(batch: dict[str, list[Any]], tokenizer: Tokenizer, eos_id: int) -> dict[str, list[list[int]]]:
    encs = encode_corpus(tokenizer, batch["text"])
    return {"input_ids": [np.append(ids, np.int32(eos_id)) if end else ids for ids, end in zip(encs, batch["doc_end"])]}


def _fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def tokenize_and_pack(
    segments: Dataset, tokenizer: Tokenizer, block_size: int, num_proc: int | None = None
) -> Dataset:
    """Encode text pieces (``text``, ``doc_end``) and pack them into int32 blocks of ``block_size`` tokens."""
    eos_id = tokenizer.token_to_id(EOS_TOKEN)
    if eos_id is None:
        raise ValueError(f"tokenizer has no {EOS_TOKEN!r} token (needed as the document separator)")
    tok_key = hashlib.sha256(tokenizer.to_str().encode()).hexdigest()
    tokens = segments.map(
        _tokenize_batch,
        batched=True,
        num_proc=num_proc,
        remove_columns=segments.column_names,
        fn_kwargs={"tokenizer": tokenizer, "eos_id": eos_id},
        features=Features({"input_ids": HFSequence(Value("int32"))}),
        new_fingerprint=_fingerprint(PIPELINE_VERSION, "tok", segments._fingerprint, tok_key),
        desc="tokenizing",
    )
    return pack_dataset(
        tokens,
        block_size,
        num_proc=num_proc,
        fingerprint=_fingerprint(PIPELINE_VERSION, "pack", tokens._fingerprint, block_size),
    )


def _count_tokens(ds: Dataset) -> int:
    return len(ds) * (len(ds[0]["input_ids"]) if len(ds) else 0)


def eval_byte_stats(blocks: Dataset, tokenizer: Tokenizer) -> tuple[int, int]:
    """(target tokens, their UTF-8 bytes) of packed blocks: targets are positions 1..block_size-1 of each block."""
    lengths = token_byte_lengths(tokenizer)
    n_tok = 0
    n_bytes = 0
    for start in range(0, len(blocks), 4096):
        arr = np.asarray(blocks[start : start + 4096]["input_ids"], dtype=np.int64)
        targets = arr[:, 1:]
        n_tok += targets.size
        n_bytes += int(lengths[targets].sum())
    return n_tok, n_bytes


def corpus_texts(segments: Dataset) -> Iterator[str]:
    """Iterate the text pieces of a segments dataset (for tokenizer training)."""
    for start in range(0, len(segments), 256):
        yield from segments[start : start + 256]["text"]


def load_segments(cfg: LMDataConfig) -> tuple[Dataset, Dataset | None]:
    """(train segments, validation segments or None) for the configured source."""
    if cfg.dataset_name:
        train = load_hub_segments(cfg, cfg.train_split)
        val = load_hub_segments(cfg, cfg.val_split) if cfg.val_split else None
        return train, val
    train = load_file_segments(cfg.train_files, cfg.segment_chars, cfg.cache_dir, "train_files")
    val = load_file_segments(cfg.val_files, cfg.segment_chars, cfg.cache_dir, "val_files") if cfg.val_files else None
    return train, val


def build_lm_data(
    cfg: LMDataConfig,
    tokenizer: Tokenizer,
    segments: tuple[Dataset, Dataset | None] | None = None,
) -> LMData:
    """Run the whole pipeline; ``segments`` may be passed when already loaded (e.g. after tokenizer training)."""
    train_seg, val_seg = segments if segments is not None else load_segments(cfg)
    train = tokenize_and_pack(train_seg, tokenizer, cfg.block_size, cfg.num_proc)
    if val_seg is not None:
        eval_ds = tokenize_and_pack(val_seg, tokenizer, cfg.block_size, cfg.num_proc)
        if len(eval_ds) == 0:
            raise ValueError(
                f"the validation text has fewer tokens than one block of {cfg.block_size}; lower --block-size or give "
                "more validation text"
            )
    elif cfg.val_fraction > 0:
        n_val = max(1, int(round(len(train) * cfg.val_fraction)))
        if len(train) - n_val < 1:
            raise ValueError(
                f"the corpus packs into only {len(train)} block(s) of {cfg.block_size} tokens: too few to hold out "
                f"val_fraction={cfg.val_fraction} and still train; give more text or lower --block-size"
            )
        eval_ds = train.select(range(len(train) - n_val, len(train)))
        train = train.select(range(len(train) - n_val))
    else:
        eval_ds = None
    if len(train) == 0:
        raise ValueError(
            f"the training corpus has fewer tokens than one block of {cfg.block_size}: nothing to train on; "
            "give more text or lower --block-size"
        )
    if eval_ds is not None and cfg.max_eval_blocks is not None:
        eval_ds = eval_ds.select(range(min(len(eval_ds), cfg.max_eval_blocks)))
    n_tok, n_bytes = eval_byte_stats(eval_ds, tokenizer) if eval_ds is not None else (0, 0)
    info = {"config": asdict(cfg), "train_blocks": len(train), "eval_blocks": len(eval_ds) if eval_ds else 0}
    return LMData(
        train=train.with_format("torch"),
        eval=eval_ds.with_format("torch") if eval_ds is not None else None,
        tokenizer=tokenizer,
        block_size=cfg.block_size,
        train_tokens=_count_tokens(train),
        eval_tokens=n_tok,
        eval_bytes=n_bytes,
        info=info,
    )
