"""Each stage is one `keras_tuner.GridSearch` over the stage's candidates.

The oracle walks a grid of one `candidate` index per pending config, so any value type
works and configs already trained are never handed to Keras Tuner. Our `run_trial`
trains through the shared fit routine; Keras Tuner keeps its oracle, trial bookkeeping
and logs, while our own trial records stay the source of truth for resume (Keras Tuner
1.4.8's GridSearch does not persist its grid position: keras-team/keras-tuner#1055).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import keras_tuner

from ..plan import PlannedStage
from ..training import TrainingContext, run_trial
from ..trial import TrialResult, TrialStatus
from . import Backend, Candidate


class _StageTuner(keras_tuner.GridSearch):
    def __init__(self, stage: PlannedStage, candidates: list[Candidate], ctx: TrainingContext,
                 on_result: Callable[[TrialResult], None], **kwargs) -> None:
        hp = keras_tuner.HyperParameters()
        hp.Choice("candidate", list(range(len(candidates))), ordered=False)
        super().__init__(
            hyperparameters=hp, tune_new_entries=False, allow_new_entries=False,
            objective=keras_tuner.Objective(ctx.objective, direction=ctx.direction),
            max_trials=len(candidates),
            # A failed trial is recorded and the grid goes on, however many fail in a row
            # (Keras Tuner's default stops the search after 3 consecutive failures).
            max_consecutive_failed_trials=len(candidates) + 1,
            seed=ctx.seed, **kwargs)
        self._stage, self._candidates, self._ctx, self._on_result = stage, candidates, ctx, on_result

    def run_trial(self, trial, *args, **kwargs):
        candidate = self._candidates[trial.hyperparameters.get("candidate")]
        result = run_trial(candidate.trial_id, self._stage.index, self._stage.name, candidate.config_id,
                           candidate.config, self._ctx)
        try:
            self._on_result(result)
        except Exception as exc:  # e.g. a full disk: Keras Tuner would record it as one invalid trial and go on
            raise keras_tuner.errors.FatalError(str(exc)) from exc
        if result.status is not TrialStatus.OK:
            raise keras_tuner.errors.FailedTrialError(result.error)
        return {self._ctx.objective: result.objective(self._ctx.objective)}

    def save_model(self, trial_id, model, step=0):
        """No per-trial checkpoints: resume, build_best and the report need only our records."""


class KerasTunerBackend(Backend):
    name = "keras_tuner"

    def run_stage(self, stage: PlannedStage, candidates: list[Candidate], ctx: TrainingContext,
                  on_result: Callable[[TrialResult], None], workdir: Path) -> None:
        if not candidates:
            return
        tuner = _StageTuner(stage, candidates, ctx, on_result, directory=str(workdir),
                            project_name=f"stage_{stage.index}", overwrite=True)
        try:
            tuner.search(verbose=0)
        except keras_tuner.errors.FatalError as exc:  # our own error, raised through Keras Tuner: the original
            raise exc.__cause__ or exc


BACKEND = KerasTunerBackend()
