"""Concatenate-and-chunk packing of token sequences into fixed-length blocks.

The token stream (documents already separated by ``<|endoftext|>``) is concatenated and cut into blocks of exactly
``block_size`` tokens. Packing is exact: the blocks, in order, followed by the leftover tail, are the concatenation of
the inputs -- no token is lost or duplicated except the final ``total % block_size`` tokens of the whole stream, which
``pack_dataset`` drops (a short block would need padding).

``pack_dataset`` does this with ``datasets.Dataset.map(batched=True, num_proc=...)``: every map batch emits its full
blocks plus its tail as a "partial" row; the partial rows (fewer than ``block_size`` tokens per map batch) are then
concatenated in order and packed once more, so the only tokens dropped are the global tail.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
from datasets import Dataset, Features, Value, concatenate_datasets
from datasets import Sequence as HFSequence


def pack_sequences(sequences: Sequence[Sequence[int]], block_size: int) -> tuple[list[list[int]], list[int]]:
    """Concatenate ``sequences`` and cut the result into blocks of ``block_size`` tokens.

    Args:
        sequences: token id lists (any lengths, empty allowed).
        block_size: tokens per block, > 0.
    Returns:
        (blocks, tail): ``len(blocks) == total // block_size``, every block has ``block_size`` tokens, and
        ``concat(blocks) + tail == concat(sequences)`` with ``len(tail) < block_size``.
    """
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) or block_size <= 0:
        raise ValueError(f"block_size must be a positive int; got {block_size!r}")
    flat = np.fromiter(chain.from_iterable(sequences), dtype=np.int64)
    n_full = len(flat) // block_size
    blocks = flat[: n_full * block_size].reshape(n_full, block_size).tolist()
    tail = flat[n_full * block_size :].tolist()
    return blocks, tail


def _pack_batch(batch: dict[str, list[Any]], block_size: int, column: str) -> dict[str, list[Any]]:
    blocks, tail = pack_sequences(batch[column], block_size)
    ids = blocks + ([tail] if tail else [])
    return {column: ids, "_full": [True] * len(blocks) + ([False] if tail else [])}


def pack_dataset(
    ds: Dataset,
    block_size: int,
    column: str = "input_ids",
    num_proc: int | None = None,
    batch_size: int = 1000,
    fingerprint: str | None = None,
    load_from_cache_file: bool = True,
) -> Dataset:
    """Pack a tokenized dataset (a list-of-ids column) into rows of exactly ``block_size`` tokens.

    Args:
        ds: dataset with an int-list column ``column``, one row per document or document chunk, in stream order.
        block_size: tokens per output row.
        num_proc: processes for ``Dataset.map`` (None: in-process).
        batch_size: rows per map batch; each batch loses nothing (its tail is re-packed), so this only affects speed.
        fingerprint: optional cache fingerprint for the map (defaults to datasets' automatic hashing).
    Returns:
        Dataset with a single column ``column`` of int32 lists of length ``block_size``: the full blocks of every map
        batch in stream order, then the blocks packed from the batch tails (in order). Exactly
        ``total % block_size`` tokens are dropped: the last ones of the concatenated batch tails.
    """
    if column not in ds.column_names:
        raise ValueError(f"pack_dataset: column {column!r} not in dataset columns {ds.column_names}")
    features = Features({column: HFSequence(Value("int32")), "_full": Value("bool")})
    packed = ds.map(
        _pack_batch,
        batched=True,
        batch_size=batch_size,
        num_proc=num_proc,
        remove_columns=ds.column_names,
        fn_kwargs={"block_size": block_size, "column": column},
        features=features,
        new_fingerprint=fingerprint,
        load_from_cache_file=load_from_cache_file,
        desc=f"packing into blocks of {block_size}",
    )
    is_full = np.asarray(packed["_full"], dtype=bool)
    full = packed.select(np.flatnonzero(is_full)).remove_columns("_full")
    partial_idx = np.flatnonzero(~is_full)
    if len(partial_idx) == 0:
        return full
    blocks, _ = pack_sequences(packed.select(partial_idx)[column], block_size)
    if not blocks:
        return full
    extra = Dataset.from_dict({column: blocks}, features=Features({column: HFSequence(Value("int32"))}))
    return concatenate_datasets([full, extra])
