"""Each stage is one scikit-learn `GridSearchCV` over a scikeras `KerasClassifier`: k-fold cross-validation.

How a stage runs
- The estimator builds through the shared `training.build_model` with the space's builder. Every config
  value reaches the builder as a routed wrapper parameter (`model__<name>`), except `epochs` and
  `batch_size`, which are the wrapper's own fit arguments; the builder still sees the whole config.
- The `param_grid` is the stage's pending points, one single-valued grid each (a config an earlier
  stage or run already trained is never fitted again); every other value, earlier winners included, is
  fixed in the estimator. A stage that tunes the input preparation (`normalize`, `grayscale`) runs one
  GridSearchCV per preparation, since GridSearchCV fits every candidate on the same X.
- Train+validation, prepared by the dataset (`Dataset.normalizer`), is split by an explicit shuffled, seeded
  `StratifiedKFold`; the scoring is explicit (accuracy, or neg log loss for a loss objective, reported
  back as a positive loss). The test split is never handed to scikit-learn.
- Every fold fit validates on its held-out part each epoch (Keras `validation_data`; GridSearchCV slices
  the per-sample fit parameter `sample_index`, which tells the fit its fold), so a fold has the same
  history as a Keras Tuner trial. Fold histories are kept in the trial record (`diagnosis["folds"]`);
  their mean curve is diagnosed and gives `best_epoch`, the epochs the winner is retrained for.
- A fit that raises writes its error into its fold record and re-raises to GridSearchCV, whose
  `error_score=nan` scores the fold NaN: the trial is recorded as failed with that error, never raised.
- `n_jobs` > 1 runs the fits in joblib processes; each fit reseeds (`build_model`), so the results do
  not depend on the number of processes.

Why scikeras is wrapped, not used as is (scikeras 0.13.0 is its last release, adriangb/scikeras#329)
- With scikit-learn >= 1.6 `is_classifier(KerasClassifier(...))` is False: `ClassifierMixin` comes after
  `BaseEstimator` in its bases, so the classifier tags are never seen (adriangb/scikeras#332), and an
  integer `cv` becomes plain unshuffled `KFold` (the symptom of scikit-learn/scikit-learn#25144): on
  class-ordered data whole classes are missing from a fold's training part, silently. Our subclass
  reports itself as a classifier, and we never rely on it: the splitter and the scoring are explicit.
- scikeras hands any constructor keyword it does not know to the model builder, so `n_epoch=20` leaves
  training at its default `epochs=1` when the builder takes `**kwargs`; and it drops `callbacks` given to
  `fit`. Every wrapper parameter is checked by name before anything runs (`check_wrapper_params`), the
  builder checks that every config value arrived, and a fit checks it ran the epochs it was given.
- `keras.wrappers.SKLearnClassifier` (Keras' own wrapper, keras-team/keras#20599) was measured as the
  alternative: its classifier tags are right, but it accepts 2-D X only (CNN images must be flattened
  and reshaped inside the model), one-hot encodes y (builders must switch to categorical cross-entropy;
  a 1-unit sigmoid binary head breaks), takes model arguments as one `model_kwargs` dict (no per-value
  grid, no `param_*` columns), and its `__sklearn_clone__` drops `fit_kwargs`, so inside GridSearchCV
  every fold trains for Keras' default single epoch, silently. scikeras with the fixes above it is.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import math
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import joblib
import keras
import numpy as np
from scikeras.wrappers import KerasClassifier
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from gridsearch.backends import Backend, Candidate
from gridsearch.data.dataset import ArrayDataset, Dataset, PipelineDataset
from gridsearch.data.preparation import preparation_key
from gridsearch.diagnosis.rules import diagnose
from gridsearch.errors import SpaceError, did_you_mean
from gridsearch.plans.stages import PlannedStage
from gridsearch.results.atomic import atomic_write_json
from gridsearch.space.hyperparams import HYPERPARAMETERS
from gridsearch.training.fit import Siblings, TrainingContext, build_model, class_weights, finish, trial_callbacks
from gridsearch.training.lint import training_only_layers
from gridsearch.training.pruning import HopelessTrialStopper
from gridsearch.training.runtime import quiet_tensorflow
from gridsearch.training.trial import METRICS, TrialResult, TrialStatus

FIT_ARGUMENTS = ("epochs", "batch_size")  # config values that are the wrapper's own fit arguments
# Train+validation as prepared float32 arrays, at most (a judgment, not measured): each fold's fit slices
# copies of X, so the process holds a few times this.
MEMORY_BUDGET = 2 * 2**30
ROUTE = "model__"  # scikeras passes `model__<name>` to the model builder as `<name>`
# What scikeras passes the builder besides the routed values: no hyperparameter may take these names.
BUILDER_ARGUMENTS = frozenset({"meta", "compile_kwargs", "params"})
OWN_PARAMETERS = ("cv_data", "record_dir")  # our subclass's constructor parameters


def scoring_for(objective: str) -> str:
    """Explicit scoring: never the estimator's default `score`."""
    return "neg_log_loss" if objective.endswith("loss") else "accuracy"


