"""The one benchmark command: runs every benchmark of issue 8, writes tables, JSON, PNG plots and RESULTS.md.

    python -m experiments.bench --all            # full sizes (< 15 min on 2 idle CPU cores), into benchmarks/
    python -m experiments.bench --quick          # small sizes (< 2 min), into benchmarks/quick/
    python -m experiments.bench --all --only mixers lm_throughput   # a subset; RESULTS.md keeps the others' JSON
    python -m experiments.bench --all --report-only  # rebuild plots and RESULTS.md from the JSON files

Benchmarks: ``mixers`` (:mod:`experiments.bench_mixers`), ``lm_throughput``
(:mod:`experiments.bench_lm_throughput`), ``op_efficiency`` (:mod:`experiments.bench_op_efficiency`),
``profile`` (:mod:`experiments.profile_step`). Each runs in this process through its own ``main(argv)``; the
exact standalone command is printed above its table in RESULTS.md. ``--threads`` and ``--clock`` are passed to
all of them (``--clock cpu`` measures process CPU time, steadier on a machine shared with other jobs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from experiments import bench_lm_throughput, bench_mixers, bench_op_efficiency, plot_bench, profile_step
from experiments.benchutil import CLOCKS, machine_description, markdown_table

# argv of each benchmark per size profile
PROFILES: dict[str, dict[str, list[str]]] = {
    "full": {
        "mixers": ["--lengths", "1024", "2048", "4096", "8192", "16384", "32768", "65536", "--d-model", "128",
                   "--budget-s", "0.8", "--max-call-s", "5"],
        "lm_throughput": ["--contexts", "1024", "4096", "16384", "--tokens", "16384", "--d-model", "128",
                          "--n-layer", "2", "--budget-s", "2"],
        "op_efficiency": ["--lengths", "1024", "4096", "16384", "65536", "262144", "--elements", "4194304",
                          "--budget-s", "0.8"],
        "profile": ["--length", "4096", "--share-length", "16384", "--budget-s", "0.8"],
    },
    "quick": {
        "mixers": ["--lengths", "1024", "4096", "--d-model", "64", "--budget-s", "0.2", "--max-call-s", "2",
                   "--no-memory"],
        "lm_throughput": ["--contexts", "512", "2048", "--tokens", "2048", "--d-model", "64", "--n-layer", "1",
                          "--budget-s", "0.3"],
        "op_efficiency": ["--lengths", "1024", "16384", "--elements", "262144", "--copy-mib", "32",
                          "--budget-s", "0.2"],
        "profile": ["--length", "1024", "--share-length", "4096", "--d-model", "64", "--n-layer", "1",
                    "--budget-s", "0.2"],
    },
    "smoke": {  # for tests/experiments/test_bench_smoke.py
        "mixers": ["--lengths", "64", "--d-model", "16", "--n-heads", "2", "--budget-s", "0.01",
                   "--mixers", "sgconv", "hyena", "tcn", "transformer", "--no-memory"],
        "lm_throughput": ["--contexts", "64", "--tokens", "128", "--d-model", "32", "--n-layer", "1",
                          "--budget-s", "0.01"],
        "op_efficiency": ["--lengths", "256", "--elements", "4096", "--copy-mib", "1", "--budget-s", "0.01"],
        "profile": ["--length", "64", "--share-length", "128", "--d-model", "16", "--n-layer", "1", "--top", "5",
                    "--budget-s", "0.01", "--share-mixers", "sgconv", "hyena"],
    },
}

MODULES: dict[str, Callable[[Optional[list[str]]], None]] = {
    "mixers": bench_mixers.main,
    "lm_throughput": bench_lm_throughput.main,
    "op_efficiency": bench_op_efficiency.main,
    "profile": profile_step.main,
}
MODULE_NAMES = {
    "mixers": "experiments.bench_mixers",
    "lm_throughput": "experiments.bench_lm_throughput",
    "op_efficiency": "experiments.bench_op_efficiency",
    "profile": "experiments.profile_step",
}

# Benchmarks of the other issues, run as `python -m <module> <args>`; their stdout (a markdown table) becomes a
# section of RESULTS.md, saved as <out>/<name>.md so --report-only and --only keep it.
EXTRA: dict[str, tuple[str, str, dict[str, list[str]]]] = {
    "conv_op": ("Long-conv op vs the plain FFT conv and the FFT floor (issue 2)", "experiments.bench_conv", {
        "full": ["--lengths", "1024", "4096", "16384", "65536", "262144", "1048576", "--min-run-time", "0.5"],
        "quick": ["--lengths", "1024", "16384", "--elements", "262144", "--min-run-time", "0.1"],
    }),
    "butterfly": ("Monarch (FlashButterfly) PyTorch backend vs torch.fft conv, CPU (issue 4)", "experiments.bench_butterfly", {
        "full": ["--lengths", "1024,4096,16384,65536"],
        "quick": ["--lengths", "1024,4096"],
    }),
    "generate": ("Cached generation vs recompute, and a Transformer with its KV cache (issue 5)", "experiments.bench_generate", {
        "full": ["--lengths", "1024", "4096", "8192", "--new-tokens", "64", "--recompute-tokens", "2"],
        "quick": ["--lengths", "256", "1024", "--new-tokens", "16", "--recompute-tokens", "2", "--d-model", "64",
                  "--n-layer", "2"],
    }),
}
HAND_RUN = [("lm_shakespeare.md", "lm_shakespeare_loss.png")]  # long runs made by their own commands (issue 7)


def run_extra(name: str, profile: str, out: Path, machine: str, threads: Optional[int], clock: str = "wall") -> None:
    title, module, argvs = EXTRA[name]
    argv = list(argvs[profile])
    if threads and module != "experiments.bench_butterfly":
        argv += ["--threads", str(threads)]
    if clock != "wall" and module == "experiments.bench_conv":
        argv += ["--clock", clock]
    command = f"python -m {module} {' '.join(argv)}"
    print(f"\n## {name}: {command}", flush=True)
    t0 = time.perf_counter()
    table = subprocess.run([sys.executable, "-m", module, *argv], check=True, stdout=subprocess.PIPE, text=True).stdout
    text = f"## {title}\n\nCommand: `{command}` ({time.perf_counter() - t0:.0f} s)\n\nMachine: {machine}\n\n{table.strip()}\n"
    (out / f"{name}.md").write_text(text)
    print(table, flush=True)


FIXES = """\
Fixes made from the profiles (each kept the function identical up to float rounding, with a test against the
unchanged reference path):

