"""Train one config: the single fit routine behind every backend and the final retrain.

A trial never raises: an exception or a NaN loss becomes a `failed` result with the
error text, a hopeless run becomes `pruned`, so one bad config cannot stop the others.
"""
from __future__ import annotations

import math
import random
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from gridsearch.data.dataset import Dataset, trial_inputs
from gridsearch.diagnosis.rules import Label, diagnose
from gridsearch.training.lint import predicted_classes
from gridsearch.training.models import Builder
from gridsearch.training.probes import ProbeCallback
from gridsearch.training.pruning import HopelessTrialStopper, halving_rungs
from gridsearch.training.trial import METRICS, TrialResult, TrialStatus, best_epoch_index

# Batches per call into the traced train step. Measured by benchmarks/epoch_speed.py on 2 cores: a steady
# epoch at 0.64x the default's, identical validation accuracy (tf.data changed the shuffle, so the results;
# jit_compile was slower). A builder that compiles with its own value keeps it.
STEPS_PER_EXECUTION = 16
# Tracing the multi-step loop costs about 0.25 s more once per fit, and each step then saves about 1.5 ms
# (measured: 3 epochs of 5 steps took 1.65 s against 1.38 s; the 12-epoch digits fit 3.82 s against 4.22 s):
# a fit of fewer steps than this one keeps Keras' default of 1.
MIN_STEPS_FOR_BATCHED_CALLS = 200


@dataclass
class TrainingContext:
    """What every trial of a run shares: the split data, the builder, the seed, the objective."""

    dataset: Dataset
    builder: Builder
    seed: int
    objective: str
    direction: str  # "max" or "min"
    prune: bool = True
    halving: bool = False  # successive halving at the rungs of `pruning.halving_rungs` (needs `siblings`)
    extra_callbacks: list[keras.callbacks.Callback] = field(default_factory=list)
    cv_folds: int = 3  # cross-validating backends: folds of train+validation
    n_jobs: int = 1  # backends that can: fits run in parallel over this many processes
    where: str = "the space"  # the space file, for messages of checks a backend makes before training
    probe: bool = True  # measure gradients and unit activity on a probe batch every epoch (probes.py)
    # histories of the trials of the running stage that finished before this one (the search appends each as
    # it finishes): a trial far behind all of them is pruned. Empty for a backend that fits a stage at once.
    siblings: Sequence[Mapping[str, Sequence[float]]] = ()


def trial_callbacks(config: dict[str, Any], ctx: TrainingContext, *, validation: bool = True,
                    probe_data: tuple[np.ndarray, np.ndarray] | None = None) -> list[Any]:
    """Schedules, early stopping and pruning, as Keras callbacks built from the config; with `probe_data`
    (the trial's training inputs and labels) also the probe batch's per-epoch measurements."""
    monitor = ctx.objective if validation else ctx.objective.removeprefix("val_")
    callbacks: list[Any] = [keras.callbacks.TerminateOnNaN()]
    if config.get("lr_schedule") == "reduce_on_plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss" if validation else "loss", factor=config["lr_factor"], patience=config["lr_patience"]))
    elif config.get("lr_schedule") == "step":
        every, factor = config["lr_step_epochs"], config["lr_factor"]
        callbacks.append(keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: lr * factor if epoch > 0 and epoch % every == 0 else lr))
    if config.get("early_stopping", 0) and validation:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode=ctx.direction, patience=config["early_stopping"], restore_best_weights=True))
    if ctx.prune and validation:
        callbacks.append(HopelessTrialStopper(ctx.dataset.num_classes, majority_rate=ctx.dataset.majority_rate,
                                              siblings=ctx.siblings,
                                              rungs=halving_rungs(config["epochs"]) if ctx.halving else ()))
    if ctx.probe and probe_data is not None:
        callbacks.append(ProbeCallback(*probe_data, ctx.dataset.num_classes, seed=ctx.seed))
    return callbacks + list(ctx.extra_callbacks)


def class_weights(config: dict[str, Any], y: np.ndarray) -> dict[int, float] | None:
    if config.get("class_weight") != "balanced":
        return None
    classes = np.unique(y)
    return dict(zip(classes.tolist(), compute_class_weight("balanced", classes=classes, y=y).tolist()))


