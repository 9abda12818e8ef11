"""Tokenizers for language-model pretraining, built with the `tokenizers` library (no download needed).

Two kinds:

* byte level (default): ids 0..255 are the raw UTF-8 bytes (id == byte value), followed by the special tokens
  (``<|endoftext|>`` = 256 by default). Every non-special token is exactly one byte.
* ByteLevel BPE trained on the corpus (``train_bpe_tokenizer``), GPT-2 style: the 256 byte symbols are the initial
  alphabet, so every string round-trips and the byte length of each token is known exactly.

Both are plain ``tokenizers.Tokenizer`` objects, saved as ``tokenizer.json``; ``token_byte_lengths`` gives the number
of UTF-8 bytes each id stands for (0 for special tokens), used for bits-per-byte.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOS_TOKEN = "<|endoftext|>"
DEFAULT_SPECIAL_TOKENS: tuple[str, ...] = (EOS_TOKEN,)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable unicode characters.

    This is the same table that ``tokenizers.pre_tokenizers.ByteLevel`` uses, so a token string of a ByteLevel
    tokenizer has exactly one character per byte.
    """
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _check_special_tokens(special_tokens: Iterable[str]) -> list[str]:
    special = list(special_tokens)
    if not special or special[0] != EOS_TOKEN:
        raise ValueError(f"special_tokens must start with {EOS_TOKEN!r} (the document separator); got {special!r}")
    if len(set(special)) != len(special):
        raise ValueError(f"special_tokens must be distinct; got {special!r}")
    return special


def byte_tokenizer(special_tokens: Iterable[str] = DEFAULT_SPECIAL_TOKENS) -> Tokenizer:
    """A byte-level tokenizer: id b (0..255) is byte b; special tokens follow from id 256.

    Implemented as a ByteLevel BPE with no merges, so encode/decode are lossless for any UTF-8 text.
    """
    special = _check_special_tokens(special_tokens)
    table = bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(special)
    return tok


def train_bpe_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    special_tokens: Iterable[str] = DEFAULT_SPECIAL_TOKENS,
    min_frequency: int = 2,
) -> Tokenizer:
    """Train a GPT-2 style ByteLevel BPE tokenizer on an iterator of texts.

    Args:
        texts: the training corpus, as an iterable of strings (documents or chunks of them).
        vocab_size: final vocabulary size including the 256 byte symbols and the special tokens.
        special_tokens: added first (``<|endoftext|>`` gets id 0).
        min_frequency: minimum pair count for a merge.
    """
    special = _check_special_tokens(special_tokens)
    if not isinstance(vocab_size, int) or vocab_size < 256 + len(special):
        raise ValueError(
            f"vocab_size must be an int >= 256 + number of special tokens ({256 + len(special)}) for a ByteLevel BPE; "
            f"got {vocab_size!r}"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load a ``tokenizer.json``; raises FileNotFoundError naming the path when it is missing."""
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise FileNotFoundError(
            f"tokenizer file not found: {str(p)!r}. Pass --tokenizer PATH/tokenizer.json, use the byte-level default "
            "(--tokenizer byte), or train one with --train-tokenizer bpe --vocab-size N."
        )
    try:
        tok = Tokenizer.from_file(str(p))
    except Exception as e:  # tokenizers raises a bare Exception on malformed JSON
        raise ValueError(f"tokenizer file {str(p)!r} could not be parsed ({e}); regenerate it") from e
    if tok.token_to_id(EOS_TOKEN) is None:
        raise ValueError(f"tokenizer {str(p)!r} has no {EOS_TOKEN!r} token; it is needed as the document separator")
    return tok


def token_byte_lengths(tok: Tokenizer) -> np.ndarray:
    """Number of UTF-8 bytes each token id stands for, shape (vocab_size,), int64; special tokens count 0.

    Valid for ByteLevel tokenizers (both kinds above): each character of a non-special token string is one byte.
    """
    table = set(bytes_to_unicode().values())
    special = {t.content for t in tok.get_added_tokens_decoder().values() if t.special}
    vocab = tok.get_vocab(with_added_tokens=True)
    out = np.zeros(tok.get_vocab_size(with_added_tokens=True), dtype=np.int64)
    for s, i in vocab.items():
        if s in special:
            continue
        if not all(c in table for c in s):
            raise ValueError(f"token {s!r} (id {i}) is not a ByteLevel token; token_byte_lengths needs a ByteLevel tokenizer")
        out[i] = len(s)
    return out


def is_byte_tokenizer(tok: Tokenizer) -> bool:
    """True if ``tok`` maps every UTF-8 byte b to id b with no merges (the ``byte_tokenizer`` layout)."""
    spec = json.loads(tok.to_str())
    model = spec.get("model", {})
    if model.get("type") != "BPE" or model.get("merges"):
        return False
    table = bytes_to_unicode()
    vocab = model.get("vocab", {})
    return len(vocab) == 256 and all(vocab.get(table[b]) == b for b in range(256))


def encode_corpus(tok: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    """Encode raw corpus texts into int32 id arrays, treating special-token strings in the text as plain text.

    The byte tokenizer takes a fast path (the UTF-8 bytes themselves), equal to ``tok.encode`` with
    ``encode_special_tokens=True``; other tokenizers go through ``Tokenizer.encode_batch``.
    """
    if is_byte_tokenizer(tok):
        return [np.frombuffer(t.encode("utf-8"), dtype=np.uint8).astype(np.int32) for t in texts]
    previous = tok.encode_special_tokens
    tok.encode_special_tokens = True
    try:
        encs = tok.encode_batch(texts, add_special_tokens=False)
    finally:
        tok.encode_special_tokens = previous
    return [np.asarray(e.ids, dtype=np.int32) for e in encs]


def iter_text_chunks(texts: Iterable[str], chunk_chars: int = 1 << 20) -> Iterator[str]:
    """Yield texts cut into pieces of at most ``chunk_chars`` characters (for tokenizer training memory)."""
    for t in texts:
        for i in range(0, len(t), chunk_chars):
            yield t[i : i + chunk_chars]