* `seqconv/modules/tcn.py`: dilated depthwise convolutions are computed as `kernel_size` shifted multiply-adds
  instead of `nn.Conv1d(dilation=d, groups=d_model)` on CPU: PyTorch's CPU backward of a dilated grouped conv1d
  takes a slow path (5.4 s vs 0.55 s at d_model 128, L 16K, dilation 27). Test:
  `tests/modules/test_tcn_dilated_fastpath.py` (float64, forward and all gradients vs `F.conv1d`).
* `seqconv/kernels/s4d.py`: the S4D Vandermonde kernel evaluates `exp(dtA * l)` as
  `exp(dtA * aS) * exp(dtA * b)` with `l = aS + b`, `S = ceil(sqrt(L))`: `H*N*(L/S + S)` complex exponentials
  instead of `H*N*L`. Kernel generation was 97% of the S4D layer's training forward at L = 16K (2.9 s of
  3.0 s, 1 thread); after the fix the kernel's forward+backward takes 0.13 s. Test:
  `tests/kernels/test_s4d_vandermonde_factored.py` (float64 vs the direct formula, float32 accuracy at 4096).

Checked and found already in place: SGConv / long-conv / Hyena kernels are generated once per layer forward
(never per channel or per call of the op) and cached in eval mode (`kernel share`, eval rows: < 0.2%); no dtype
casts occur in fp32.

Op-level fixes (`seqconv/ops/fftconv.py`, tested against the direct reference and by float64 gradcheck in
`tests/ops/test_long_conv.py`):

