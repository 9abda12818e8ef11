"""Train for a fixed time budget with ``transformers.Trainer``: stop, evaluate and schedule the LR by elapsed time.

``TimeBudgetCallback`` measures *training* time on two clocks at once -- wall seconds (``time.perf_counter``) and
this process's CPU seconds (``time.process_time``, all threads; robust when other jobs share the machine) -- with
the time spent in evaluation and checkpoint saving left out, and

* stops training at the end of the first optimizer step at which the chosen clock (``kind="wall"`` or ``"cpu"``)
  has used ``budget_s`` seconds (so a run overshoots by at most one step);
* optionally asks for an evaluation every ``eval_every_s`` budget seconds (the same number of curve points for fast
  and slow models);
* optionally replaces the Trainer's step-based LR schedule by a time-based one (linear warmup over the first
  ``warmup_frac`` of the budget, then cosine down to ``min_lr_ratio`` of the peak at the end of the budget), so
  every model finishes its schedule however many steps it manages;
* records ``(step, wall_s, cpu_s, step_wall_s)`` after every step, and writes them to ``log_path`` (CSV) at each log
  and at the end of training; ``experiments/plot_lm_curves.py`` joins it with ``metrics.csv`` on ``step``.
"""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

__all__ = ["BUDGET_KINDS", "TimeBudgetCallback", "budget_lr_factor"]

BUDGET_KINDS = ("wall", "cpu")