def build_model(config: dict[str, Any], ctx: TrainingContext, input_shape: tuple[int, ...]) -> keras.Model:
    """Fresh graph and the run's seed before every build: a config gives the same model in any order."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(ctx.seed)
    with _own_python_random(ctx.seed):
        model = ctx.builder(dict(config), input_shape, ctx.dataset.num_classes)
    steps = math.ceil(len(ctx.dataset.y_train) / config.get("batch_size", 32)) * config.get("epochs", 1)
    if getattr(model, "steps_per_execution", None) == 1 and steps >= MIN_STEPS_FOR_BATCHED_CALLS:
        model.steps_per_execution = STEPS_PER_EXECUTION  # read when the train step is first traced
    return model


@contextmanager
def _own_python_random(seed: int) -> Iterator[None]:
    """While the builder runs, Keras draws the seeds of unseeded initializers and layers from a generator of
    our own, seeded as `set_random_seed` seeds the global one, so the same numbers as in a plain run.

    Keras takes them from Python's process-wide `random` (`keras.src.random.seed_generator.make_default_seed`),
    which other threads of the process draw from too: Dask's event loop does, so under Dask the same config
    trained differently on every run (measured: val_accuracy 0.458 and 0.448 on two runs, 0.510 in one process).
    """
    from keras.src.random import seed_generator

    previous = seed_generator.python_random
    seed_generator.python_random = random.Random(seed)
    try:
        yield
    finally:
        seed_generator.python_random = previous


def run_trial(trial_id: str, stage: int, stage_name: str, config_id: str, config: dict[str, Any],
              ctx: TrainingContext) -> TrialResult:
    """Train one config on the training split, validate on the validation split."""
    result = TrialResult(trial_id, stage, stage_name, config_id, dict(config), TrialStatus.OK)
    start = time.perf_counter()
    try:
        x_train, x_val, _ = trial_inputs(ctx.dataset, config)
        model = build_model(config, ctx, x_train.shape[1:])
        callbacks = trial_callbacks(config, ctx, probe_data=(x_train, ctx.dataset.y_train))
        fit = model.fit(x_train, ctx.dataset.y_train, validation_data=(x_val, ctx.dataset.y_val),
                        epochs=config["epochs"], batch_size=config["batch_size"], verbose=0,
                        callbacks=callbacks, class_weight=class_weights(config, ctx.dataset.y_train))
        result.history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
        result.probes = next((c.stats() for c in callbacks if isinstance(c, ProbeCallback)), {})
        stopper = next((c for c in callbacks if isinstance(c, HopelessTrialStopper)), None)
        finish(result, ctx, pruned_by=stopper.pruned_reason if stopper else None)
    except Exception as exc:  # any error of the user's builder or of training is this trial's, not the run's
        result.status = TrialStatus.FAILED
        # first line for the leaderboard, the traceback kept in the trial record
        result.error = f"{type(exc).__name__}: {exc}".strip().replace("\n", " ") + "\n" + traceback.format_exc(limit=8)
    result.duration_s = round(time.perf_counter() - start, 3)
    return result


def finish(result: TrialResult, ctx: TrainingContext, pruned_by: Any = None) -> None:
    """Fill metrics, status and diagnosis from `result.history` (shared by every backend)."""
    history = result.history
    result.epochs_run = len(history.get("loss", []))
    best = best_epoch_index(history.get(ctx.objective, []), ctx.direction)
    if best is not None:
        result.best_epoch = best + 1
        result.metrics = {name: history[name][best] for name in METRICS if name in history}
        result.metrics[ctx.objective] = history[ctx.objective][best]
    diagnosis = diagnose(history, ctx.dataset.num_classes, majority_rate=ctx.dataset.majority_rate,
                         probes=result.probes)
    result.diagnosis = diagnosis.to_dict()
    losses = history.get("loss", []) + history.get("val_loss", [])
    if any(not math.isfinite(v) for v in losses) or diagnosis.label == Label.NAN:
        result.status = TrialStatus.FAILED
        result.error = f"loss became NaN or infinite ({diagnosis.evidence})"
    elif pruned_by is not None:
        result.status = TrialStatus.PRUNED
        result.error = f"stopped early: {pruned_by.label!s} ({pruned_by.evidence})"
    elif best is None:
        result.status = TrialStatus.FAILED
        result.error = f"no finite {ctx.objective} was recorded"


def fit_for_epochs(config: dict[str, Any], ctx: TrainingContext, x: np.ndarray, y: np.ndarray,
                   epochs: int) -> keras.Model:
    """Train a fresh model for a fixed number of epochs with no validation data (so no early stopping)."""
    model = build_model(config, ctx, x.shape[1:])
    model.fit(x, y, epochs=max(1, epochs), batch_size=config["batch_size"], verbose=0,
              callbacks=trial_callbacks(config, ctx, validation=False), class_weight=class_weights(config, y))
    return model


def retrain_and_test(config: dict[str, Any], ctx: TrainingContext, epochs: int) -> tuple[keras.Model, dict[str, Any]]:
    """Retrain on train+validation for the epochs that were best, score once on the test split: Keras'
    metrics, and the confusion matrix the report reads per-class precision and recall from."""
    x_train, x_val, x_test = trial_inputs(ctx.dataset, config)
    model = fit_for_epochs(config, ctx, np.concatenate([x_train, x_val]),
                           np.concatenate([ctx.dataset.y_train, ctx.dataset.y_val]), epochs)
    scores = model.evaluate(x_test, ctx.dataset.y_test, verbose=0, return_dict=True)
    predicted = predicted_classes(model, model.predict(x_test, verbose=0))
    classes = ctx.dataset.num_classes
    confusion = np.bincount(ctx.dataset.y_test * classes + predicted, minlength=classes * classes)
    return model, {**{f"test_{name}": float(value) for name, value in scores.items()},
                   "test_confusion_matrix": confusion.reshape(classes, classes).tolist()}  # rows: true class
