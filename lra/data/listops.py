"""LRA ListOps: generator (official spec), independent evaluator, tokenizer and TSV I/O.

Generator (Nangia & Bowman 2018 as used by LRA, see REFERENCE §3): operators ``[MIN``, ``[MAX``, ``[MED``
(integer median: ``int(median)``, i.e. the floor of the mean of the two middle values for even counts),
``[SM`` (sum mod 10); values 0-9. While ``depth < max_depth`` a node is internal with probability 0.25, else
it is a leaf; an internal node takes ``randint(2, max_args)`` arguments. The length of a tree counts its
values, operators and close tokens (``]``); trees with ``min_length < length < max_length`` are kept, duplicates
dropped, then split in generation order into train / val / test.

On disk the official layout is ``listops-1000/basic_{train,val,test}.tsv`` with header ``Source\\tTarget`` and
the source written with parentheses exactly as the official generator prints it, e.g. ``( ( ( [MAX 2 ) 9 ) ] )``.

Token ids (:data:`LISTOPS_VOCAB`, ``vocab_size = 16``)::

    0 = <pad>   1..10 = digits 0..9   11 = [MIN   12 = [MAX   13 = [MED   14 = [SM   15 = ]

Parentheses are dropped by :func:`tokenize_listops`; the number of tokens equals the tree length.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Union

import numpy as np

__all__ = [
    "OPERATORS",
    "LISTOPS_VOCAB",
    "LISTOPS_PAD_ID",
    "LISTOPS_SPLITS",
    "generate_listops",
    "evaluate_listops",
    "tokenize_listops",
    "write_listops_tsv",
    "read_listops_tsv",
    "listops_files",
]

MIN, MAX, MED, SUM_MOD, END = "[MIN", "[MAX", "[MED", "[SM", "]"
OPERATORS = (MIN, MAX, MED, SUM_MOD)
VALUE_P = 0.25  # probability that a node (at depth < max_depth) is internal
LISTOPS_PAD_ID = 0
LISTOPS_VOCAB: dict[str, int] = {"<pad>": LISTOPS_PAD_ID}
LISTOPS_VOCAB.update({str(d): d + 1 for d in range(10)})
LISTOPS_VOCAB.update({MIN: 11, MAX: 12, MED: 13, SUM_MOD: 14, END: 15})
LISTOPS_SPLITS = ("train", "val", "test")

Tree = Union[int, tuple]
PathLike = Union[str, Path]


class _TooLong(Exception):
    pass


def _generate_tree(rng: random.Random, depth: int, max_depth: int, max_args: int, budget: int) -> tuple[Tree, int]:
    """Random tree in the official nested-pair form; aborts with _TooLong once its length reaches ``budget``."""
    r = rng.random() if depth < max_depth else 1.0
    if r > VALUE_P:
        return rng.randrange(10), 1
    length = 2
    num_values = rng.randint(2, max_args)
    values = []
    for _ in range(num_values):
        sub_t, sub_l = _generate_tree(rng, depth + 1, max_depth, max_args, budget - length)
        values.append(sub_t)
        length += sub_l
        if length >= budget:
            raise _TooLong
    op = OPERATORS[rng.randrange(len(OPERATORS))]
    t: Tree = (op, values[0])
    for value in values[1:]:
        t = (t, value)
    return (t, END), length


def _to_string(t: Tree) -> str:
    if isinstance(t, str):
        return t
    if isinstance(t, int):
        return str(t)
    return "( " + _to_string(t[0]) + " " + _to_string(t[1]) + " )"


def _to_value(t: Tree) -> int:
    """Value of a tree in the nested-pair form (the generator's own evaluation)."""
    if isinstance(t, int):
        return t
    if isinstance(t, str):
        raise AssertionError("operator without arguments")
    # flatten ((((op, a), b), c), END)
    node = t[0]
    args: list[int] = []
    while isinstance(node, tuple) and not isinstance(node[0], str):
        args.append(_to_value(node[1]))
        node = node[0]
    op = node[0]
    args.append(_to_value(node[1]))
    args.reverse()
    if op == MIN:
        return min(args)
    if op == MAX:
        return max(args)
    if op == MED:
        return int(np.median(args))
    return sum(args) % 10


def generate_listops(
    n: int,
    *,
    min_length: int = 500,
    max_length: int = 2000,
    max_depth: int = 10,
    max_args: int = 10,
    seed: int = 0,
    exclude: Iterable[str] = (),
) -> list[tuple[str, int]]:
    """Generate ``n`` unique ListOps examples with ``min_length < length < max_length`` (bounds exclusive).

    Args:
        n: number of examples.
        min_length, max_length: exclusive bounds on the token count (values + operators + ``]``).
        max_depth: depth at which every node becomes a leaf (official: 10).
        max_args: maximum number of arguments of an operator (official: 10).
        seed: seed of the ``random.Random`` stream; the output is a deterministic function of all arguments.
        exclude: sources that must not be produced (used to keep splits disjoint).

    Returns:
        list of ``(source, label)`` with the source in the official parenthesised form.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if min_length < 0 or max_length <= min_length + 1:
        raise ValueError(
            f"need 0 <= min_length and max_length > min_length + 1 (bounds are exclusive), got "
            f"min_length={min_length}, max_length={max_length}"
        )
    if max_args < 2:
        raise ValueError(f"max_args must be >= 2, got {max_args}")
    if max_depth < 2:
        raise ValueError(f"max_depth must be >= 2 to produce any operator, got {max_depth}")
    rng = random.Random(seed)
    seen = set(exclude)
    out: list[tuple[str, int]] = []
    attempts = 0
    max_attempts = 2000 * max(n, 1) + 100000
    while len(out) < n:
        attempts += 1
        if attempts > max_attempts:
            raise RuntimeError(
                f"generate_listops: only {len(out)} of {n} unique trees with {min_length} < length < {max_length} "
                f"after {attempts} attempts; widen the length bounds or raise max_depth/max_args"
            )
        try:
            tree, length = _generate_tree(rng, 1, max_depth, max_args, max_length)
        except _TooLong:
            continue
        if not (min_length < length < max_length):
            continue
        src = _to_string(tree)
        if src in seen:
            continue
        seen.add(src)
        out.append((src, _to_value(tree)))
    return out


def evaluate_listops(source: str) -> int:
    """Evaluate a ListOps expression with an explicit stack (independent of the generator's tree code).

    Accepts the parenthesised official form or the bare token form (``[MAX 2 9 ]``).

    Raises:
        ValueError: on unknown tokens or unbalanced brackets (the message quotes the offending token).
    """
    stack: list[list] = []  # each frame: [op, args...]
    result = None
    for tok in source.replace("(", " ").replace(")", " ").split():
        if tok in OPERATORS:
            stack.append([tok])
        elif tok == END:
            if not stack:
                raise ValueError(f"unbalanced ']' in ListOps expression: {source[:80]!r}")
            op, *args = stack.pop()
            if not args:
                raise ValueError(f"operator {op} without arguments in {source[:80]!r}")
            if op == MIN:
                val = min(args)
            elif op == MAX:
                val = max(args)
            elif op == MED:
                s = sorted(args)
                k = len(s)
                val = s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) // 2
            else:
                val = sum(args) % 10
            if stack:
                stack[-1].append(val)
            elif result is None:
                result = val
            else:
                raise ValueError(f"more than one top-level expression in {source[:80]!r}")
        elif tok.isdigit() and len(tok) == 1:
            if stack:
                stack[-1].append(int(tok))
            elif result is None:
                result = int(tok)
            else:
                raise ValueError(f"more than one top-level expression in {source[:80]!r}")
        else:
            raise ValueError(f"unknown ListOps token {tok!r} in {source[:80]!r}")
    if stack or result is None:
        raise ValueError(f"unterminated or empty ListOps expression: {source[:80]!r}")
    return result


def tokenize_listops(source: str) -> np.ndarray:
    """Token ids (int16 array, see :data:`LISTOPS_VOCAB`) of a ListOps source; parentheses dropped.

    Raises:
        KeyError: with the unknown token (callers add file/line context).
    """
    toks = source.replace("(", " ").replace(")", " ").split()
    try:
        return np.fromiter((LISTOPS_VOCAB[t] for t in toks), dtype=np.int16, count=len(toks))
    except KeyError as e:
        raise KeyError(f"unknown ListOps token {e.args[0]!r}; expected one of {sorted(LISTOPS_VOCAB)[1:]}") from None


def listops_files(root: PathLike) -> dict[str, Path]:
    """Official paths ``<root>/listops-1000/basic_{train,val,test}.tsv`` keyed by split."""
    return {s: Path(root) / "listops-1000" / f"basic_{s}.tsv" for s in LISTOPS_SPLITS}


def write_listops_tsv(
    root: PathLike,
    *,
    num_train: int = 96000,
    num_val: int = 2000,
    num_test: int = 2000,
    seed: int = 0,
    **gen_kwargs,
) -> dict[str, Path]:
    """Generate the three splits and write the official layout under ``root``; returns the file paths.

    ``gen_kwargs`` go to :func:`generate_listops` (min_length, max_length, max_depth, max_args).
    Splits are disjoint: examples are generated once, unique, and split in generation order.
    """
    counts = {"train": num_train, "val": num_val, "test": num_test}
    data = generate_listops(num_train + num_val + num_test, seed=seed, **gen_kwargs)
    files = listops_files(root)
    files["train"].parent.mkdir(parents=True, exist_ok=True)
    start = 0
    for split in LISTOPS_SPLITS:
        rows = data[start : start + counts[split]]
        start += counts[split]
        tmp = files[split].with_suffix(f".tsv.tmp{os.getpid()}")
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write("Source\tTarget\n")
            for src, label in rows:
                f.write(f"{src}\t{label}\n")
        tmp.replace(files[split])
    return files


def read_listops_tsv(path: PathLike, *, max_length: int | None = None) -> tuple[list[np.ndarray], list[int]]:
    """Read one official ListOps TSV: returns (token id arrays, labels).

    Args:
        path: a ``basic_<split>.tsv`` file with header ``Source\\tTarget``.
        max_length: truncate token sequences to this many tokens (None: keep all).

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: naming the file and line for a wrong header, a wrong column count, an unknown token, or a
            label that is not an integer in 0..9.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ListOps file {path} not found (expected the official listops-1000 layout)")
    ids: list[np.ndarray] = []
    labels: list[int] = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in reader:
            line = reader.line_num
            if line == 1:
                if [c.strip() for c in row] != ["Source", "Target"]:
                    raise ValueError(f"{path}:1: expected header 'Source\\tTarget', got {row!r}")
                continue
            if not row:
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{line}: expected 2 tab-separated columns (Source, Target), got {len(row)}")
            src, target = row
            try:
                label = int(target)
            except ValueError:
                raise ValueError(f"{path}:{line}: Target {target!r} is not an integer") from None
            if not 0 <= label <= 9:
                raise ValueError(f"{path}:{line}: Target {label} out of range 0..9")
            try:
                tok = tokenize_listops(src)
            except KeyError as e:
                raise ValueError(f"{path}:{line}: {e.args[0]}") from None
            if tok.size == 0:
                raise ValueError(f"{path}:{line}: empty Source")
            ids.append(tok[:max_length] if max_length else tok)
            labels.append(label)
    if not labels:
        raise ValueError(f"{path}: no examples (only a header or empty file)")
    return ids, labels

