"""Shared benchmark plumbing: timing, peak memory of one call, markdown tables, machine description.

Timing: :func:`time_interleaved` times several methods round robin (CUDA-synchronised), so load from other
processes hits them alike. Peak memory is the CUDA allocator's peak on GPUs. On CPUs the call runs in a freshly spawned child process: one warm-up call
(one-time library and thread-pool initialisation is not the call's memory), then the figure is the rise of the
child's peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs``) above its resident size just
before the second call -- real bytes touched, measured by the kernel, at 4 KiB page granularity. The child runs
with glibc's mmap threshold pinned at 64 KiB (``MALLOC_MMAP_THRESHOLD_``), so every tensor buffer is mapped on
allocation and returned on free: the rise is what the call keeps live at its peak, not what the allocator
happened to cache from the warm-up.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import os
import platform
import statistics
import time
from typing import Any, Callable, Optional

import torch

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_interleaved(
    fns: dict[str, Callable[[], Any]],
    budget_s: float = 1.0,
    min_reps: int = 3,
    max_reps: int = 15,
    device: str = "cpu",
    max_call_s: Optional[float] = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds per call of each ``fns[name]()``, measured round robin (one call of each method per round).

    One warm-up call per method (also the estimate that sets its repetitions: ``budget_s / warm-up``, clamped to
    ``[min_reps, max_reps]``). A method whose warm-up exceeds ``max_call_s`` keeps that one measurement only.
    Returns the list of per-call times of every method (take the median). ``clock`` is ``time.perf_counter``
    (wall time) or ``time.process_time`` (CPU time of this process, all threads: steadier on a shared machine;
    with one thread it equals wall time on an idle machine).
    """
    times: dict[str, list[float]] = {}
    reps: dict[str, int] = {}
    for name, fn in fns.items():
        sync(device)
        t0 = clock()
        fn()
        sync(device)
        warm = clock() - t0
        if max_call_s is not None and warm > max_call_s:
            times[name], reps[name] = [warm], 0
        else:
            times[name], reps[name] = [], int(min(max_reps, max(min_reps, round(budget_s / max(warm, 1e-9)))))
    for r in range(max(reps.values(), default=0)):
        for name, fn in fns.items():
            if r < reps[name]:
                sync(device)
                t0 = clock()
                fn()
                sync(device)
                times[name].append(clock() - t0)
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


_MMAP_ENV = "MALLOC_MMAP_THRESHOLD_"


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def _child(setup: Callable[..., Callable[[], Any]], args: tuple, queue: mp.Queue) -> None:
    try:
        fn = setup(*args)
        fn()  # warm-up: lazy initialisation is not the call's memory
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
        before = _status_bytes("VmRSS")
        fn()
        queue.put(max(0, _status_bytes("VmHWM") - before))
    except Exception as exc:  # report instead of hanging the parent
        queue.put(repr(exc))


def peak_memory(setup: Callable[..., Callable[[], Any]], args: tuple = (), device: str = "cpu") -> Optional[int]:
    """Peak extra bytes while running the callable returned by ``setup(*args)`` (inputs are made by ``setup``)."""
    if device.startswith("cuda"):
        fn = setup(*args)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(setup, args, queue))
    saved = os.environ.get(_MMAP_ENV)
    os.environ[_MMAP_ENV] = "65536"  # read by the child's C library at start-up
    try:
        proc.start()
    finally:
        if saved is None:
            os.environ.pop(_MMAP_ENV)
        else:
            os.environ[_MMAP_ENV] = saved
    result = queue.get()
    proc.join()
    if isinstance(result, str):
        raise RuntimeError(f"peak-memory child failed: {result}")
    return result


def add_machine_options(p: argparse.ArgumentParser) -> None:
    """``--device``, ``--threads`` and ``--clock``: the options every benchmark script shares."""
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--clock", default="wall", choices=list(CLOCKS), help="wall time, or process CPU time")


def apply_machine_options(args: argparse.Namespace) -> str:
    """Set ``--threads`` and return the machine line for the script's header (which names the thread count)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return machine_description(args.device)


def machine_description(device: str = "cpu") -> str:
    """One line naming the machine the numbers came from."""
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name()
    else:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
        name = f"{name}, {torch.get_num_threads()} threads"
    return f"{name}; torch {torch.__version__}; {datetime.date.today().isoformat()}"


def markdown_table(rows: list[dict[str, Any]], columns: Optional[list[str]] = None) -> str:
    """Render dict rows as a markdown table (floats with 3 significant digits)."""
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def mib(nbytes: Optional[int]) -> Optional[float]:
    return None if nbytes is None else nbytes / 2**20
