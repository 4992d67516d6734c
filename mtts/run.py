"""What every training loop shares: one experiment dir with exact resume.

`Run` owns the checkpoints (atomic saves, pruning, temp files left by a killed save), the
metrics log (trimmed to the checkpoint resumed from; a line cut short by a kill is dropped),
the SIGINT/SIGTERM stopper and the budget, and holds EXP/.lock from its creation to the end
of the `with` block, so a second run on the same dir stops at once with the holder's pid.
`max_steps` is the budget that decides results; the clock (`max_minutes`) is a safety stop,
reported as such, since where it stops depends on the machine's speed that day. Each loop
(train.py, vocoder/train.py) keeps only its step.

Under several processes every one holds a `Run` (same step, same budget), but only the
main one (rank 0) locks, logs and saves; after each step `agree` makes them stop together:
a signal on any process or the slowest clock stops all at the same step.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Callable

from mtts import checkpoint
from mtts.console import console
from mtts.errors import MttsError
from mtts.io import DirLock, write_text


def step_of(line: str) -> int | None:
    """Step of a metrics.jsonl line; None for a line cut short by a killed process."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


class Run:
    def __init__(self, exp_dir: Path, max_steps: int, max_minutes: float = 0.0, keep: int = 0, main: bool = True,
                 agree: Callable[[bool, float], tuple[bool, float]] | None = None):
        """agree(signal, elapsed) -> (any process signalled, the largest elapsed): several processes."""
        self.exp_dir, self.max_steps, self.keep = exp_dir, max_steps, keep
        self.budget_s = max_minutes * 60
        self.ckpt_dir = exp_dir / "checkpoints"
        self.log_path = exp_dir / "metrics.jsonl"
        self.step, self.elapsed = 0, 0.0
        self.stopped_by: str | None = None
        self._signal = False    # a stop all processes agreed on (several), see _on_signal
        self._pending = False   # a signal caught by this process
        self._old_handlers: dict = {}
        self._t0 = 0.0
        self.main, self._agree = main, agree
        self._lock = (DirLock(exp_dir, "training run", "wait for it to finish or choose another --exp-dir").acquire()
                      if main else None)

    def resume(self, resume: bool, load: Callable[[Path], dict]) -> dict | None:
        """The newest checkpoint's state (read by `load`) with --resume; None for a new run.
        Sets step and elapsed from it. Checkpoints without --resume are an error."""
        found = checkpoint.list_checkpoints(self.ckpt_dir)
        if not found:
            return None
        if not resume:
            raise MttsError(f"{self.ckpt_dir} already holds checkpoints; pass --resume or choose a new --exp-dir")
        state = load(found[-1])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        if self.main:
            console.print(f"resumed from {found[-1]} (step {self.step})")
        return state

    def __enter__(self) -> "Run":
        """Trim the log to the resumed step, drop stale temp files, catch SIGINT/SIGTERM."""
        if self.main:
            kept = [line for line in (self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
                                      if self.log_path.is_file() else [])
                    if (s := step_of(line)) is not None and s <= self.step]
            write_text(self.log_path, "".join(line + "\n" for line in kept))
            for stale in self.ckpt_dir.glob(".*.tmp"):   # left by a process killed while saving
                stale.unlink(missing_ok=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        self._t0 = time.time() - self.elapsed
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        if self._lock is not None:
            self._lock.release()

    def _on_signal(self, signum, frame) -> None:
        # only noted here: with several processes a signal takes effect when they agree on it
        # (advance), so that none stops a step before the others, whose collectives would wait
        self._pending = True

    @property
    def _stop_asked(self) -> bool:
        return self._pending if self._agree is None else self._signal

    def done(self) -> bool:
        """Whether the run must stop before another step (and why, in `stopped_by`)."""
        if self.stopped_by is None:
            if self.step >= self.max_steps:
                self.stopped_by = "max_steps"
            elif self._stop_asked:
                self.stopped_by = "signal"
            elif self.budget_s and self.elapsed >= self.budget_s:
                self.stopped_by = "max_minutes"
        return self.stopped_by is not None

    def advance(self) -> None:
        """One step taken."""
        self.step += 1
        self.elapsed = time.time() - self._t0
        if self._agree is not None:
            self._signal, self.elapsed = self._agree(self._signal or self._pending, self.elapsed)

    def due(self, every: int) -> bool:
        """Whether to evaluate and save now: every `every` steps and before stopping."""
        return self.step % every == 0 or self.done()

    def log(self, record: dict) -> None:
        if not self.main:
            return
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def path(self) -> Path:
        """The checkpoint of the current step."""
        return self.ckpt_dir / f"step_{self.step:07d}.pt"

    def save(self, state: dict) -> Path:
        path = self.path()
        if not self.main:
            return path
        checkpoint.save(path, {**state, "step": self.step, "elapsed": self.elapsed})
        checkpoint.prune(self.ckpt_dir, self.keep)
        return path

    def summary(self) -> dict:
        """How the run ended; a clock stop says so, since it does not reproduce."""
        self.done()
        if not self.main:
            pass
        elif self.stopped_by == "max_minutes":
            console.print(f"[yellow]stopped by the clock (max_minutes {self.budget_s / 60:g}) at step "
                          f"{self.step} of {self.max_steps}:[/] a result that depends on this machine's speed; "
                          "max_steps is the budget that reproduces. To go on: --resume with a larger --max-minutes "
                          "(the clock counts the time already trained)")
        elif self.stopped_by == "signal":
            console.print(f"stopped by a signal at step {self.step}; --resume continues")
        return {"step": self.step, "minutes": round(self.elapsed / 60, 2), "stopped_by": self.stopped_by,
                "checkpoint": str(self.path())}
