"""LM data pipeline: tokenizers, file loading, packing into blocks, bytes-per-token statistics, clear errors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqconv.training.lm_data import LMDataConfig, bits_per_byte, build_lm_data, resolve_text_files
from seqconv.training.tokenization import (
    EOS_TOKEN,
    byte_tokenizer,
    encode_corpus,
    is_byte_tokenizer,
    load_tokenizer,
    token_byte_lengths,
    train_bpe_tokenizer,
)

WORDS = "the a king queen of to and is was my thy lord love sweet night day fair death crown sword".split()


def make_corpus(path: Path, n_words: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    lines = []
    for _ in range(n_words // 8):
        lines.append(" ".join(rng.choice(WORDS) for _ in range(8)) + (" café" if rng.random() < 0.1 else ""))
    text = "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=200))
def test_byte_tokenizer_is_utf8_bytes(text: str) -> None:
    tok = byte_tokenizer()
    fast = encode_corpus(tok, [text])[0]
    tok.encode_special_tokens = True
    slow = tok.encode(text, add_special_tokens=False).ids
    assert fast.tolist() == list(text.encode("utf-8")) == slow
    assert tok.decode(slow) == text


def test_byte_tokenizer_layout() -> None:
    tok = byte_tokenizer()
    assert tok.get_vocab_size() == 257 and tok.token_to_id(EOS_TOKEN) == 256
    assert is_byte_tokenizer(tok)
    lengths = token_byte_lengths(tok)
    assert lengths[:256].tolist() == [1] * 256 and lengths[256] == 0
    # special-token strings inside corpus text are plain text, not the separator
    assert encode_corpus(tok, ["a<|endoftext|>"])[0].tolist() == list(b"a<|endoftext|>")


def test_bpe_token_byte_lengths_exact(tmp_path: Path) -> None:
    text = make_corpus(tmp_path / "c.txt", 2000)
    tok = train_bpe_tokenizer([text], vocab_size=300)
    assert tok.get_vocab_size() == 300 and not is_byte_tokenizer(tok)
    ids = encode_corpus(tok, [text])[0]
    assert len(ids) < len(text.encode()) / 1.5  # merges happened
    assert int(token_byte_lengths(tok)[ids].sum()) == len(text.encode("utf-8"))
    tok.save(str(tmp_path / "tokenizer.json"))
    assert load_tokenizer(tmp_path).encode(text).ids == ids.tolist()


def test_bpe_vocab_too_small() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe_tokenizer(["abc"], vocab_size=100)


def test_missing_and_bad_tokenizer_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tokenizer file not found"):
        load_tokenizer(tmp_path / "nope.json")
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="could not be parsed"):
        load_tokenizer(tmp_path / "tokenizer.json")


def test_build_lm_data_blocks_and_bpb_stats(tmp_path: Path) -> None:
    text_a = make_corpus(tmp_path / "a.txt", 3000, seed=1)
    text_b = make_corpus(tmp_path / "b.txt", 3000, seed=2)
    cfg = LMDataConfig(block_size=64, train_files=[str(tmp_path / "*.txt")], val_fraction=0.1, segment_chars=2048,
                       cache_dir=str(tmp_path / "cache"))
    data = build_lm_data(cfg, byte_tokenizer())
    n_total = len(text_a.encode()) + len(text_b.encode()) + 2  # two <|endoftext|> separators
    n_blocks = len(data.train) + len(data.eval)
    assert n_blocks == n_total // 64
    stream = np.concatenate([np.asarray(data.train["input_ids"]).ravel(), np.asarray(data.eval["input_ids"]).ravel()])
    expect = list(text_a.encode()) + [256] + list(text_b.encode()) + [256]
    # one map batch (few segments), so the blocks are exactly the stream prefix
    assert stream.tolist() == expect[: n_blocks * 64]
    assert len(data.eval) == round(n_blocks * 0.1)
    # bytes per target token: targets are positions 1..63 of each eval block; EOS counts 0 bytes
    targets = np.asarray(data.eval["input_ids"])[:, 1:]
    assert data.eval_tokens == targets.size
    assert data.eval_bytes == int((targets != 256).sum())
    assert bits_per_byte(np.log(2.0), data.eval_tokens_per_byte) == pytest.approx(data.eval_tokens / data.eval_bytes)


def test_build_lm_data_is_cached(tmp_path: Path) -> None:
    make_corpus(tmp_path / "a.txt", 2000)
    cfg = LMDataConfig(block_size=32, train_files=[str(tmp_path / "a.txt")], cache_dir=str(tmp_path / "cache"))
    d1 = build_lm_data(cfg, byte_tokenizer())
    arrows = sorted(p.name for p in (tmp_path / "cache").rglob("*.arrow"))
    d2 = build_lm_data(cfg, byte_tokenizer())
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*.arrow")) == arrows  # nothing recomputed
    assert d1.train._fingerprint == d2.train._fingerprint
    cfg64 = LMDataConfig(block_size=64, train_files=[str(tmp_path / "a.txt")], cache_dir=str(tmp_path / "cache"))
    d3 = build_lm_data(cfg64, byte_tokenizer())  # different settings -> different cache entry
    assert d3.train._fingerprint != d1.train._fingerprint and len(d3.train[0]["input_ids"]) == 64


def test_separate_val_files(tmp_path: Path) -> None:
    make_corpus(tmp_path / "train.txt", 2000, seed=1)
    make_corpus(tmp_path / "val.txt", 800, seed=2)
    cfg = LMDataConfig(block_size=32, train_files=[str(tmp_path / "train.txt")], val_files=[str(tmp_path / "val.txt")],
                       cache_dir=str(tmp_path / "cache"), max_eval_blocks=5)
    data = build_lm_data(cfg, byte_tokenizer())
    assert len(data.eval) == 5 and len(data.train) > 5


def test_empty_corpus_error(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="empty"):
        build_lm_data(LMDataConfig(block_size=8, train_files=[str(tmp_path / "empty.txt")]), byte_tokenizer())


def test_binary_corpus_error(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="binary"):
        build_lm_data(LMDataConfig(block_size=8, train_files=[str(tmp_path / "x.bin")]), byte_tokenizer())
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 na\xefve ".encode("latin-1") * 10)
    with pytest.raises(ValueError, match="not UTF-8"):
        build_lm_data(LMDataConfig(block_size=8, train_files=[str(tmp_path / "latin1.txt")]), byte_tokenizer())


def test_too_short_corpus_error(tmp_path: Path) -> None:
    (tmp_path / "short.txt").write_text("hello world\n")
    with pytest.raises(ValueError, match="block"):
        build_lm_data(LMDataConfig(block_size=64, train_files=[str(tmp_path / "short.txt")],
                                   cache_dir=str(tmp_path / "c")), byte_tokenizer())


def test_missing_files_and_bad_config(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="matches no file"):
        resolve_text_files([str(tmp_path / "nothing*.txt")])
    with pytest.raises(ValueError, match="no text files"):
        resolve_text_files([str(tmp_path)])
    with pytest.raises(ValueError, match="exactly one data source"):
        LMDataConfig(block_size=8)
    with pytest.raises(ValueError, match="block_size"):
        LMDataConfig(block_size=1, train_files=["x"])


def test_hub_offline_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    cfg = LMDataConfig(block_size=8, dataset_name="seqconv-test/definitely-not-a-dataset",
                       cache_dir=str(tmp_path / "c"))
    with pytest.raises(RuntimeError, match="could not load dataset"):
        build_lm_data(cfg, byte_tokenizer())
