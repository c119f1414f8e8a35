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
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from gridsearch.data.dataset import EVALUATE_BATCH, Dataset, load_dataset
from gridsearch.data.folder import Progress
from gridsearch.diagnosis.rules import Label, diagnose
from gridsearch.space.loader import LoadedSpace
from gridsearch.training.lint import predicted_classes, training_only_layers
from gridsearch.training.models import Builder, resolve_builder
from gridsearch.training.probes import PROBE_SAMPLES, ProbeCallback
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


Siblings = Sequence[Mapping[str, Sequence[float]]]  # finished histories of the running stage (see `run_trial`)


@dataclass
class TrainingContext:
    """What a run fixes for every trial: the split data, the builder, the seed, the objective, the backend's
    settings. What a stage changes (its finished siblings) is passed to each trial on its own."""

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
    mixed_precision: str = "none"  # "mixed_float16": float16 compute on a GPU, the output layer in float32


def trial_callbacks(config: dict[str, Any], ctx: TrainingContext, *, validation: bool = True,
                    probe_data: tuple[np.ndarray, np.ndarray] | None = None, siblings: Siblings = ()) -> list[Any]:
    """Schedules, early stopping and pruning, as Keras callbacks built from the config; with `probe_data`
    (the probe batch: prepared training images and labels) also its per-epoch measurements. `siblings`: the
    histories of the running stage's trials that finished before this one; a trial far behind all of them is
    pruned (empty for a backend that fits a stage at once)."""
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
                                              siblings=siblings,
                                              rungs=halving_rungs(config["epochs"]) if ctx.halving else ()))
    if ctx.probe and probe_data is not None:
        callbacks.append(ProbeCallback(*probe_data, ctx.dataset.num_classes))
    return callbacks + list(ctx.extra_callbacks)


def class_weights(config: dict[str, Any], y: np.ndarray) -> dict[int, float] | None:
    if config.get("class_weight") != "balanced":
        return None
    classes = np.unique(y)
    return dict(zip(classes.tolist(), compute_class_weight("balanced", classes=classes, y=y).tolist()))


def build_model(config: dict[str, Any], ctx: TrainingContext, input_shape: tuple[int, ...] | None = None) -> keras.Model:
    """Fresh graph and the run's seed before every build: a config gives the same model in any order.

    `input_shape` defaults to the data's, as the config prepares it (one channel after grayscale).
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(ctx.seed)
    keras.mixed_precision.set_global_policy("float32" if ctx.mixed_precision == "none" else ctx.mixed_precision)
    shape = input_shape or ctx.dataset.prepared_shape(config)
    with _own_python_random(ctx.seed):
        model = ctx.builder(dict(config), shape, ctx.dataset.num_classes)
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
              ctx: TrainingContext, siblings: Siblings = ()) -> TrialResult:
    """Train one config on the training split, validate on the validation split."""
    result = TrialResult(trial_id, stage, stage_name, config_id, dict(config), TrialStatus.OK)
    start = time.perf_counter()
    try:
        data, batch_size = ctx.dataset, config["batch_size"]
        train = data.feed(config, ("train",), batch_size, shuffle_seed=ctx.seed)
        validation = data.feed(config, ("val",), batch_size)
        model = build_model(config, ctx)
        probe = data.sample(config, "train", PROBE_SAMPLES, ctx.seed) if ctx.probe else None
        callbacks = trial_callbacks(config, ctx, probe_data=probe, siblings=siblings)
        fit = model.fit(**train.fit_kwargs(shuffle=True), validation_data=validation.validation_data(),
                        epochs=config["epochs"], verbose=0,
                        callbacks=callbacks, class_weight=class_weights(config, data.y_train))
        result.history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
        result.probes = next((c.stats() for c in callbacks if isinstance(c, ProbeCallback)), {})
        stopper = next((c for c in callbacks if isinstance(c, HopelessTrialStopper)), None)
        finish(result, ctx, pruned_by=stopper.pruned_reason if stopper else None,
               train_only=training_only_layers(model))
    except Exception as exc:  # any error of the user's builder or of training is this trial's, not the run's
        result.status = TrialStatus.FAILED
        # first line for the leaderboard, the traceback kept in the trial record
        result.error = f"{type(exc).__name__}: {exc}".strip().replace("\n", " ") + "\n" + traceback.format_exc(limit=8)
    result.duration_s = round(time.perf_counter() - start, 3)
    return result


def finish(result: TrialResult, ctx: TrainingContext, pruned_by: Any = None, train_only: Sequence[str] = ()) -> None:
    """Fill metrics, status and diagnosis from `result.history` (shared by every backend); `train_only`: the
    model's layers that act only in training, which the diagnosis reads."""
    history = result.history
    result.epochs_run = len(history.get("loss", []))
    best = best_epoch_index(history.get(ctx.objective, []), ctx.direction)
    if best is not None:
        result.best_epoch = best + 1
        result.metrics = {name: history[name][best] for name in METRICS if name in history}
        result.metrics[ctx.objective] = history[ctx.objective][best]
    diagnosis = diagnose(history, ctx.dataset.num_classes, majority_rate=ctx.dataset.majority_rate,
                         probes=result.probes, train_only=train_only)
    result.diagnosis = {**diagnosis.to_dict(), "train_only": list(train_only)}  # what it knew of the model
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


