"""What a run leaves to look at, written as it goes: plots and TensorBoard logs.

`SearchArtifacts` is a reporter (`reports.reporter.Reporter`): after each trained trial it draws the
trial's curves and writes its TensorBoard run; after each stage, the stage's chart and the
search path so far. It reads only the trial records and the leaderboard, never the models, and
it never stops a search: a drawing error becomes one warning and the search goes on.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from gridsearch.plans.stages import PlannedStage, base_config, make_plan
from gridsearch.reports.reporter import FanOut, Reporter
from gridsearch.results.leaderboard import read_leaderboard
from gridsearch.results.store import ResultsStore
from gridsearch.training.trial import TrialResult


def with_artifacts(folder: Path, space, stages: list[PlannedStage], reporter: Reporter) -> FanOut:
    """The caller's reporter, preceded by the writer of plots and TensorBoard logs."""
    return FanOut(SearchArtifacts(folder, space, stages), reporter)


class SearchArtifacts(Reporter):
    """`stages` are the stages known before the run (default: the space's plan); a stage chosen during
    the run (the doctor's) adds its values when it starts, and TensorBoard's experiment is rewritten."""

    def __init__(self, folder: Path, space, stages: list[PlannedStage] | None = None) -> None:
        self.folder = Path(folder)
        self.objective = space.objective
        self.defaults = base_config(space)
        self.stage_params: dict[int, list[str]] = {}
        self.stage_names: dict[int, str] = {}
        self.tuned: list[str] = []
        self.domains: dict[str, list[Any]] = {}
        for stage in make_plan(space) if stages is None else stages:
            self._learn(stage)
        self._tb = None
        self._warned = False

    # --- the reporter calls ---------------------------------------------------------------------
    def stage_started(self, stage: PlannedStage, total_stages: int, to_train: int, reused: int) -> None:
        if self._learn(stage):
            self._tb = None  # new values: the experiment is written again with them

    def _learn(self, stage: PlannedStage) -> bool:
        """Take in a stage's names and values; True when a hyperparameter got a value it did not have."""
        self.stage_params[stage.index] = list(stage.grid)
        self.stage_names[stage.index] = stage.name
        grew = False
        for name, values in stage.grid.items():
            if name not in self.domains:
                self.tuned.append(name)
                self.domains[name] = [self.defaults[name]] if name in self.defaults else []
            new = [v for v in values if v not in self.domains[name]]
            self.domains[name].extend(new)
            grew = grew or bool(new)
        return grew

    def trial_finished(self, result: TrialResult, objective: str) -> None:
        self._guard(self._write_trial, result)

    def stage_finished(self, stage: PlannedStage, winner: TrialResult, objective: str) -> None:
        self._guard(self._write_stage, stage, winner)

    # --- the work ----------------------------------------------------------------------------------
    def _guard(self, action, *args) -> None:
        try:
            action(*args)
        except Exception as exc:  # a figure is not worth a search: say so once and go on
            if not self._warned:
                warnings.warn(f"could not write plots or TensorBoard logs in {self.folder}: "
                              f"{type(exc).__name__}: {exc}", stacklevel=2)
                self._warned = True

    def _tensorboard(self):
        if self._tb is None:
            from gridsearch.reports.tensorboard_log import HParamsLog, label_domains

            self._tb = HParamsLog(self.folder, self.domains, label_domains())
            self._tb.write_experiment()
        return self._tb

    def _write_trial(self, result: TrialResult) -> None:
        from gridsearch.reports.plots import plot_trial, trial_plot_path

        plot_trial(result, self.objective, trial_plot_path(self.folder, result.trial_id), self.tuned)
        self._tensorboard().write_trial(result)

    def _write_stage(self, stage: PlannedStage, winner: TrialResult) -> None:
        from gridsearch.reports.plots import (
            plot_search_path,
            plot_stage,
            search_path_plot_path,
            stage_plot_path,
            stage_rows,
        )

        board = read_leaderboard(self.folder)  # written just before stage_finished, reused rows included
        rows = stage_rows(board, stage.index)
        self._backfill(rows)
        plot_stage(rows, list(stage.grid), self.objective, stage_plot_path(self.folder, stage.index),
                   title=f"stage {stage.index}: {stage.name}  ({self.objective} per value tried)",
                   winner=winner.trial_id)
        plot_search_path(board, self.stage_names, self.stage_params, self.objective,
                         search_path_plot_path(self.folder))

    def _backfill(self, rows) -> None:
        """Trials kept from an interrupted run were never reported to this run: draw the missing ones."""
        from gridsearch.reports.plots import trial_plot_path
        from gridsearch.reports.tensorboard_log import tensorboard_dir

        missing = [r for r in rows.itertuples() if not (isinstance(r.reused_from, str) and r.reused_from)
                   and (not trial_plot_path(self.folder, r.trial_id).is_file()
                        or not (tensorboard_dir(self.folder) / r.trial_id).is_dir())]
        if not missing:
            return
        records = ResultsStore(self.folder).finished_trials()
        for row in missing:
            if row.config_id in records:
                self._write_trial(records[row.config_id])
