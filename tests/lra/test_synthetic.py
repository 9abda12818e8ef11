import pytest
import torch

from lra.data.synthetic import (
    BLANK_TOKEN,
    IGNORE_INDEX,
    MARKER_TOKEN,
    associative_recall,
    associative_recall_dataset,
    associative_recall_labels,
    copying_memory,
    mqar_vocab_size,
    multi_query_recall,
    selective_copying,
    selective_copying_dataset,
)


@pytest.mark.parametrize("L", [3, 8, 257, 256])
def test_associative_recall_is_consistent(L):
    V = 12
    x, y = associative_recall(50, L, V, seed=3)
    assert x.shape == (50, L) and y.shape == (50,) and x.dtype == torch.int64
    assert int(x.max()) < V and int(x.min()) >= 0
    start = L % 2 == 0
    for i in range(50):
        seq = x[i].tolist()
        keys, vals = seq[start : L - 1 : 2], seq[start + 1 : L : 2]
        assert all(k < V // 2 for k in keys) and all(v >= V // 2 for v in vals)
        mapping = {}
        for k, v in zip(keys, vals):
            assert mapping.setdefault(k, v) == v  # a key always maps to the same value
        assert seq[-1] in mapping and mapping[seq[-1]] == int(y[i])


def test_associative_recall_deterministic():
    a, b = associative_recall(8, 65, 10, seed=1), associative_recall(8, 65, 10, seed=1)
    c = associative_recall(8, 65, 10, seed=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c[0])


def test_associative_recall_labels():
    x, y = associative_recall(20, 64, 10, seed=0)
    lab = associative_recall_labels(x)
    assert torch.equal(lab[:, -1], y)
    for i in range(20):
        seq, seen = x[i].tolist(), {}
        for j in range(1, 63, 2):  # even length: keys at odd positions
            k, v = seq[j], seq[j + 1]
            assert int(lab[i, j]) == (v if k in seen else IGNORE_INDEX)
            seen[k] = v
        assert all(int(lab[i, j]) == IGNORE_INDEX for j in range(0, 63, 2))


def test_selective_copying():
    x, lab = selective_copying(30, 100, n_tokens=8, vocab_size=7, seed=5)
    assert x.shape == lab.shape == (30, 100)
    assert (x[:, 92:] == MARKER_TOKEN).all()
    assert (lab[:, :92] == IGNORE_INDEX).all()
    for i in range(30):
        data = [t for t in x[i, :92].tolist() if t >= 2]
        assert data == lab[i, 92:].tolist()
        assert all(t in (0, *range(2, 7)) for t in x[i, :92].tolist())
    assert torch.equal(selective_copying(30, 100, 8, 7, seed=5)[0], x)


def test_datasets():
    ds = associative_recall_dataset(5, 33, 8, seed=0)
    x, y = associative_recall(5, 33, 8, seed=0)
    assert set(ds.column_names) == {"input_ids", "label"}
    assert ds[2]["input_ids"] == x[2].tolist() and ds[2]["label"] == int(y[2])
    ds2 = selective_copying_dataset(4, 40, 4, 6, seed=0)
    assert set(ds2.column_names) == {"input_ids", "labels"} and len(ds2[0]["labels"]) == 40


@pytest.mark.parametrize(
    "fn,args,match",
    [
        (associative_recall, (0, 10, 8), "n_samples"),
        (associative_recall, (4, 2, 8), "seq_len"),
        (associative_recall, (4, 10, 3), "vocab_size"),
        (selective_copying, (4, 10, 6, 8), "seq_len"),
        (selective_copying, (4, 10, 2, 2), "vocab_size"),
    ],
)
def test_bad_args(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


def test_multi_query_recall_is_consistent():
    n_keys, n_values, n_pairs, n_queries, L = 6, 5, 4, 20, 61
    x, lab = multi_query_recall(40, L, n_pairs, n_queries, n_keys, n_values, seed=7)
    assert x.shape == lab.shape == (40, L) and x.dtype == lab.dtype == torch.int64
    assert int(x.max()) < mqar_vocab_size(n_keys, n_values) == 12 and int(x.min()) >= 0
    for i in range(40):
        seq, tgt = x[i].tolist(), lab[i].tolist()
        keys, vals = seq[0 : 2 * n_pairs : 2], seq[1 : 2 * n_pairs : 2]
        assert len(set(keys)) == n_pairs and all(1 <= k <= n_keys for k in keys)
        assert all(1 + n_keys <= v < 1 + n_keys + n_values for v in vals)
        mapping = dict(zip(keys, vals))
        assert all(t == IGNORE_INDEX for t in tgt[: 2 * n_pairs])
        queries = [j for j in range(2 * n_pairs, L) if seq[j] != BLANK_TOKEN]
        assert len(queries) == n_queries
        for j in range(2 * n_pairs, L):
            assert tgt[j] == (mapping[seq[j]] if seq[j] != BLANK_TOKEN else IGNORE_INDEX)
    assert torch.equal(multi_query_recall(40, L, n_pairs, n_queries, n_keys, n_values, seed=7)[0], x)
    assert not torch.equal(multi_query_recall(40, L, n_pairs, n_queries, n_keys, n_values, seed=8)[0], x)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(n_samples=0, seq_len=64), "n_samples"),
        (dict(n_samples=2, seq_len=64, n_pairs=9, n_keys=8), "n_pairs"),
        (dict(n_samples=2, seq_len=40, n_pairs=8, n_queries=32), "seq_len"),
        (dict(n_samples=2, seq_len=64, n_values=0), "n_values"),
        (dict(n_samples=2, seq_len=64, n_queries=0), "n_queries"),
    ],
)
def test_multi_query_recall_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        multi_query_recall(**kwargs)


def test_copying_memory():
    x, lab = copying_memory(30, 64, n_tokens=5, vocab_size=7, seed=2)
    assert x.shape == lab.shape == (30, 64) and x.dtype == lab.dtype == torch.int64
    assert ((x[:, :5] >= 2) & (x[:, :5] < 7)).all() and (x[:, 5:59] == BLANK_TOKEN).all()
    assert (x[:, 59:] == MARKER_TOKEN).all()
    assert torch.equal(lab[:, 59:], x[:, :5]) and (lab[:, :59] == IGNORE_INDEX).all()
    assert torch.equal(copying_memory(30, 64, 5, 7, seed=2)[0], x)
    assert not torch.equal(copying_memory(30, 64, 5, 7, seed=3)[0], x)
    with pytest.raises(ValueError, match="seq_len"):
        copying_memory(2, 9, n_tokens=5)
    with pytest.raises(ValueError, match="vocab_size"):
        copying_memory(2, 20, n_tokens=5, vocab_size=2)