* `D` is folded into the kernel spectrum (a delta at lag 0 has a flat spectrum): no `addcmul` pass in the forward,
  no extra term in `grad_u`, and the gated backward rebuilds the pre-gate output with one irfft (was two).
* `grad_D` is the lag-0 value of the kernel-gradient correlation that `grad_k` computes anyway: the complex
  `einsum` it replaced took about 60 % of an SGConv training step in an LRA profile.
* The kernel-spectrum cache missed on every call for 2-D kernels (`long_conv` hands the backend a fresh view):
  it now keys on the view's base and geometry, includes `D`, and the profile's per-call kernel rfft is gone in
  inference. With nothing needing a gradient the spectrum product is computed in place.
* The SGConv kernel's fixed L2 normalization is folded into each scale's decay factor (one pass fewer): kernel
  generation is under 10 % of the layer forward at L = 16K (the target; the kernel-share table below has this
  run's figure).

Not changed: `rfft(x, n)` zero-fills and copies its padded input (`fill_` + `copy_`, about 20 % of an FFT
pair on this CPU; the floor pays it too); the BLH layout costs a transpose (the op's `layout="BHL"` avoids it).

Memory (the "less memory than attention" target): each spectrum is (n/2+1) complex, two input-sizes, and the
op used to save the input and kernel spectra and hold the output-gradient spectrum, its products and full-length
irfft outputs at once -- an SGConv layer's forward+backward at 16K, batch 1, peaked at 104 MiB (second call,
this measurement) against 85 MiB for CPU SDPA, a fused flash kernel with memory linear in L. The op now saves
the input and the circular kernel (a view of what the layer holds anyway) and recomputes both spectra in the
backward (two more rffts), and runs forward and backward over blocks of channels (>= 16 rows, about 2^20
spectrum values), so its temporaries are block-sized: 56-60 MiB for the same layer. Blocking also made the
backward faster per transform (blocks stay in cache; single-row FFTs, by contrast, are 2-6x slower per row than
batched ones, hence the 16-row minimum).
"""


def _command(name: str, argv: list[str], threads: Optional[int], clock: str) -> str:
    extra = (["--threads", str(threads)] if threads else []) + (["--clock", clock] if clock != "wall" else [])
    return " ".join(["python -m", MODULE_NAMES[name], *argv, *extra])


def _target_lines(results: dict[str, Any]) -> list[str]:
    """The issue's CPU targets, evaluated on the numbers of this run."""
    lines = []
    mix = results.get("mixers")
    if mix:
        rows = mix["rows"]
        by = {(r["L"], r["mixer"]): r for r in rows}
        at = 1 << 14 if any(r["L"] == 1 << 14 for r in rows) else max(r["L"] for r in rows)
        att = by.get((at, "transformer"), {})
        for m in ("hyena", "sgconv"):
            r = by.get((at, m), {})
            if r.get("fwd+bwd ms") and att.get("fwd+bwd ms"):
                ratio = att["fwd+bwd ms"] / r["fwd+bwd ms"]
                mem = (r.get("peak MiB"), att.get("peak MiB"))
                mem_txt = (f"peak {mem[0]:.1f} MiB vs attention {mem[1]:.1f} MiB -> "
                           f"{'less' if mem[0] < mem[1] else 'NOT less'} memory") if all(mem) else "memory unmeasured"
                lines.append(f"* {m} vs SDPA attention at L={at}: fwd+bwd {ratio:.2f}x faster (target >= 5x: "
                             f"{'holds' if ratio >= 5 else 'does not hold'}); {mem_txt}.")
        cross = mix["summary"]["crossover"]
        lines.append("* First length from which each conv mixer stays faster than attention (fwd+bwd): "
                     + ", ".join(f"{m} {c if c else 'not within the measured lengths'}" for m, c in cross.items())
                     + ".")
        mems = [r for r in rows if r.get("peak MiB") and r["mixer"] in ("sgconv", "hyena")]
        less = sorted({r["L"] for r in mems if by.get((r["L"], "transformer"), {}).get("peak MiB")
                       and r["peak MiB"] < by[(r["L"], "transformer")]["peak MiB"]})
        lines.append("* Memory: SDPA on this device runs a fused (flash) kernel whose memory is linear in L, so "
                     "attention is not the memory hog it is in the textbook; lengths where SGConv or Hyena used "
                     f"less peak memory than attention: {less or 'none'}.")
    lm = results.get("lm_throughput")
    if lm:
        top = max(r["context"] for r in lm["rows"])
        lines.append(f"* LM training tokens/s at context {top}, relative to the Transformer at equal parameters: "
                     + ", ".join(f"{r['mixer']} {r['vs transformer']:.2f}x" for r in lm["rows"]
                                 if r["context"] == top and r["mixer"] != "transformer") + ".")
    op = results.get("op_efficiency")
    if op:
        long = [r for r in op["rows"] if r["method"] == "long_conv" and r["L"] >= 1 << 14]
        for r in long:
            if r["mode"] == "fwd":
                verdict = f"the FFT floor (target <= 1.3x: {'holds' if r['x floor'] <= 1.3 else 'does not hold'})"
            else:  # no target: the floor is defined for the forward; this one is three pairs
                verdict = ("a three-pair floor (no target; the memory-lean backward recomputes the input and "
                           "kernel spectra, so it does four pairs' work against the floor's three)")
            lines.append(f"* op at L={r['L']} ({r['mode']}): {r['x floor']:.2f}x {verdict}, "
                         f"{r['x bandwidth bound']:.1f}x the bandwidth bound ({r['copy GB/s']:.1f} GB/s copy).")
    prof = results.get("profile")
    if prof:
        for r in prof["share"]:
            if r["mixer"] == "sgconv" and r["mode"] == "train":
                lines.append(f"* SGConv kernel generation at L={r['L']} (training, with grad): "
                             f"{r['kernel share %']:.1f}% of the layer forward (target < 10%: "
                             f"{'holds' if r['kernel share %'] < 10 else 'does not hold'}).")
    return lines


SECTIONS = {
    "mixers": ("Mixer scaling", "mixers_scaling.png", bench_mixers.COLUMNS,
               "One causal layer per mixer, batch 1, same d_model; fwd = inference (eval, no grad: kernels and "
               "kernel spectra cached as in deployment), fwd+bwd = training (kernel generated every call); "
               "median of interleaved calls; peak MiB = peak resident-set rise of a fresh process over its second "
               "fwd+bwd (after one warm-up; glibc mmap threshold pinned, see experiments/benchutil.py). Attention is `F.scaled_dot_product_attention(is_causal=True)`."),
    "lm_throughput": ("End-to-end LM training throughput", "lm_throughput.png", bench_lm_throughput.COLUMNS,
                      "Backbone (byte vocab, MLP ratio 2, pre-norm) + linear head; the Transformer's d_model sets "
                      "the parameter count and the conv models get the closest d_model (multiple of 8). "
                      "One step = forward, loss, backward, AdamW."),
    "op_efficiency": ("Long-conv op efficiency", "op_efficiency.png", bench_op_efficiency.COLUMNS,
                      "`x floor`: time over one rfft+irfft pair of the padded input (three pairs for fwd+bwd); "
                      "`x bandwidth bound`: time over (least bytes moved / copy bandwidth measured in the same "
                      "rounds)."),
}


def write_results(out: Path, results: dict[str, Any], commands: dict[str, str], machine: str, profile: str,
                  device: str, clock: str = "wall") -> Path:
    lines = ["# Benchmarks", "",
             f"Regenerate everything (tables, JSON, plots, this file): `python -m experiments.bench --all` "
             f"({'this file: --' + profile if profile != 'full' else 'full sizes'}).", "",
             f"Machine: {machine}", "",
             "Timing: " + ("process CPU time (`--clock cpu`; the machine was shared with other jobs, so wall time "
                           "was not reproducible; with 1 thread CPU time equals wall time on an idle machine)"
                           if clock == "cpu" else "wall time") + ", medians of interleaved (round-robin) calls.", ""]
    if device == "cpu":
        lines += ["**GPU rows: unmeasured** -- no GPU was available in this run; `python -m experiments.bench "
                  "--all` on a CUDA machine measures the same tables on the GPU.", ""]
    lines += ["## Targets (issue 8)", ""] + (_target_lines(results) or ["(no benchmark results)"]) + [""]
    for key, (title, png, cols, text) in SECTIONS.items():
        if key not in results:
            continue
        lines += [f"## {title}", "", text, "", f"Command: `{commands[key]}`", "",
                  f"Machine: {results[key].get('machine', machine)}", "",
                  markdown_table(results[key]["rows"], cols), ""]
        if (out / png).exists():
            lines += [f"![{title}]({png})", ""]
    if "profile" in results:
        prof = results["profile"]
        lines += ["## Profile of one training step (torch.profiler)", "", f"Command: `{commands['profile']}`", "",
                  f"Machine: {prof.get('machine', machine)}", "", "Ops with the most self time in one step (2-layer LM):", "",
                  markdown_table(prof["profile"], profile_step.PROFILE_COLUMNS), "",
                  "Kernel generation vs one layer forward:", "",
                  markdown_table(prof["share"], profile_step.SHARE_COLUMNS), ""]
    for name in EXTRA:
        if (out / f"{name}.md").exists():
            lines += [(out / f"{name}.md").read_text(), ""]
    for md, png in HAND_RUN:
        if (out / md).exists():
            text = (out / md).read_text()
            text = "#" + text if text.startswith("# ") else text  # its title becomes a section of this file
            lines += [text.strip(), ""]
            if (out / png).exists() and png not in text:
                lines += [f"![{md}]({png})", ""]
    lines += ["## Fixes", "", FIXES]
    path = out / "RESULTS.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--all", action="store_true", help="full sizes")
    size.add_argument("--quick", action="store_true", help="small sizes, < 2 minutes")
    size.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--only", nargs="+", choices=[*MODULES, *EXTRA], default=[*MODULES, *EXTRA])
    p.add_argument("--out", default=None, help="output folder (default benchmarks/, or benchmarks/quick/)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--clock", default="wall", choices=list(CLOCKS))
    p.add_argument("--report-only", action="store_true", help="run nothing; rebuild plots and RESULTS.md from JSON")
    args = p.parse_args(argv)
    profile = "full" if args.all else "quick" if args.quick else "smoke"
    out = Path(args.out or ("benchmarks" if profile == "full" else f"benchmarks/{profile}"))
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    machine = machine_description(device)
    results, commands = {}, {}
    for name in [] if args.report_only else [n for n in args.only if n in EXTRA and profile in EXTRA[n][2]]:
        run_extra(name, profile, out, machine, args.threads, args.clock)
    for name in [] if args.report_only else [n for n in args.only if n in MODULES]:
        argv_b = PROFILES[profile][name]
        commands[name] = _command(name, argv_b, args.threads, args.clock)
        print(f"\n## {name}: {commands[name]}", flush=True)
        t0 = time.perf_counter()
        json_path = out / f"{name}.json"
        MODULES[name]([*argv_b, "--clock", args.clock, "--json", str(json_path)])
        results[name] = json.loads(json_path.read_text())
        results[name].update(command=commands[name], machine=machine, clock=args.clock)
        json_path.write_text(json.dumps(results[name], indent=1))
        print(f"({name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    for name in MODULES:  # keep earlier results of benchmarks not rerun (``--only``)
        json_path = out / f"{name}.json"
        if name not in results and json_path.exists():
            results[name] = json.loads(json_path.read_text())
            commands[name] = results[name].get("command") or _command(name, PROFILES[profile][name], args.threads,
                                                                       args.clock)
            machine = results[name].get("machine", machine)
    for png in plot_bench.plot_all(out):
        print("plot:", png)
    path = write_results(out, results, commands, machine, profile, device, args.clock)
    print("wrote", path)


if __name__ == "__main__":
    main()