def budget_lr_factor(frac: float, warmup_frac: float, min_lr_ratio: float) -> float:
    """LR multiplier at fraction ``frac`` (in [0, 1], clipped) of the time budget.

    Linear warmup from 0 to 1 over ``[0, warmup_frac]``, then a half cosine from 1 down to ``min_lr_ratio`` at
    ``frac = 1`` (the shape of ``transformers``' ``cosine_with_min_lr`` schedule, with time in place of steps).
    """
    frac = min(max(float(frac), 0.0), 1.0)
    if warmup_frac > 0 and frac < warmup_frac:
        return frac / warmup_frac
    progress = (frac - warmup_frac) / max(1.0 - warmup_frac, 1e-12)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class TimeBudgetCallback(TrainerCallback):
    """Stop a ``Trainer`` run once ``budget_s`` seconds of training time (``kind`` = "wall" or "cpu") are used.

    Args:
        budget_s: training seconds allowed (> 0), on the clock named by ``kind``.
        kind: ``"wall"`` (wall-clock seconds) or ``"cpu"`` (CPU seconds of this process, ``time.process_time``).
        eval_every_s: request an evaluation each time this many more budget seconds have passed (None: never; the
            Trainer's own ``eval_steps`` still apply). The last step of the budget is not evaluated here -- run
            ``trainer.evaluate()`` after training (``experiments/pretrain_lm.py`` does).
        time_lr_schedule: replace the Trainer's LR schedule (a ``LambdaLR``) by ``budget_lr_factor`` of the
            elapsed budget fraction.
        warmup_frac, min_lr_ratio: parameters of that schedule.
        log_path: CSV written with one row per optimizer step: ``step, wall_s, cpu_s, step_wall_s``.
        clocks: ``(wall_clock, cpu_clock)`` functions returning seconds (tests inject fake clocks).

    Attributes after training: ``wall_s`` / ``cpu_s`` (training seconds used on each clock), ``steps`` (optimizer
    steps taken in this run), ``max_step_wall_s`` / ``max_step_cpu_s`` (the longest single step), ``stopped_by_budget``.
    """

    def __init__(
        self,
        budget_s: float,
        kind: str = "wall",
        *,
        eval_every_s: Optional[float] = None,
        time_lr_schedule: bool = False,
        warmup_frac: float = 0.05,
        min_lr_ratio: float = 0.1,
        log_path: Optional[str | os.PathLike] = None,
        clocks: Optional[tuple[Callable[[], float], Callable[[], float]]] = None,
    ) -> None:
        if isinstance(budget_s, bool) or not isinstance(budget_s, (int, float)) or not budget_s > 0:
            raise ValueError(f"TimeBudgetCallback: budget_s must be a number of seconds > 0, got {budget_s!r}")
        if kind not in BUDGET_KINDS:
            raise ValueError(f"TimeBudgetCallback: kind must be one of {BUDGET_KINDS}, got {kind!r}")
        if eval_every_s is not None and not eval_every_s > 0:
            raise ValueError(f"TimeBudgetCallback: eval_every_s must be > 0 seconds or None, got {eval_every_s!r}")
        if not 0.0 <= warmup_frac < 1.0:
            raise ValueError(f"TimeBudgetCallback: warmup_frac must be in [0, 1), got {warmup_frac!r}")
        if not 0.0 <= min_lr_ratio <= 1.0:
            raise ValueError(f"TimeBudgetCallback: min_lr_ratio must be in [0, 1], got {min_lr_ratio!r}")
        self.budget_s = float(budget_s)
        self.kind = kind
        self.eval_every_s = eval_every_s
        self.time_lr_schedule = time_lr_schedule
        self.warmup_frac = float(warmup_frac)
        self.min_lr_ratio = float(min_lr_ratio)
        self.log_path = Path(log_path) if log_path is not None else None
        self._wall, self._cpu = clocks or (time.perf_counter, time.process_time)
        self._reset()

    # ------------------------------------------------------------------------------------------------- clocks
    def _reset(self) -> None:
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.steps = 0
        self.max_step_wall_s = 0.0
        self.max_step_cpu_s = 0.0
        self.stopped_by_budget = False
        self.rows: list[dict[str, float]] = []
        self._start: Optional[tuple[float, float]] = None  # raw clock readings at train begin (None: clock stopped)
        self._excluded = [0.0, 0.0]  # evaluation / save seconds on each clock
        self._gap: Optional[tuple[float, float]] = None  # raw readings at the last step end / eval / save
        self._step_start = (0.0, 0.0)
        self._next_eval = self.eval_every_s

    def used(self) -> float:
        """Budget seconds used so far on the budget's clock (eval and save time excluded)."""
        wall, cpu = self._current()
        return wall if self.kind == "wall" else cpu

    def fraction(self) -> float:
        """Fraction of the budget used, in [0, 1]."""
        return min(self.used() / self.budget_s, 1.0)

    def _raw(self) -> tuple[float, float]:
        return self._wall(), self._cpu()

    def _current(self) -> tuple[float, float]:
        if self._start is None:
            return self.wall_s, self.cpu_s
        w, c = self._raw()
        return w - self._start[0] - self._excluded[0], c - self._start[1] - self._excluded[1]

    def _exclude_since_gap(self) -> None:
        """The time since the last step end / eval / save was evaluation or saving: leave it out of the budget."""
        if self._start is None or self._gap is None:
            return
        now = self._raw()
        self._excluded[0] += now[0] - self._gap[0]
        self._excluded[1] += now[1] - self._gap[1]
        self._gap = now

    # ---------------------------------------------------------------------------------------------- callbacks
    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._reset()
        if self.time_lr_schedule:
            self._install_lr_schedule(kw.get("lr_scheduler"))
        self._start = self._raw()

    def _install_lr_schedule(self, scheduler: Any) -> None:
        inner = getattr(scheduler, "scheduler", scheduler)  # accelerate wraps it in AcceleratedScheduler
        lambdas = getattr(inner, "lr_lambdas", None)
        if not isinstance(lambdas, list):
            raise ValueError(
                f"TimeBudgetCallback(time_lr_schedule=True) needs the Trainer's LR scheduler to be a "
                f"torch.optim.lr_scheduler.LambdaLR (every transformers schedule is); got {type(inner).__name__}"
            )

        def factor(_step: int) -> float:
            return budget_lr_factor(self.fraction(), self.warmup_frac, self.min_lr_ratio)

        inner.lr_lambdas = [factor] * len(lambdas)
        for group, base in zip(inner.optimizer.param_groups, inner.base_lrs):  # step-0 LR from the new schedule
            group["lr"] = base * factor(0)
        inner._last_lr = [g["lr"] for g in inner.optimizer.param_groups]

    def on_step_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._gap = None
        self._step_start = self._current()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        wall, cpu = self._current()
        self.steps += 1
        step_wall, step_cpu = wall - self._step_start[0], cpu - self._step_start[1]
        self.max_step_wall_s = max(self.max_step_wall_s, step_wall)
        self.max_step_cpu_s = max(self.max_step_cpu_s, step_cpu)
        self.rows.append({"step": state.global_step, "wall_s": wall, "cpu_s": cpu, "step_wall_s": step_wall})
        used = wall if self.kind == "wall" else cpu
        if used >= self.budget_s:
            self.stopped_by_budget = True
            control.should_training_stop = True
            control.should_log = True  # log the last (partial) interval's train loss
            control.should_evaluate = False  # the caller evaluates once after training
        elif self._next_eval is not None and used >= self._next_eval:
            control.should_evaluate = True
            while self._next_eval <= used:
                self._next_eval += self.eval_every_s
        self._gap = self._raw()

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._exclude_since_gap()

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._exclude_since_gap()

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        self._write()

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any) -> None:
        if self._start is not None:  # stop the clocks at the end of the last step
            last = self.rows[-1] if self.rows else {"wall_s": 0.0, "cpu_s": 0.0}
            self.wall_s, self.cpu_s = last["wall_s"], last["cpu_s"]
            self._start = None
        self._write()

    def _write(self) -> None:
        if self.log_path is None or not state_is_main():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.log_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["step", "wall_s", "cpu_s", "step_wall_s"])
            w.writeheader()
            w.writerows(self.rows)
        os.replace(tmp, self.log_path)


def state_is_main() -> bool:
    """True on the global rank-0 process (or without a distributed launcher)."""
    return int(os.environ.get("RANK", "0")) == 0
