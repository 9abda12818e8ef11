"""Synthetic sequence tasks: associative recall and selective copying.

Both generators are deterministic in ``seed`` (a private ``torch.Generator``; global RNG untouched) and
return tensors, or a ``datasets.Dataset`` with the column names the LRA loaders use:
``input_ids`` (list of ints) and ``label`` (int, classification) or ``labels`` (list of ints with
-100 = ignore, sequence to sequence).

Associative recall (as in the Hyena / H3 papers): the vocabulary is split into keys
``[0, n_keys)`` and values ``[n_keys, vocab_size)`` with ``n_keys = vocab_size // 2``. Each sequence
draws its own random key -> value map, then a sequence of (key, value) pairs with keys drawn
uniformly (a key repeats with the same value), and ends with a query key that occurred in the
sequence. The target is that key's value: a ``vocab_size``-way label, read from the last position
(chance is 1 / n_values). For even ``seq_len`` one random value token is prepended so the pairs stay
aligned. Inputs (n, seq_len) int64, targets (n,) int64.

Selective copying (as in the Mamba paper): token 0 is noise/blank, token 1 the copy marker, data
tokens are ``[2, vocab_size)``. ``n_tokens`` data tokens sit at random positions (in order) of a
blank region of length ``seq_len - n_tokens``, followed by ``n_tokens`` markers; at marker i the
target is the i-th data token, everywhere else -100. Inputs and labels (n, seq_len) int64.

Multi-query associative recall (MQAR, as in Zoology, Arora et al. 2023): token 0 is blank, keys are
``[1, 1 + n_keys)`` and values ``[1 + n_keys, 1 + n_keys + n_values)``. A sequence starts with
``n_pairs`` (key, value) pairs with distinct keys (the context), followed by blanks in which
``n_queries`` query keys (drawn from the context's keys) sit at random positions. At each query
position the label is that key's value, everywhere else -100; the model must look back past up to
``seq_len - 2`` positions to the key's occurrence in the context. Inputs and labels (n, seq_len) int64.
"""

from __future__ import annotations

import torch
from torch import Tensor

IGNORE_INDEX = -100
BLANK_TOKEN = 0
MARKER_TOKEN = 1