# --- parameter routing and its checks ---------------------------------------------------------------

def wrapper_params(config: dict[str, Any]) -> dict[str, Any]:
    """A config as wrapper parameters: fit arguments under their own name, every other value routed to the builder."""
    return {(name if name in FIT_ARGUMENTS else ROUTE + name): value for name, value in config.items()}


def constructor_names() -> set[str]:
    """Every parameter name the wrapper itself takes (scikeras' explicit arguments and ours)."""
    names = {p.name for p in inspect.signature(KerasClassifier.__init__).parameters.values()
             if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}
    return (names - {"self"}) | set(OWN_PARAMETERS)


def check_wrapper_params(params: dict[str, Any], hyperparameters: set[str], where: str = "the space") -> None:
    """Refuse, before anything runs, every wrapper parameter scikeras would not deliver where it is meant to go.

    scikeras passes a constructor keyword it does not know to the model builder (and a builder taking
    `**kwargs` drops it), so a misspelled fit argument such as `n_epoch=20` would silently train at
    the default `epochs=1`.
    """
    accepted = constructor_names()
    for key in params:
        if key.startswith(ROUTE):
            name = key[len(ROUTE):]
            if "__" in name:
                raise SpaceError(f"hyperparameter {name!r} in {where} contains '__', which scikeras reads as further "
                                 f"routing: it would never reach the model builder; rename it")
            if name in BUILDER_ARGUMENTS:
                raise SpaceError(f"hyperparameter {name!r} in {where} clashes with an argument scikeras gives the "
                                 f"model builder ({', '.join(sorted(BUILDER_ARGUMENTS))}); rename it")
            if name not in hyperparameters:
                raise SpaceError(f"wrapper parameter {key!r} in {where} routes {name!r} to the model builder, which "
                                 f"does not take it" + did_you_mean(name, hyperparameters))
        elif key not in accepted:
            raise SpaceError(f"wrapper parameter {key!r} in {where} is not an argument of scikeras' KerasClassifier: "
                             f"scikeras would hand it to the model builder and fit would never see it (training would "
                             f"run at the default epochs=1)" + did_you_mean(key, accepted | set(FIT_ARGUMENTS)))


