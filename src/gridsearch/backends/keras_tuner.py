"""Each stage is one `keras_tuner.GridSearch` over the stage's candidates.

The oracle walks a grid of one `candidate` hyperparameter whose values are the config ids of the
pending configs, so any value type works and configs already trained are never handed to Keras
Tuner. Our `run_trial` trains through the shared fit routine; Keras Tuner keeps its oracle, trial
bookkeeping and logs, while our own trial records stay the source of truth for resume (Keras Tuner
1.4.8's GridSearch does not persist its grid position: keras-team/keras-tuner#1055). The same tuner
runs in the workers of a distributed search (`gridsearch.distributed.worker`), there as a client of the chief's
oracle.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras_tuner
from keras_tuner.src import config as keras_tuner_config

from gridsearch.backends import Backend, Candidate
from gridsearch.plans.stages import PlannedStage
from gridsearch.training.fit import Siblings, TrainingContext, run_trial
from gridsearch.training.trial import TrialResult, TrialStatus

CANDIDATE = "candidate"  # the one hyperparameter Keras Tuner sees: a pending candidate's config id


def candidate_space(config_ids: list[str]) -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    hp.Choice(CANDIDATE, list(config_ids), ordered=False)
    return hp


class StageTuner(keras_tuner.GridSearch):
    """A GridSearch over `candidate` whose trials are trained by `train(config_id)`."""

    def __init__(self, config_ids: list[str], ctx: TrainingContext, train: Callable[[str], TrialResult],
                 **kwargs) -> None:
        super().__init__(
            hyperparameters=candidate_space(config_ids), tune_new_entries=False, allow_new_entries=False,
            objective=keras_tuner.Objective(ctx.objective, direction=ctx.direction), max_trials=len(config_ids),
            # A failed trial is recorded and the grid goes on, however many fail in a row
            # (Keras Tuner's default stops the search after 3 consecutive failures).
            max_consecutive_failed_trials=len(config_ids) + 1,
            seed=ctx.seed, **kwargs)
        self._ctx, self._train = ctx, train

    def run_trial(self, trial, *args, **kwargs):
        result = self._train(trial.hyperparameters.get(CANDIDATE))
        if result.status is not TrialStatus.OK:
            raise keras_tuner.errors.FailedTrialError(result.error)
        return {self._ctx.objective: result.objective(self._ctx.objective)}

    def search(self, *args, **kwargs):
        """Keras Tuner's search without its traceback on the terminal for each failed or pruned trial.

        Since keras-team/keras-tuner#761 (fault tolerance, 1.2), `_try_run_and_update_trial` prints
        the whole traceback of every `FailedTrialError` while `keras_tuner.config.DEBUG` is on, which
        is its default in 1.4.8; our trial line and the trial record already carry the error.
        """
        previous, keras_tuner_config.DEBUG = keras_tuner_config.DEBUG, False
        try:
            return super().search(*args, **kwargs)
        finally:
            keras_tuner_config.DEBUG = previous

    def save_model(self, trial_id, model, step=0):
        """No per-trial checkpoints: resume, build_best and the report need only our records."""


class KerasTunerBackend(Backend):
    name = "keras_tuner"

    def run_stage(self, stage: PlannedStage, candidates: list[Candidate], ctx: TrainingContext,
                  on_result: Callable[[TrialResult], None], workdir: Path, siblings: Siblings = ()) -> None:
        if not candidates:
            return
        by_id = {c.config_id: c for c in candidates}

        def train(config_id: str) -> TrialResult:
            candidate = by_id[config_id]
            result = run_trial(candidate.trial_id, stage.index, stage.name, config_id, candidate.config, ctx, siblings)
            try:
                on_result(result)
            except Exception as exc:  # e.g. a full disk: Keras Tuner would record it as one invalid trial and go on
                raise keras_tuner.errors.FatalError(str(exc)) from exc
            return result

        tuner = StageTuner(list(by_id), ctx, train, directory=str(workdir), project_name=f"stage_{stage.index}",
                           overwrite=True)
        try:
            tuner.search(verbose=0)
        except keras_tuner.errors.FatalError as exc:  # our own error, raised through Keras Tuner: the original
            raise exc.__cause__ or exc  # noqa: B904 (the original error, not a new one)


BACKEND = KerasTunerBackend()
