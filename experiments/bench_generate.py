"""Benchmark generation speed: seqconv LMs with / without the inference cache, beside a Transformer with its KV cache.

For each prompt length L, each model generates tokens greedily (``generate``) from a random prompt of L tokens:

* ``cache``: the SeqConvCache (one FFT prefill, then O(L) per token and channel),
* ``recompute``: ``use_cache=False`` (a full forward over the whole sequence per new token),
* the Transformer baseline (``mixer="transformer"``, same width/depth) with its KV cache.

Columns: ``e2e`` = ``--new-tokens`` / wall time of the whole ``generate`` call (prefill included); ``decode`` =
tokens/s after the prompt, (N - 1) / (time(N tokens) - time(1 token)), i.e. prefill excluded. Recompute has no
prefill (each token is a full forward), so its rate is measured with ``--recompute-tokens`` tokens. Ratios:
cache decode / recompute, and conv decode / Transformer decode.

Example (CPU defaults, small model):
    python experiments/bench_generate.py --lengths 1024 4096 8192 --new-tokens 16
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from seqconv.models import SeqConvConfig, SeqConvForCausalLM


def build(mixer: str, d_model: int, n_layer: int, l_max: int, vocab: int, dtype: torch.dtype) -> SeqConvForCausalLM:
    kw = {}
    if mixer == "transformer":
        kw["mixer_kwargs"] = {"n_heads": max(1, d_model // 64)}
    cfg = SeqConvConfig(mixer=mixer, d_model=d_model, n_layer=n_layer, vocab_size=vocab, max_position_embeddings=l_max,
                        eos_token_id=None, **kw)
    return SeqConvForCausalLM(cfg).to(dtype).eval()


@torch.no_grad()
def gen_time(model: SeqConvForCausalLM, prompt: torch.Tensor, new: int, use_cache: bool, repeats: int) -> float:
    """Best wall time (s) of generating ``new`` tokens greedily."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = model.generate(prompt, max_new_tokens=new, min_new_tokens=new, do_sample=False, use_cache=use_cache)
        best = min(best, time.perf_counter() - t)
        assert out.shape[1] == prompt.shape[1] + new
    return best


def cached_rates(model, prompt, new: int, repeats: int) -> tuple[float, float]:
    """(end-to-end tok/s incl. prefill, decode-only tok/s) with the cache."""
    t_n = gen_time(model, prompt, new, True, repeats)
    t_1 = gen_time(model, prompt, 1, True, repeats)
    return new / t_n, (new - 1) / max(t_n - t_1, 1e-9)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mixers", nargs="+", default=["hyena", "sgconv"], help="conv mixers to benchmark")
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384], help="prompt lengths")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--recompute-tokens", type=int, default=4, help="tokens generated without the cache")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--vocab", type=int, default=257)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1, help="best of N timings")
    p.add_argument("--no-recompute", action="store_true", help="skip the slow use_cache=False runs")
    p.add_argument("--no-transformer", action="store_true")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    torch.manual_seed(0)
    l_max = max(a.lengths) + a.new_tokens
    print(f"device={a.device} dtype={a.dtype} d_model={a.d_model} n_layer={a.n_layer} batch={a.batch} "
          f"new_tokens={a.new_tokens} threads={torch.get_num_threads()}\n")
    rows = []
    tf = None if a.no_transformer else build("transformer", a.d_model, a.n_layer, l_max, a.vocab, dtype).to(a.device)
    for mixer in a.mixers:
        model = build(mixer, a.d_model, a.n_layer, l_max, a.vocab, dtype).to(a.device)
        for L in a.lengths:
            prompt = torch.randint(0, a.vocab, (a.batch, L), device=a.device)
            ce, cd = cached_rates(model, prompt, a.new_tokens, a.repeats)
            r = None
            if not a.no_recompute:
                r = a.recompute_tokens / gen_time(model, prompt, a.recompute_tokens, False, a.repeats)
            t = None if tf is None else cached_rates(tf, prompt, a.new_tokens, a.repeats)
            rows.append((mixer, L, ce, cd, r, t))
            print(f"  {mixer} L={L}: cache e2e {ce:.1f} / decode {cd:.1f} tok/s, recompute {r or float('nan'):.2f} "
                  f"tok/s, transformer+KV decode {t[1] if t else float('nan'):.1f} tok/s", file=sys.stderr, flush=True)
    print("| mixer | prompt L | cache e2e tok/s | cache decode tok/s | recompute tok/s | decode / recompute "
          "| e2e / recompute | Transformer+KV e2e / decode tok/s | conv / Transformer decode |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mixer, L, ce, cd, r, t in rows:
        rs = f"{r:.2f}" if r else "-"
        ratio = f"{cd / r:.1f}x" if r else "-"
        ratio_e = f"{ce / r:.1f}x" if r else "-"
        ts = f"{t[0]:.1f} / {t[1]:.1f}" if t else "-"
        tr = f"{cd / t[1]:.2f}x" if t else "-"
        print(f"| {mixer} | {L} | {ce:.1f} | {cd:.1f} | {rs} | {ratio} | {ratio_e} | {ts} | {tr} |")


if __name__ == "__main__":
    main()