class _ReadTracker(dict):
    """A config dict that remembers which keys the builder looked at."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key) -> bool:
        self.read.add(key)
        return super().__contains__(key)

    def _everything(self) -> None:
        self.read.update(super().keys())

    def __iter__(self):
        self._everything()
        return super().__iter__()

    def keys(self):
        self._everything()
        return super().keys()

    def items(self):
        self._everything()
        return super().items()

    def values(self):
        self._everything()
        return super().values()

    def copy(self):
        self._everything()
        return dict(super().items())


def check_builder_reads(config: dict[str, Any], ctx: TrainingContext, input_shape: tuple[int, ...]) -> None:
    """A custom model's own hyperparameter that the builder never reads and that is named like a known one
    (`n_epoch` for `epochs`) is a misspelling that would be ignored: refuse it, before anything runs.

    Only names close to a known one are checked (a builder may read others conditionally), with one build
    of the model and no training.
    """
    suspects = {}
    for name in config:
        hint = "" if name in HYPERPARAMETERS else did_you_mean(name, HYPERPARAMETERS, cutoff=0.7)
        if hint:
            suspects[name] = hint
    if not suspects:
        return
    hp = _ReadTracker(config)
    try:
        keras.backend.clear_session()
        ctx.builder(hp, input_shape, ctx.dataset.num_classes)
    except Exception:  # a builder that fails fails its trials too, where the error is recorded
        return
    for name, hint in suspects.items():
        if name not in hp.read:
            raise SpaceError(f"hyperparameter {name!r} in field 'defaults' of {ctx.where} is never read by the "
                             f"model builder and is no fit argument, so it would be silently ignored{hint}")


# --- the estimator -----------------------------------------------------------------------------------

class CVData:
    """What a fold fit needs besides its training part: all of train+validation, the folds, the context.

    Read-only and shared by every clone: `sklearn.clone` deep-copies parameters, this one returns itself.
    """

    def __init__(self, ctx: TrainingContext, x: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                 names: tuple[str, ...]) -> None:
        empty_x, empty_y = x[:0], y[:0]
        # the context a fold trains with: train+validation only, so the test split never leaves this process;
        # no sibling pruning: GridSearchCV fits a stage's candidates together, so none has finished when a fold runs
        self.training = replace(ctx, dataset=ArrayDataset(x, y, empty_x, empty_y, empty_x, empty_y,
                                                          list(ctx.dataset.classes)))
        self.x, self.y, self.folds, self.names = x, y, folds, names

    def __deepcopy__(self, memo: dict) -> CVData:
        return self

    def __getstate__(self) -> dict[str, Any]:
        """The context is pickled with cloudpickle, which sends a builder from a space file by value
        (`_ship_builder_by_value`): Dask pickles a task with plain pickle, and its workers could not import
        the space module by name."""
        return {**self.__dict__, "training": _cloudpickles()[0].dumps(self.training)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        import pickle

        self.__dict__.update({**state, "training": pickle.loads(state["training"])})

    def fold_of(self, train_index: np.ndarray) -> tuple[int, np.ndarray]:
        """(0-based fold number, held-out indices) of the fold whose training part is `train_index`."""
        for number, (train, test) in enumerate(self.folds):
            if len(train) == len(train_index) and np.array_equal(train, train_index):
                return number, test
        raise RuntimeError("this fit's training part is no fold of the StratifiedKFold split")


def build_for_scikeras(meta: dict[str, Any], compile_kwargs: dict[str, Any], params: dict[str, Any], **hp: Any):
    """scikeras' `model`: reassemble the config, check every value arrived, build with the shared routine."""
    cv_data: CVData = params["cv_data"]
    config = {**hp, **{name: params[name] for name in FIT_ARGUMENTS}}
    if set(config) != set(cv_data.names):
        lost, unexpected = sorted(set(cv_data.names) - set(config)), sorted(set(config) - set(cv_data.names))
        raise RuntimeError(f"scikeras did not deliver the config to the model builder: missing {lost}, "
                           f"unexpected {unexpected}")
    return build_model(config, cv_data.training, tuple(meta["X_shape_"][1:]))


