"""Sample text from a seqconv checkpoint with cached (incremental) generation.

The checkpoint is a ``save_pretrained`` folder (safetensors + config.json). Tokenizer: ``tokenizer.json`` in the
checkpoint folder if present (seqconv.training.tokenization.load_tokenizer), else ``--tokenizer PATH``, else the
byte-level tokenizer (ids 0..255 = UTF-8 bytes, 256 = <|endoftext|>).

Examples:
    python experiments/generate.py runs/tiny/final --prompt "ROMEO:" --max-new-tokens 200 --temperature 0.8
    python experiments/generate.py runs/tiny/final --prompt "To be" --greedy --no-cache   # recompute baseline
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

import torch

from seqconv.models import SeqConvForCausalLM


def load_tok(ckpt: Path, path: Optional[str]):
    from seqconv.training.tokenization import byte_tokenizer, load_tokenizer

    if path is not None:
        return load_tokenizer(path)
    if (ckpt / "tokenizer.json").exists():
        return load_tokenizer(ckpt / "tokenizer.json")
    return byte_tokenizer()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="save_pretrained folder")
    p.add_argument("--prompt", default="\n", help="prompt text")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--no-cache", action="store_true", help="recompute the whole sequence per token (slow baseline)")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json path (default: checkpoint's, else bytes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args(argv)
    ckpt = Path(a.checkpoint)
    if not (ckpt / "config.json").exists():
        sys.exit(f"error: {ckpt} is not a save_pretrained folder (no config.json)")
    torch.manual_seed(a.seed)
    model = SeqConvForCausalLM.from_pretrained(ckpt, dtype=getattr(torch, a.dtype)).to(a.device).eval()
    tok = load_tok(ckpt, a.tokenizer)
    ids = tok.encode(a.prompt).ids
    if not ids:
        sys.exit("error: the prompt encodes to no tokens; give a non-empty --prompt")
    limit = model.config.max_position_embeddings
    if len(ids) + a.max_new_tokens > limit:
        sys.exit(f"error: prompt ({len(ids)} tokens) + max_new_tokens ({a.max_new_tokens}) exceeds the model's "
                 f"max_position_embeddings={limit}")
    x = torch.tensor([ids] * a.num_samples, device=a.device)
    gen = dict(max_new_tokens=a.max_new_tokens, use_cache=not a.no_cache)
    if a.greedy:
        gen.update(do_sample=False)
    else:
        gen.update(do_sample=True, temperature=a.temperature, top_k=a.top_k, top_p=a.top_p)
    eos = model.config.eos_token_id
    if eos is not None:
        gen.update(eos_token_id=eos, pad_token_id=eos)
    t = time.perf_counter()
    with torch.no_grad():
        out = model.generate(x, **gen)
    dt = time.perf_counter() - t
    new = out.shape[1] - x.shape[1]
    for i, row in enumerate(out.tolist()):
        print(f"----- sample {i} -----")
        print(tok.decode(row, skip_special_tokens=False))
    print(f"----- {new} new tokens x {a.num_samples} in {dt:.2f}s ({new * a.num_samples / dt:.1f} tok/s, "
          f"cache={'off' if a.no_cache else 'on'}) -----", file=sys.stderr)


if __name__ == "__main__":
    main()
