"""Progress while a search runs: rich progress bars in a terminal, plain lines elsewhere.

In a terminal: one bar over the trials (stage, trial k of n, elapsed, an estimate of the time
left) and one over the current trial's epochs with its loss and validation loss, drawn by a
small Keras callback; each finished trial's line is printed above the bars. When stdout is not
a terminal (CI, a pipe, a test capturing it) the caller's line reporter prints alone, exactly
as before; with --quiet nothing is printed while the search runs.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gridsearch.reports.reporter import Reporter


class _CurrentStdout:
    """Writes to whatever sys.stdout is at the time: rich's live display swaps in a proxy that
    prints above the bars, and a line reporter holding the original stream would tear them."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressReporter(Reporter):
    """A reporter that draws bars and hands every call on to a line reporter.

    `total_trials` is the number of rows the plan will have (the sum of the stage sizes);
    rows served by an earlier trial count as done when their stage starts.
    """

    def __init__(self, lines: Reporter, total_trials: int, console: Console | None = None) -> None:
        self.lines = lines
        self.total = total_trials
        self.progress = Progress(
            TextColumn("{task.description}", markup=False), BarColumn(bar_width=30), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[info]}", markup=False),  # "[lr]" is text, not a style
            console=console, transient=False, refresh_per_second=4)
        self._trials = self.progress.add_task("starting", total=max(total_trials, 1), info="")
        self._epochs = self.progress.add_task("", total=1, info="", visible=False)
        self._started = time.perf_counter()
        self._trained = 0
        self._stages_done = 0
        self._total_stages = 0
        self._trial_in_stage = 0
        self._stage_to_train = 0

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    # --- the reporter calls ---------------------------------------------------------------------
    def data_progress(self, step: str, done: int, total: int) -> None:
        """The data's bar (listing a folder, its statistics), in the trials' bar's place until they start."""
        if done == total:
            self.lines.data_progress(step, done, total)
        self.progress.update(self._trials, description=step, completed=done, total=max(total, 1), info="")

    def preflight_finished(self, report) -> None:
        self.lines.preflight_finished(report)

    def stage_started(self, stage, total_stages: int, to_train: int, reused: int) -> None:
        self.lines.stage_started(stage, total_stages, to_train, reused)
        self._total_stages, self._stage_to_train, self._trial_in_stage = total_stages, to_train, 0
        if stage.index == 1:  # the bar showed the data's progress until now
            self.progress.update(self._trials, completed=0, total=max(self.total, 1))
        self.progress.update(self._trials, description=f"stage {stage.index}/{total_stages} [{stage.name}]",
                             advance=reused)
        self.progress.update(self._trials, info=self._eta())  # after the advance: the estimate reads it

    def trial_finished(self, result, objective: str) -> None:
        self.lines.trial_finished(result, objective)
        self._trained += 1
        self.progress.update(self._trials, advance=1)
        self.progress.update(self._trials, info=self._eta())
        self.progress.update(self._epochs, visible=False)

    def stage_finished(self, stage, winner, objective: str) -> None:
        self.lines.stage_finished(stage, winner, objective)
        self._stages_done += 1
        if self._stages_done == self._total_stages:
            self.progress.update(self._trials, description="all stages done", info="")

    def note(self, text: str) -> None:
        self.lines.note(text)

    def _eta(self) -> str:
        done = self.progress.tasks[self._trials].completed
        left = max(0, self.total - done)  # the doctor's total is an estimate: never below zero
        if not self._trained or not left:
            return f"{left} trials left" if left else ""
        per_trial = (time.perf_counter() - self._started) / self._trained  # wall time: plots and logs included
        return f"~{format_seconds(per_trial * left)} left (at most {left} trials)"

    # --- per-epoch display ----------------------------------------------------------------------
    def keras_callbacks(self) -> list[Any]:
        """A callback for TrainingContext.extra_callbacks: the epoch bar of the trial in progress."""
        return [EpochProgress(self)]

    def _trial_started(self, epochs: int) -> None:
        if self._total_stages and self._stages_done >= self._total_stages:
            label = "  retraining the winner"
        else:
            self._trial_in_stage += 1
            label = f"  trial {self._trial_in_stage} of {self._stage_to_train} to train"
        self.progress.reset(self._epochs, total=epochs, description=label, info="", visible=True)

    def _epoch_finished(self, epoch: int, logs: dict[str, Any]) -> None:
        info = "  ".join(f"{name}={logs[name]:.4f}" for name in ("loss", "val_loss") if name in logs)
        self.progress.update(self._epochs, completed=epoch, info=info)


class EpochProgress(keras.callbacks.Callback):
    """Tells a ProgressReporter when a fit starts and each epoch's logs.

    Pickled into another process (a parallel backend's worker) it arrives inert: a worker has
    no terminal of ours to draw on, and the reporter's live display cannot be pickled.
    """

    def __init__(self, reporter: ProgressReporter | None) -> None:
        super().__init__()
        self._reporter = reporter

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_reporter": None, "_model": None}

    def on_train_begin(self, logs=None):
        if self._reporter is not None:
            self._reporter._trial_started((self.params or {}).get("epochs") or 1)

    def on_epoch_end(self, epoch, logs=None):
        if self._reporter is not None:
            self._reporter._epoch_finished(epoch + 1, logs or {})


@contextmanager
def search_reporter(make_lines: Callable[[Any], Reporter], total_trials: int, *, quiet: bool = False,
                    stream: Any = None) -> Iterator[Reporter]:
    """The reporter a run should use: quiet, plain lines (not a terminal) or progress bars.

    `make_lines(stream)` builds the line reporter (the CLI's ConsoleReporter).
    """
    stream = stream if stream is not None else sys.stdout
    if quiet:
        yield Reporter()  # the base class is silent
    elif not (hasattr(stream, "isatty") and stream.isatty()):
        yield make_lines(stream)
    else:
        with ProgressReporter(make_lines(_CurrentStdout()), total_trials) as reporter:
            yield reporter