class CVKerasClassifier(KerasClassifier):
    """scikeras' KerasClassifier that says it is a classifier and validates each fold on its held-out part."""

    def __init__(self, model: Any = None, *, cv_data: CVData | None = None, record_dir: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(model=model, **kwargs)
        self.cv_data = cv_data
        self.record_dir = record_dir

    def __sklearn_tags__(self):
        # scikeras lists ClassifierMixin after BaseEstimator, so scikit-learn >= 1.6 never sees its
        # classifier tags (adriangb/scikeras#332): GridSearchCV would use plain KFold for an integer cv.
        from sklearn.utils import ClassifierTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        if tags.classifier_tags is None:
            tags.classifier_tags = ClassifierTags()
        return tags

    def trial_config(self) -> dict[str, Any]:
        params = self.get_params(deep=False)
        config = {key[len(ROUTE):]: value for key, value in params.items() if key.startswith(ROUTE)}
        config.update({name: params[name] for name in FIT_ARGUMENTS})
        return config

    def fit(self, X, y, sample_weight=None, *, sample_index=None, **kwargs):
        """Fit one fold, validating every epoch on its held-out part; write the fold's record."""
        data = self.cv_data
        fold, held_out = data.fold_of(np.asarray(sample_index))
        config = self.trial_config()
        record: dict[str, Any] = {
            "fold": fold + 1, "train_size": int(len(y)), "held_out_size": int(len(held_out)),
            "held_out_class_counts": np.bincount(data.y[held_out], minlength=data.training.dataset.num_classes).tolist(),
            "history": {}, "pruned": None, "error": "", "train_only": []}
        start = time.perf_counter()
        self._held_out = held_out
        self._fold_callbacks = trial_callbacks(config, data.training)
        try:
            # fit arguments passed explicitly; validation data and callbacks join in _fit_keras_model
            super().fit(X, y, sample_weight=sample_weight, epochs=config["epochs"],
                        class_weight=class_weights(config, np.asarray(y)), **kwargs)
            history = {k: [float(v) for v in values] for k, values in self.model_.history.history.items()}
            record["history"] = history
            record["train_only"] = training_only_layers(self.model_)
            ran = len(history.get("loss", []))
            if ran != config["epochs"] and not self.model_.stop_training:
                raise RuntimeError(f"the fit ran {ran} epochs where the config asks for {config['epochs']}: "
                                   f"a fit argument did not reach Keras")
            stopper = next((c for c in self._fold_callbacks if isinstance(c, HopelessTrialStopper)), None)
            if stopper is not None and stopper.pruned_reason is not None:
                record["pruned"] = {"label": stopper.pruned_reason.label.value, "evidence": stopper.pruned_reason.evidence}
        except Exception as exc:  # recorded here with its text, then GridSearchCV's error_score marks the fold
            record["error"] = (f"{type(exc).__name__}: {exc}".strip().replace("\n", " ") + "\n"
                               + traceback.format_exc(limit=8))
            raise
        finally:
            record["duration_s"] = round(time.perf_counter() - start, 3)
            self._fold_callbacks = []
            if self.record_dir:
                atomic_write_json(Path(self.record_dir) / f"fold_{fold + 1}.json", record)
        return self

    def _fit_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs):
        # Here the encoders are fitted, so the held-out part is encoded like the training part. Callbacks
        # must go through _fit_callbacks: scikeras drops a `callbacks` keyword given to fit.
        x_val = self.feature_encoder_.transform(self.cv_data.x[self._held_out])
        y_val = self.target_encoder_.transform(self.cv_data.y[self._held_out])
        self._fit_callbacks = [*self._fit_callbacks, *self._fold_callbacks]
        super()._fit_keras_model(X, y, sample_weight, warm_start, epochs, initial_epoch,
                                 validation_data=(x_val, y_val), **kwargs)


# --- the backend ---------------------------------------------------------------------------------------

