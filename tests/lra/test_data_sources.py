"""IMDB / CIFAR-10 on the real shared data, AAN retrieval fixtures, data paths, collate and error messages."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from lra.data import collate, load_task
from lra.data.sources import encode_bytes, read_aan_tsv, read_imdb_jsonl
from seqconv.data_paths import cache_dir, shared_data_dir


def test_data_paths_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQCONV_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.setenv("SEQCONV_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="SEQCONV_DATA"):
        shared_data_dir()
    monkeypatch.setenv("SEQCONV_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and (tmp_path / "c").is_dir()


def test_imdb_real_subset(shared_data):
    ds = load_task("text", n_train=64, n_eval=32, max_length=512)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (64, 32, 32)
    assert ds.val is ds.test  # test also serves as validation
    assert ds.vocab_size == 257 and ds.n_classes == 2 and ds.seq_len <= 512 and ds.pad_id == 0
    labels = [int(r["label"]) for r in ds.train]
    assert 0 < sum(labels) < 64  # random subset covers both classes
    texts, file_labels = read_imdb_jsonl(shared_data / "imdb" / "train.jsonl.gz")
    assert len(texts) == 25000 and sorted(set(file_labels)) == [0, 1]
    by_text = {tuple(encode_bytes(t, 512).tolist()): y for t, y in zip(texts, file_labels)}
    for r in ds.train:
        assert by_text[tuple(r["input_ids"].tolist())] == int(r["label"])  # ids = utf-8 bytes + 1, truncated
    batch = ds.collate([ds.train[i] for i in range(8)])
    assert batch["inputs"].shape[0] == 8 and batch["inputs"].max() <= 256


def test_cifar_real_subset(shared_data):
    ds = load_task("image", n_train=200, n_eval=100, seed=1)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (200, 100, 100)
    assert ds.seq_len == 1024 and ds.n_classes == 10 and ds.vocab_size is None and ds.d_input == 1
    assert len({int(r["label"]) for r in ds.test}) >= 8  # a random, not class-sorted, subset
    batch = ds.collate([ds.train[i] for i in range(200)])
    x = batch["inputs"]
    assert x.shape == (200, 1024, 1) and batch["mask"].all()
    # normalised with the published grey statistics: mean ~0, std ~1 (200 images; loose bounds)
    assert abs(float(x.mean())) < 0.15 and 0.8 < float(x.std()) < 1.2
    with pytest.raises(ValueError, match="max_length does not apply"):
        load_task("image", max_length=100)


def _aan_fixture(root: Path, rows: int = 12) -> None:
    rng = np.random.default_rng(0)
    (root / "tsv_data").mkdir(parents=True)
    for split in ("train", "eval", "test"):
        with open(root / "tsv_data" / f"new_aan_pairs.{split}.tsv", "w") as f:
            for i in range(rows):
                t1 = "paper " + " ".join(map(str, rng.integers(0, 99, size=rng.integers(3, 30))))
                t2 = "cites é " + " ".join(map(str, rng.integers(0, 99, size=rng.integers(3, 30))))
                f.write(f"{float(i % 2)}\tid{i}a\tid{i}b\t{t1}\t{t2}\n")


def test_retrieval_official_fixture(tmp_path):
    _aan_fixture(tmp_path)
    ds = load_task("retrieval", tmp_path, max_length=40)
    assert ds.is_dual and ds.vocab_size == 257 and (len(ds.train), len(ds.val), len(ds.test)) == (12, 12, 12)
    a, b, labels = read_aan_tsv(tmp_path / "tsv_data" / "new_aan_pairs.train.tsv", 40)
    assert labels == [i % 2 for i in range(12)]
    row = ds.train[3]
    assert np.array_equal(row["input_ids1"], a[3]) and np.array_equal(row["input_ids2"], b[3])
    batch = ds.collate([ds.train[i] for i in range(4)])
    assert batch["inputs"].shape[:2] == (4, 2) and batch["mask"].shape == batch["inputs"].shape
    assert batch["mask"][:, 0].sum(-1).tolist() == [len(ds.train[i]["input_ids1"]) for i in range(4)]
    assert batch["mask"][:, 1].sum(-1).tolist() == [len(ds.train[i]["input_ids2"]) for i in range(4)]


def test_retrieval_missing_files_say_what_to_put_where(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"tsv_data/new_aan_pairs\.train\.tsv.*lra_release"):
        load_task("retrieval")
    (tmp_path / "tsv_data").mkdir()
    (tmp_path / "tsv_data" / "new_aan_pairs.train.tsv").write_text("0\ta\tb\tx\ty\n")
    with pytest.raises(FileNotFoundError) as e:
        load_task("retrieval", tmp_path)
    assert "new_aan_pairs.eval.tsv" in str(e.value) and "new_aan_pairs.test.tsv" in str(e.value)
    assert "new_aan_pairs.train.tsv," not in str(e.value)


@pytest.mark.parametrize(
    "line, needle",
    [("1\ta\tb\tx\n", ":2: expected 5 tab-separated columns"), ("3\ta\tb\tx\ty\n", ":2: label '3' out of range"),
     ("yes\ta\tb\tx\ty\n", ":2: label 'yes' is not a number")],
)
def test_aan_bad_rows(tmp_path, line, needle):
    p = tmp_path / "new_aan_pairs.train.tsv"
    p.write_text("0\ta\tb\tx\ty\n" + line)
    with pytest.raises(ValueError, match=needle) as e:
        read_aan_tsv(p)
    assert str(p) in str(e.value)


def test_imdb_corrupt_inputs(tmp_path):
    good = {"id": 0, "rating": 9, "label": 1, "text": "fine"}
    for content, needle in [
        (json.dumps(good) + "\n{not json\n", ":2: invalid JSON"),
        (json.dumps(good) + "\n" + json.dumps({**good, "label": 7}) + "\n", ":2: label 7 out of range"),
        (json.dumps({"id": 1, "text": "no label"}) + "\n", ":1: expected an object with 'text' and 'label'"),
    ]:
        p = tmp_path / "train.jsonl.gz"
        with gzip.open(p, "wt") as f:
            f.write(content)
        with pytest.raises(ValueError, match=needle):
            read_imdb_jsonl(p)
    p.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_imdb_jsonl(p)


def test_cifar_corrupt_tar(tmp_path):
    bad = tmp_path / "cifar10_jpg.tar.gz"
    bad.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match="corrupt or unreadable tarball"):
        load_task("image", tmp_path)
    wrong = tmp_path / "w" / "cifar10_jpg.tar.gz"
    wrong.parent.mkdir()
    with tarfile.open(wrong, "w:gz") as tf:
        src = tmp_path / "x.jpg"
        src.write_bytes(b"x")
        tf.add(src, arcname="train/zebra/0001.jpg")
    with pytest.raises(ValueError, match="train/zebra/0001.jpg"):
        load_task("image", wrong.parent)
    with pytest.raises(FileNotFoundError, match="cifar10_jpg.tar.gz"):
        load_task("image", tmp_path / "nothing")


def test_collate_generic_and_errors():
    batch = [{"input_ids": np.array([5, 6, 7], np.uint16), "label": 1}, {"input_ids": [9], "label": 0}]
    out = collate(batch, pad_id=0, pad_to=6)
    assert out["inputs"].tolist() == [[5, 6, 7, 0, 0, 0], [9, 0, 0, 0, 0, 0]]
    assert out["mask"].tolist() == [[True] * 3 + [False] * 3, [True] + [False] * 5]
    px = collate([{"pixels": np.array([0, 255], np.uint8), "label": 3}], pixel_mean=0.5, pixel_std=0.5)
    assert px["inputs"].flatten().tolist() == [-1.0, 1.0] and px["labels"].tolist() == [3]
    with pytest.raises(ValueError, match="empty batch"):
        collate([])
    with pytest.raises(ValueError, match="input_ids"):
        collate([{"foo": 1, "label": 0}])
    with pytest.raises(ValueError, match="unknown LRA task"):
        load_task("cifar")


def test_text_without_local_files_and_without_hub_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQCONV_DATA", str(tmp_path))  # a data folder without imdb/
    with pytest.raises(FileNotFoundError, match=r"imdb/train\.jsonl\.gz.*load_dataset\('imdb'\) failed"):
        load_task("text", n_train=4)
