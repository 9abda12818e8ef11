"""Concatenate-and-chunk packing is exact: no token lost (beyond the global tail) or duplicated."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset, Features, Sequence, Value
from hypothesis import given, settings
from hypothesis import strategies as st

from seqconv.training.packing import pack_dataset, pack_sequences

seqs_strategy = st.lists(st.lists(st.integers(0, 1000), min_size=0, max_size=40), min_size=0, max_size=25)


@given(seqs=seqs_strategy, block_size=st.integers(1, 17))
def test_pack_sequences_exact(seqs: list[list[int]], block_size: int) -> None:
    blocks, tail = pack_sequences(seqs, block_size)
    flat = [t for s in seqs for t in s]
    assert all(len(b) == block_size for b in blocks)
    assert len(tail) < block_size
    assert [t for b in blocks for t in b] + tail == flat
    assert len(blocks) == len(flat) // block_size


def _stream_dataset(lengths: list[int]) -> tuple[Dataset, list[list[int]]]:
    """Rows whose tokens are the distinct values 0..N-1 in stream order, so any loss/duplication is visible."""
    seqs, start = [], 0
    for n in lengths:
        seqs.append(list(range(start, start + n)))
        start += n
    feats = Features({"input_ids": Sequence(Value("int32"))})
    return Dataset.from_dict({"input_ids": seqs}, features=feats), seqs


@settings(max_examples=20, deadline=None)  # each example runs datasets.map: keep the count modest
@given(
    lengths=st.lists(st.integers(0, 50), min_size=1, max_size=30),
    block_size=st.integers(1, 23),
    batch_size=st.integers(1, 7),
)
def test_pack_dataset_exact(lengths: list[int], block_size: int, batch_size: int) -> None:
    ds, seqs = _stream_dataset(lengths)
    packed = pack_dataset(ds, block_size, batch_size=batch_size, load_from_cache_file=False)
    blocks = [list(r) for r in packed["input_ids"]]
    total = sum(lengths)
    got = [t for b in blocks for t in b]
    assert all(len(b) == block_size for b in blocks)
    assert len(got) == total - total % block_size
    assert len(set(got)) == len(got), "a token was duplicated"
    # the full blocks of each map batch come first, in stream order; the dropped tokens are the last
    # total % block_size tokens of the concatenated per-batch tails
    tails: list[int] = []
    expect_full: list[int] = []
    for i in range(0, len(seqs), batch_size):
        b, tail = pack_sequences(seqs[i : i + batch_size], block_size)
        expect_full += [t for blk in b for t in blk]
        tails += tail
    n_tail_blocks = len(tails) // block_size
    assert got == expect_full + tails[: n_tail_blocks * block_size]
    dropped = set(range(total)) - set(got)
    assert dropped == set(tails[n_tail_blocks * block_size :])


def test_pack_dataset_keeps_order_single_batch() -> None:
    ds, _ = _stream_dataset([5, 0, 7, 3, 9])
    packed = pack_dataset(ds, 4, batch_size=1000, load_from_cache_file=False)
    assert np.asarray(packed["input_ids"]).ravel().tolist() == list(range(24))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_pack_sequences_rejects_bad_block_size(bad: object) -> None:
    with pytest.raises(ValueError, match="block_size"):
        pack_sequences([[1, 2, 3]], bad)  # type: ignore[arg-type]


def test_pack_dataset_missing_column() -> None:
    ds = Dataset.from_dict({"ids": [[1, 2]]})
    with pytest.raises(ValueError, match="column 'input_ids'"):
        pack_dataset(ds, 2)