def stratified_folds(y: np.ndarray, folds: int, seed: int, where: str = "the space") -> StratifiedKFold:
    """The explicit splitter; refuses data where a class has fewer samples than folds."""
    counts = np.bincount(y)
    if counts[counts > 0].min() < folds:
        rare = int(np.flatnonzero(counts == counts[counts > 0].min())[0])
        raise SpaceError(f"cv_folds={folds} in {where}: class {rare} has only {counts[rare]} samples in "
                         f"train+validation, so some folds would hold none of it; lower cv_folds or add data")
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def mean_curve(histories: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Per-epoch mean over the folds (an epoch only some folds reached is the mean over those)."""
    if not histories:
        return {}
    keys = [key for key in histories[0] if all(key in h for h in histories)]
    curve = {}
    for key in keys:
        length = max(len(h[key]) for h in histories)
        curve[key] = [float(np.mean([h[key][e] for h in histories if len(h[key]) > e])) for e in range(length)]
    return curve


def _ship_builder_by_value(builder: Callable[..., Any]) -> None:
    """A builder defined in a space file lives in a module the joblib workers cannot import: send its code."""
    module = sys.modules.get(getattr(builder, "__module__", "") or "")
    if module is not None and module.__name__.startswith("_gridsearch_space_"):
        for cloudpickle in _cloudpickles():
            cloudpickle.register_pickle_by_value(module)


def _cloudpickles() -> list[Any]:
    """The cloudpickle package (joblib >= 1.6 and Dask use it) and joblib's vendored copy (older joblib)."""
    found = []
    try:
        import cloudpickle

        found.append(cloudpickle)
    except ImportError:
        pass
    try:
        from joblib.externals import cloudpickle as vendored

        found.append(vendored)
    except ImportError:
        pass
    return found


def _quiet_workers() -> contextlib.AbstractContextManager:
    """joblib's own worker processes import TensorFlow as quietly as the main process (their start-up lines
    otherwise reach the terminal once per worker); a Dask cluster's workers are the cluster's. joblib takes the
    initializer as a loky backend parameter (joblib/joblib#381, #1525)."""
    backend, _ = joblib.parallel.get_active_backend()
    if not isinstance(backend, joblib.parallel.LokyBackend):
        return contextlib.nullcontext()
    return joblib.parallel_config(backend="loky", initializer=quiet_tensorflow)


def check_fits_in_memory(data: Dataset, where: str) -> None:
    """scikeras and GridSearchCV take arrays: train+validation, prepared as float32, must fit MEMORY_BUDGET;
    a user's tf.data pipelines are not arrays at all."""
    if isinstance(data, PipelineDataset):
        raise SpaceError(f"field `data` of {where} gives tf.data.Datasets, which the sklearn backend cannot take "
                         f"(scikeras and GridSearchCV need arrays); nothing was trained. Use backend='keras_tuner', "
                         f"which trains on the pipelines as they are, or return arrays from the loader")
    prepared = data.decoded_bytes() * 4 // data.item_bytes
    if prepared > MEMORY_BUDGET:
        raise SpaceError(f"the data of {where} takes {prepared / 2**30:.1f} GB as float32 arrays "
                         f"({len(data.y_train) + len(data.y_val)} train+validation images of {data.input_shape}), "
                         f"more than the sklearn backend's {MEMORY_BUDGET / 2**30:.0f} GB (scikeras and GridSearchCV "
                         f"need the images in memory); nothing was trained. Use backend='keras_tuner', which "
                         f"streams an image folder from disk, or smaller images (data_options['image_size'])")


def _train_and_validation(data: Dataset, config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Train+validation prepared for `config`, as arrays (a stream is read into memory once per preparation)."""
    if isinstance(data, ArrayDataset):
        return (np.concatenate([data.prepared(config, "train"), data.prepared(config, "val")]),
                np.concatenate([data.y_train, data.y_val]))
    xs, ys = zip(*(data.sample(config, part, len(data.labels(part)), 0) for part in ("train", "val")))
    return np.concatenate(xs), np.concatenate(ys)


class SklearnBackend(Backend):
    name = "sklearn"
    sequential_trials = False  # GridSearchCV fits a stage at once

    def check(self, ctx: TrainingContext, configs: list[dict[str, Any]]) -> None:
        """The wrapper's parameters, arrays that fit in memory, and enough samples of each class for the folds."""
        for config in configs:
            check_wrapper_params(wrapper_params(config), set(config), ctx.where)
        check_fits_in_memory(ctx.dataset, ctx.where)
        stratified_folds(np.concatenate([ctx.dataset.labels("train"), ctx.dataset.labels("val")]), ctx.cv_folds,
                         ctx.seed, ctx.where)

    def fingerprint(self, space: Any) -> dict[str, Any]:
        return {"backend": self.name, "cv_folds": space.cv_folds}  # n_jobs is not in it: results do not depend on it

    def run_stage(self, stage: PlannedStage, candidates: list[Candidate], ctx: TrainingContext,
                  on_result: Callable[[TrialResult], None], workdir: Path, siblings: Siblings = ()) -> None:
        if not candidates:
            return
        names = tuple(candidates[0].config)
        self.check(ctx, [candidate.config for candidate in candidates])  # a later stage's configs, too
        groups: dict[tuple[str, bool], list[Candidate]] = {}
        for candidate in candidates:
            groups.setdefault(preparation_key(candidate.config), []).append(candidate)
        prepared = {}
        for key, group in groups.items():
            x, y = _train_and_validation(ctx.dataset, group[0].config)
            check_builder_reads(group[0].config, ctx, tuple(x.shape[1:]))
            prepared[key] = (x, y, stratified_folds(y, ctx.cv_folds, ctx.seed, ctx.where))
        if ctx.n_jobs != 1:  # other processes fit (joblib's, or Dask's with n_jobs=-1)
            _ship_builder_by_value(ctx.builder)
        for key, group in groups.items():
            x, y, splitter = prepared[key]
            for result in self._run_group(stage, group, ctx, x, y, splitter, names, workdir):
                on_result(result)
        try:  # the fold records are in the trial records now; leave no empty folder behind
            (workdir / f"stage_{stage.index}").rmdir()
            workdir.rmdir()
        except OSError:
            pass

    def _run_group(self, stage: PlannedStage, group: list[Candidate], ctx: TrainingContext, x: np.ndarray,
                   y: np.ndarray, splitter: StratifiedKFold, names: tuple[str, ...], workdir: Path) -> list[TrialResult]:
        cv_data = CVData(ctx, x, y, list(splitter.split(x, y)), names)
        varying = [n for n in names if n in stage.grid or any(c.config[n] != group[0].config[n] for c in group)]
        fixed = {k: v for k, v in wrapper_params(group[0].config).items()
                 if k.removeprefix(ROUTE) not in varying}
        record_dirs = {}
        param_grid = []
        for candidate in group:
            folder = (workdir / f"stage_{stage.index}" / candidate.trial_id).resolve()  # for workers elsewhere too
            shutil.rmtree(folder, ignore_errors=True)  # fold records of an interrupted run are not this run's
            record_dirs[candidate.trial_id] = folder
            param_grid.append({**{key: [value] for key, value in wrapper_params(
                {n: candidate.config[n] for n in varying}).items()}, "record_dir": [str(folder)]})
        estimator = CVKerasClassifier(model=build_for_scikeras, cv_data=cv_data, verbose=0, **fixed)
        train_objective = not ctx.objective.startswith("val_")
        search = GridSearchCV(estimator, param_grid, scoring=scoring_for(ctx.objective), cv=splitter, refit=False,
                              error_score=np.nan, n_jobs=ctx.n_jobs, return_train_score=train_objective)
        started = time.perf_counter()
        search_error = ""
        with warnings.catch_warnings():  # every failure is recorded in its trial, with its error text
            warnings.simplefilter("ignore", FitFailedWarning)
            warnings.filterwarnings("ignore", message=".*scores are non-finite")
            warnings.filterwarnings("ignore", message="Scoring failed")
            try:
                with _quiet_workers():
                    search.fit(x, y, sample_index=np.arange(len(y)))
            except Exception as exc:  # all fits failed (their errors are in the fold records), or joblib broke
                search_error = f"{type(exc).__name__}: {exc}".strip().replace("\n", " ")
        wall = time.perf_counter() - started
        cv_results = getattr(search, "cv_results_", None)
        results = []
        for i, candidate in enumerate(group):
            results.append(self._trial_result(stage, candidate, ctx, record_dirs[candidate.trial_id],
                                              _scores(cv_results, i, ctx.cv_folds, train_objective), search_error,
                                              cv_data, wall / len(group)))
        return results

    def _trial_result(self, stage: PlannedStage, candidate: Candidate, ctx: TrainingContext, folder: Path,
                      scores: dict[str, Any], search_error: str, cv_data: CVData, wall_share: float) -> TrialResult:
        result = TrialResult(candidate.trial_id, stage.index, stage.name, candidate.config_id, dict(candidate.config),
                             TrialStatus.OK)
        k = ctx.cv_folds
        records = [json.loads(path.read_text()) for path in sorted(folder.glob("fold_*.json"))]
        records.sort(key=lambda r: r["fold"])
        training = cv_data.training
        folds_kept = []
        for record in records:
            score = scores["split"][record["fold"] - 1] if scores["split"] else math.nan
            label = diagnose(record["history"], training.dataset.num_classes, majority_rate=training.dataset.majority_rate,
                             train_only=record["train_only"]).label.value if record["history"] else ""
            folds_kept.append({"fold": record["fold"], "score": score, "label": label, **record})
        histories = [r["history"] for r in records if r["history"].get("loss")]
        result.history = mean_curve(histories)
        pruned = next((r["pruned"] for r in records if r["pruned"]), None)
        finish(result, training, pruned_by=_Pruned(pruned) if pruned else None,
               train_only=records[0]["train_only"] if records else ())
        result.diagnosis["folds"] = folds_kept
        last = {name: values[-1] for name, values in result.history.items() if name in METRICS and values}
        score = -scores["mean"] if ctx.objective.endswith("loss") else scores["mean"]
        result.metrics = {**last, ctx.objective: score}
        result.extra = {"cv_std": scores["std"], "cv_folds": k, "fit_time_s": scores["fit_time"]}
        result.duration_s = round(sum(r.get("duration_s", 0.0) for r in records) or wall_share, 3)
        failed = [r for r in records if r["error"]]
        if failed:
            first = failed[0]
            result.status = TrialStatus.FAILED
            result.error = f"fold {first['fold']}/{k} failed ({len(failed)} of {k} folds): {first['error']}"
        elif len(records) < k:
            result.status = TrialStatus.FAILED
            result.error = f"{k - len(records)} of {k} folds did not run: {search_error or 'no record was written'}"
        elif result.status is TrialStatus.OK and not math.isfinite(score):
            result.status = TrialStatus.FAILED
            result.error = f"the cross-validation score is not finite ({score})"
        shutil.rmtree(folder, ignore_errors=True)  # everything the fold records held is in the trial record now
        return result


class _Pruned:
    """A fold's pruning reason read back from its record, shaped as `finish` reads a Diagnosis."""

    def __init__(self, record: dict[str, str]) -> None:
        from gridsearch.diagnosis.rules import Label

        self.label, self.evidence = Label(record["label"]), record["evidence"]


def _scores(cv_results: dict[str, Any] | None, i: int, folds: int, train: bool) -> dict[str, Any]:
    """One candidate's row of `cv_results_` (NaN when the search did not finish)."""
    if cv_results is None:
        return {"mean": math.nan, "std": math.nan, "fit_time": math.nan, "split": []}
    part = "train" if train else "test"
    return {"mean": float(cv_results[f"mean_{part}_score"][i]), "std": float(cv_results[f"std_{part}_score"][i]),
            "fit_time": round(float(cv_results["mean_fit_time"][i]), 3),
            "split": [float(cv_results[f"split{s}_{part}_score"][i]) for s in range(folds)]}


BACKEND = SklearnBackend()
