"""What a search tells its caller as it goes: one base class, every hook a no-op.

A reporter overrides the hooks it shows (the CLI's lines, the progress bars, the writer of plots and
TensorBoard logs); the base class itself is the silent reporter of `--quiet` and of scripts.
`FanOut` hands every hook to several reporters, so the search talks to one object.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the search's types sit above this package
    from gridsearch.plans.stages import PlannedStage
    from gridsearch.search.preflight import PreflightReport
    from gridsearch.training.trial import TrialResult


class Reporter:
    """The search's hooks, in the order a run calls them."""

    def data_progress(self, step: str, done: int, total: int) -> None:
        """Reading the data before the first trial: `done` of `total` items of `step` (e.g. "listing files"),
        called as it goes and once with done == total."""

    def preflight_finished(self, report: PreflightReport) -> None:
        """The checks before the first trial are done (their findings are in `report`)."""

    def stage_started(self, stage: PlannedStage, total_stages: int, to_train: int, reused: int) -> None:
        """A stage begins: `to_train` of its configs will train, `reused` were trained before."""

    def trial_finished(self, result: TrialResult, objective: str) -> None:
        """A trial has its record (trained, pruned or failed)."""

    def stage_finished(self, stage: PlannedStage, winner: TrialResult, objective: str) -> None:
        """A stage is done and `winner` is frozen for the next."""

    def note(self, text: str) -> None:
        """Something a distributed run has to say as it goes (a worker died, waiting for workers)."""

    def keras_callbacks(self) -> list[Any]:
        """Callbacks added to every fit (e.g. a per-epoch progress bar)."""
        return []


class FanOut(Reporter):
    """One reporter made of several: each hook goes to every one of them, in order."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def data_progress(self, step: str, done: int, total: int) -> None:
        for reporter in self.reporters:
            reporter.data_progress(step, done, total)

    def preflight_finished(self, report: PreflightReport) -> None:
        for reporter in self.reporters:
            reporter.preflight_finished(report)

    def stage_started(self, stage: PlannedStage, total_stages: int, to_train: int, reused: int) -> None:
        for reporter in self.reporters:
            reporter.stage_started(stage, total_stages, to_train, reused)

    def trial_finished(self, result: TrialResult, objective: str) -> None:
        for reporter in self.reporters:
            reporter.trial_finished(result, objective)

    def stage_finished(self, stage: PlannedStage, winner: TrialResult, objective: str) -> None:
        for reporter in self.reporters:
            reporter.stage_finished(stage, winner, objective)

    def note(self, text: str) -> None:
        for reporter in self.reporters:
            reporter.note(text)

    def keras_callbacks(self) -> list[Any]:
        return [callback for reporter in self.reporters for callback in reporter.keras_callbacks()]
