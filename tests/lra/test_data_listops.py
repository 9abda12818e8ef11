"""ListOps: generator vs independent evaluator, bounds, determinism, TSV I/O, errors, load_task."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lra.data import load_task
from lra.data.listops import (
    LISTOPS_VOCAB,
    evaluate_listops,
    generate_listops,
    listops_files,
    read_listops_tsv,
    tokenize_listops,
    write_listops_tsv,
)


def test_evaluator_hand_examples():
    assert evaluate_listops("[MAX 2 9 ]") == 9
    assert evaluate_listops("( ( ( [MIN 4 ) 7 ) ] )") == 4
    assert evaluate_listops("[SM 7 8 9 ]") == 4  # 24 mod 10
    assert evaluate_listops("[MED 3 4 ]") == 3  # median 3.5 -> int() floors
    assert evaluate_listops("[MED 1 9 5 ]") == 5
    assert evaluate_listops("[MAX 1 [MIN 7 8 ] [SM 5 5 ] ]") == 7
    assert evaluate_listops("6") == 6
    for bad in ("[MAX 1 2", "[MAX ]", "[FOO 1 ]", "1 2"):
        with pytest.raises(ValueError):
            evaluate_listops(bad)


@given(seed=st.integers(0, 2**31 - 1), lo=st.integers(2, 30), width=st.integers(3, 60))
@settings(max_examples=25, deadline=None)
def test_generator_labels_match_independent_evaluator(seed, lo, width):
    data = generate_listops(20, min_length=lo, max_length=lo + width, seed=seed)
    assert len({s for s, _ in data}) == 20  # unique
    for src, label in data:
        assert 0 <= label <= 9
        assert evaluate_listops(src) == label
        n_tok = len(tokenize_listops(src))
        assert lo < n_tok < lo + width  # bounds are exclusive, length = values + operators + closes


def test_default_lengths_and_determinism():
    a = generate_listops(12, seed=3)
    assert a == generate_listops(12, seed=3)
    assert a != generate_listops(12, seed=4)
    lengths = [len(tokenize_listops(s)) for s, _ in a]
    assert min(lengths) > 500 and max(lengths) < 2000
    assert all(evaluate_listops(s) == y for s, y in a)


def test_tokenizer_mapping():
    assert LISTOPS_VOCAB["<pad>"] == 0 and len(LISTOPS_VOCAB) == 16
    ids = tokenize_listops("( ( [MAX 2 ) 9 ) ]")
    assert ids.tolist() == [12, 3, 10, 15]
    assert sorted(LISTOPS_VOCAB.values()) == list(range(16))


def test_tsv_roundtrip_official_layout(tmp_path):
    files = write_listops_tsv(tmp_path, num_train=30, num_val=5, num_test=5, min_length=10, max_length=40, seed=1)
    assert files == listops_files(tmp_path)
    assert files["train"] == tmp_path / "listops-1000" / "basic_train.tsv"
    lines = files["val"].read_text().splitlines()
    assert lines[0] == "Source\tTarget" and len(lines) == 6
    srcs = set()
    for path in files.values():
        rows = [ln.split("\t") for ln in path.read_text().splitlines()[1:]]
        srcs |= {r[0] for r in rows}
        ids, labels = read_listops_tsv(path)
        assert labels == [evaluate_listops(r[0]) for r in rows]
        assert [len(x) for x in ids] == [len(tokenize_listops(r[0])) for r in rows]
    assert len(srcs) == 40  # splits are disjoint
    ids, _ = read_listops_tsv(files["train"], max_length=12)
    assert max(len(x) for x in ids) <= 12


@pytest.mark.parametrize(
    "content, needle",
    [
        ("Src\tTarget\n[MAX 1 2 ]\t2\n", ":1: expected header"),
        ("Source\tTarget\n[MAX 1 2 ]\t2\n[MAX 1 2 ]\t2\textra\n", ":3: expected 2 tab-separated columns"),
        ("Source\tTarget\n[MAX 1 2 ]\t2\n[MIN 1 2 ]\t11\n", ":3: Target 11 out of range"),
        ("Source\tTarget\n[MAX 1 2 ]\tx\n", ":2: Target 'x' is not an integer"),
        ("Source\tTarget\n[FIRST 1 2 ]\t1\n", ":2: unknown ListOps token '[FIRST'"),
        ("Source\tTarget\n", "no examples"),
    ],
)
def test_corrupt_tsv_errors_name_file_and_line(tmp_path, content, needle):
    path = tmp_path / "basic_train.tsv"
    path.write_text(content)
    with pytest.raises(ValueError) as e:
        read_listops_tsv(path)
    assert str(path) in str(e.value) and needle in str(e.value)


def test_load_task_official_fixture_and_cache(tmp_path):
    write_listops_tsv(tmp_path / "lra_release", num_train=40, num_val=8, num_test=8, min_length=10, max_length=60)
    t0 = time.perf_counter()
    ds = load_task("listops", tmp_path / "lra_release", max_length=32)
    first = time.perf_counter() - t0
    assert (len(ds.train), len(ds.val), len(ds.test)) == (40, 8, 8)
    assert ds.vocab_size == 16 and ds.n_classes == 10 and ds.pad_id == 0 and not ds.is_dual and ds.d_input == 1
    assert ds.seq_len <= 32
    t0 = time.perf_counter()
    again = load_task("listops", tmp_path / "lra_release", max_length=32)
    assert time.perf_counter() - t0 < max(first, 2.0)
    assert again.cache_path == ds.cache_path
    assert np.array_equal(again.train[0]["input_ids"], ds.train[0]["input_ids"])
    batch = ds.collate([ds.train[i] for i in range(5)])
    lengths = [len(ds.train[i]["input_ids"]) for i in range(5)]
    assert batch["inputs"].shape == (5, max(lengths)) and batch["mask"].sum(1).tolist() == lengths
    assert (batch["inputs"][~batch["mask"]] == 0).all()
    assert batch["labels"].tolist() == [int(ds.train[i]["label"]) for i in range(5)]


def test_load_task_generates_offline_with_subsets():
    ds = load_task("listops", n_train=60, n_eval=10, min_length=15, max_length=49, seed=2)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (60, 10, 10)
    inv = {v: k for k, v in LISTOPS_VOCAB.items()}
    for row in [ds.train[i] for i in range(10)]:
        src = " ".join(inv[int(t)] for t in row["input_ids"])
        assert evaluate_listops(src) == int(row["label"])
        assert 15 < len(row["input_ids"]) <= 49  # generated within bounds: nothing was truncated
    with pytest.raises(TypeError, match="unknown generator setting"):
        load_task("listops", n_train=10, min_len=3)