def _check_pos_int(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def associative_recall(n_samples: int, seq_len: int, vocab_size: int = 16, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Associative-recall examples.

    Returns ``inputs`` (n_samples, seq_len) int64 in [0, vocab_size) and ``targets`` (n_samples,) int64 in
    [vocab_size // 2, vocab_size) (the value of the query key, the last input token).
    """
    _check_pos_int("n_samples", n_samples, 1)
    _check_pos_int("seq_len", seq_len, 3)
    _check_pos_int("vocab_size", vocab_size, 4)
    g = torch.Generator().manual_seed(seed)
    n_keys = vocab_size // 2
    n_pairs = (seq_len - 1) // 2
    mapping = torch.randint(n_keys, vocab_size, (n_samples, n_keys), generator=g)
    keys = torch.randint(0, n_keys, (n_samples, n_pairs), generator=g)
    values = torch.gather(mapping, 1, keys)
    pairs = torch.stack([keys, values], dim=-1).reshape(n_samples, 2 * n_pairs)
    q_idx = torch.randint(0, n_pairs, (n_samples, 1), generator=g)
    query = torch.gather(keys, 1, q_idx)
    targets = torch.gather(mapping, 1, query).squeeze(1)
    parts = [pairs, query]
    if seq_len % 2 == 0:
        parts.insert(0, torch.randint(n_keys, vocab_size, (n_samples, 1), generator=g))
    inputs = torch.cat(parts, dim=1)
    return inputs, targets


def associative_recall_labels(inputs: Tensor) -> Tensor:
    """Per-position recall labels for :func:`associative_recall` inputs (language-model style supervision).

    At every key position whose key already occurred earlier in the sequence, the label is the value that
    follows it (the value is determined by the earlier occurrence); the last position (the query) gets the
    query's value. All other positions are -100. This is the dense form of the task: each sequence gives
    many recall targets instead of one. ``inputs`` (n, seq_len) -> labels (n, seq_len) int64.
    """
    n, length = inputs.shape
    labels = torch.full_like(inputs, IGNORE_INDEX)
    start = length % 2 == 0  # one prepended value token for even lengths
    keys = inputs[:, start : length - 1 : 2]
    values = inputs[:, start + 1 : length : 2]
    seen = torch.zeros(n, int(inputs.max()) + 1, dtype=torch.bool)
    rows = torch.arange(n)
    for j in range(keys.shape[1]):
        k = keys[:, j]
        labels[:, start + 2 * j] = torch.where(seen[rows, k], values[:, j], IGNORE_INDEX)
        seen[rows, k] = True
    query = inputs[:, -1]
    match = (keys == query[:, None]).float().argmax(dim=1)
    labels[:, -1] = values[rows, match]
    return labels


def selective_copying(
    n_samples: int, seq_len: int, n_tokens: int = 16, vocab_size: int = 10, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Selective-copying examples.

    Returns ``inputs`` (n_samples, seq_len) int64 and ``labels`` (n_samples, seq_len) int64 with -100
    except at the last ``n_tokens`` positions (the markers), which hold the data tokens in order.
    """
    _check_pos_int("n_samples", n_samples, 1)
    _check_pos_int("n_tokens", n_tokens, 1)
    _check_pos_int("vocab_size", vocab_size, 3)
    _check_pos_int("seq_len", seq_len, 2 * n_tokens)
    g = torch.Generator().manual_seed(seed)
    data_len = seq_len - n_tokens
    pos = torch.rand(n_samples, data_len, generator=g).argsort(dim=1)[:, :n_tokens].sort(dim=1).values
    data = torch.randint(2, vocab_size, (n_samples, n_tokens), generator=g)
    region = torch.full((n_samples, data_len), BLANK_TOKEN, dtype=torch.long)
    region.scatter_(1, pos, data)
    inputs = torch.cat([region, torch.full((n_samples, n_tokens), MARKER_TOKEN, dtype=torch.long)], dim=1)
    labels = torch.full((n_samples, seq_len), IGNORE_INDEX, dtype=torch.long)
    labels[:, data_len:] = data
    return inputs, labels


def copying_memory(
    n_samples: int, seq_len: int, n_tokens: int = 16, vocab_size: int = 10, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Copying-memory examples (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

    The first ``n_tokens`` positions hold data tokens from ``[2, vocab_size)``, then blanks (token 0), then
    ``n_tokens`` markers (token 1); at the i-th marker the target is the i-th data token, i.e. every target
    sits ``seq_len - n_tokens`` positions after its source. Returns ``inputs`` and ``labels`` (n_samples,
    seq_len) int64 (-100 except at the markers).
    """
    _check_pos_int("n_samples", n_samples, 1)
    _check_pos_int("n_tokens", n_tokens, 1)
    _check_pos_int("vocab_size", vocab_size, 3)
    _check_pos_int("seq_len", seq_len, 2 * n_tokens)
    g = torch.Generator().manual_seed(seed)
    data = torch.randint(2, vocab_size, (n_samples, n_tokens), generator=g)
    inputs = torch.full((n_samples, seq_len), BLANK_TOKEN, dtype=torch.long)
    inputs[:, :n_tokens] = data
    inputs[:, seq_len - n_tokens :] = MARKER_TOKEN
    labels = torch.full((n_samples, seq_len), IGNORE_INDEX, dtype=torch.long)
    labels[:, seq_len - n_tokens :] = data
    return inputs, labels


def mqar_vocab_size(n_keys: int, n_values: int) -> int:
    """Vocabulary size of :func:`multi_query_recall`: blank + keys + values."""
    return 1 + n_keys + n_values


def multi_query_recall(
    n_samples: int,
    seq_len: int,
    n_pairs: int = 8,
    n_queries: int = 32,
    n_keys: int = 8,
    n_values: int = 8,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Multi-query associative-recall (MQAR) examples.

    Returns ``inputs`` (n_samples, seq_len) int64 in [0, mqar_vocab_size(n_keys, n_values)) and ``labels``
    (n_samples, seq_len) int64: the queried key's value at the ``n_queries`` query positions, -100 elsewhere.
    """
    _check_pos_int("n_samples", n_samples, 1)
    _check_pos_int("n_keys", n_keys, 1)
    _check_pos_int("n_values", n_values, 1)
    _check_pos_int("n_queries", n_queries, 1)
    _check_pos_int("n_pairs", n_pairs, 1)
    if n_pairs > n_keys:
        raise ValueError(f"n_pairs={n_pairs} needs as many distinct keys, got n_keys={n_keys}; raise n_keys")
    _check_pos_int("seq_len", seq_len, 2 * n_pairs + n_queries)
    g = torch.Generator().manual_seed(seed)
    keys = torch.rand(n_samples, n_keys, generator=g).argsort(dim=1)[:, :n_pairs] + 1
    values = torch.randint(1 + n_keys, 1 + n_keys + n_values, (n_samples, n_pairs), generator=g)
    context = torch.stack([keys, values], dim=-1).reshape(n_samples, 2 * n_pairs)
    rest = seq_len - 2 * n_pairs
    pos = torch.rand(n_samples, rest, generator=g).argsort(dim=1)[:, :n_queries]
    which = torch.randint(0, n_pairs, (n_samples, n_queries), generator=g)
    tail = torch.full((n_samples, rest), BLANK_TOKEN, dtype=torch.long)
    tail.scatter_(1, pos, torch.gather(keys, 1, which))
    tail_labels = torch.full((n_samples, rest), IGNORE_INDEX, dtype=torch.long)
    tail_labels.scatter_(1, pos, torch.gather(values, 1, which))
    inputs = torch.cat([context, tail], dim=1)
    labels = torch.cat([torch.full((n_samples, 2 * n_pairs), IGNORE_INDEX, dtype=torch.long), tail_labels], dim=1)
    return inputs, labels


def associative_recall_dataset(n_samples: int, seq_len: int, vocab_size: int = 16, seed: int = 0):
    """:func:`associative_recall` as a ``datasets.Dataset`` with columns ``input_ids`` and ``label``."""
    from datasets import Dataset

    inputs, targets = associative_recall(n_samples, seq_len, vocab_size, seed)
    return Dataset.from_dict({"input_ids": inputs.tolist(), "label": targets.tolist()})


def selective_copying_dataset(n_samples: int, seq_len: int, n_tokens: int = 16, vocab_size: int = 10, seed: int = 0):
    """:func:`selective_copying` as a ``datasets.Dataset`` with columns ``input_ids`` and ``labels`` (-100 = ignore)."""
    from datasets import Dataset

    inputs, labels = selective_copying(n_samples, seq_len, n_tokens, vocab_size, seed)
    return Dataset.from_dict({"input_ids": inputs.tolist(), "labels": labels.tolist()})
