import pytest
import torch

from lra.data.synthetic import (
    IGNORE_INDEX,
    MARKER_TOKEN,
    associative_recall,
    associative_recall_dataset,
    associative_recall_labels,
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