def fit_for_epochs(config: dict[str, Any], ctx: TrainingContext, parts: tuple[str, ...], epochs: int) -> keras.Model:
    """Train a fresh model on these parts of the split for a fixed number of epochs, with no validation data
    (so no early stopping)."""
    data = ctx.dataset
    model = build_model(config, ctx)
    y = np.concatenate([data.labels(part) for part in parts])
    model.fit(**data.feed(config, parts, config["batch_size"], shuffle_seed=ctx.seed).fit_kwargs(shuffle=True),
              epochs=max(1, epochs), verbose=0, callbacks=trial_callbacks(config, ctx, validation=False),
              class_weight=class_weights(config, y))
    return model


def retrain_and_test(config: dict[str, Any], ctx: TrainingContext, epochs: int) -> tuple[keras.Model, dict[str, Any]]:
    """Retrain on train+validation for the epochs that were best, score once on the test split: Keras'
    metrics, and the confusion matrix the report reads per-class precision and recall from."""
    model = fit_for_epochs(config, ctx, ("train", "val"), epochs)
    test = ctx.dataset.feed(config, ("test",), EVALUATE_BATCH)
    scores = model.evaluate(**test.fit_kwargs(), verbose=0, return_dict=True)
    predicted = predicted_classes(model, model.predict(test.x, batch_size=test.batch_size, verbose=0))  # in order
    classes = ctx.dataset.num_classes
    confusion = np.bincount(ctx.dataset.y_test * classes + predicted, minlength=classes * classes)
    return model, {**{f"test_{name}": float(value) for name, value in scores.items()},
                   "test_confusion_matrix": confusion.reshape(classes, classes).tolist()}  # rows: true class


def space_dataset(loaded: LoadedSpace, cache_dir: Path | None = None, progress: Progress | None = None) -> Dataset:
    """The space's data, split once: the same split in the chief, in every worker and in every run.
    `cache_dir`: where an image folder's file cache goes (results/<name>/cache), when the space asks for one;
    `progress`: a reporter's `data_progress`."""
    space = loaded.space
    return load_dataset(space.data, seed=space.seed, validation_split=space.validation_split,
                        test_split=space.test_split, folder=loaded.folder, options=space.data_options,
                        where=str(loaded.path), cache_dir=cache_dir, progress=progress)


def training_context(loaded: LoadedSpace, *, prune: bool = True, halving: bool = False, jobs: int | None = None,
                     extra_callbacks: list[Any] | None = None, cache_dir: Path | None = None,
                     progress: Progress | None = None) -> TrainingContext:
    """The space's split data, builder and seed: what every fit of a run shares."""
    space = loaded.space
    return TrainingContext(space_dataset(loaded, cache_dir, progress), resolve_builder(space.model), space.seed, space.objective,
                           space.objective_direction, prune=prune, halving=halving,
                           extra_callbacks=list(extra_callbacks or []),
                           cv_folds=space.cv_folds, n_jobs=jobs or space.n_jobs, where=str(loaded.path),
                           mixed_precision=space.mixed_precision)
