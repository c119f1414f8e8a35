"""The staged search: plan -> backend -> trial records -> leaderboard -> retrained winner.

Each stage's candidates are the stage's grid with every earlier winner frozen. A config
that already finished (in an earlier stage, or in an earlier run of this folder) is
reused from its record instead of trained again; this is also how a killed run resumes.
"""
from __future__ import annotations

import json
import os
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from .artifacts import with_artifacts
from .backends import Candidate, get_backend
from .cluster import LOOPBACK, Address
from .data import Dataset, load_dataset, trial_inputs
from .errors import SearchFailed, SpaceError
from .leaderboard import build_leaderboard, rank_key
from .models import resolve_builder
from .plan import PlannedStage, base_config, make_plan, tuned_names
from .space_file import LoadedSpace
from .store import KILL_ENV, ResultsStore, atomic_write_json, atomic_write_text, fault_point, results_folder
from .training import TrainingContext, retrain_and_test
from .trial import TrialResult, TrialStatus, config_id

PACKAGES = ("gridsearch", "tensorflow", "keras", "keras-tuner", "scikit-learn", "scikeras", "pandas", "numpy")


@dataclass
class RunOptions:
    results_root: Path = Path("results")
    full_grid: bool = False
    backend: str | None = None  # overrides the space's
    overwrite: bool = False
    resume_changed: bool = False
    prune: bool = True
    jobs: int | None = None  # overrides the space's n_jobs (backends that fit in parallel)
    workers: int = 0  # keras_tuner: worker processes this run starts on its own machine (chief.py)
    bind: Address | None = None  # keras_tuner: serve the oracle here and act as a chief (loopback with --workers)
    dask_scheduler: str | None = None  # sklearn: fit over this Dask scheduler, or "local" (dask_jobs.py)


class Reporter(Protocol):
    """What the search tells its caller as it goes (the CLI prints it).

    A reporter may also define `keras_callbacks() -> list` (e.g. a per-epoch progress bar): they
    are added to every fit; and `note(text)`: what a distributed run has to say as it goes (a worker
    died, waiting for workers). The run also writes plots and TensorBoard logs through this
    interface (`artifacts.SearchArtifacts`).
    """

    def stage_started(self, stage: PlannedStage, total_stages: int, to_train: int, reused: int) -> None: ...
    def trial_finished(self, result: TrialResult, objective: str) -> None: ...
    def stage_finished(self, stage: PlannedStage, winner: TrialResult, objective: str) -> None: ...


@dataclass
class SearchSummary:
    folder: Path
    results: list[TrialResult]
    winner: TrialResult
    test_scores: dict[str, float]
    trained: int  # trials trained in this run
    reused: int  # rows served by a config trained in an earlier stage of the plan
    resumed: int  # rows served by a record of an earlier, interrupted run
    duration_s: float
    notes: list[str] = field(default_factory=list)


def space_dataset(loaded: LoadedSpace) -> Dataset:
    """The space's data, split once: the same split in the chief, in every worker and in every run."""
    space = loaded.space
    return load_dataset(space.data, seed=space.seed, validation_split=space.validation_split,
                        test_split=space.test_split, folder=loaded.folder, options=space.data_options,
                        where=str(loaded.path))


def training_context(loaded: LoadedSpace, dataset: Dataset, *, prune: bool, extra_callbacks: list[Any],
                     n_jobs: int = 1) -> TrainingContext:
    space = loaded.space
    return TrainingContext(dataset, resolve_builder(space.model), space.seed, space.objective,
                           space.objective_direction, prune=prune, extra_callbacks=extra_callbacks,
                           cv_folds=space.cv_folds, n_jobs=n_jobs, where=str(loaded.path))


def fingerprint(loaded: LoadedSpace) -> dict[str, Any]:
    """What, besides the hyperparameters, decides a trained model (see `config_id`)."""
    space = loaded.space
    data = space.data if isinstance(space.data, str) else f"{loaded.path}:{getattr(space.data, '__name__', 'data')}"
    model = space.model if isinstance(space.model, str) else f"{loaded.path}:{getattr(space.model, '__name__', 'model')}"
    return {"data": data, "model": model, "seed": space.seed, "objective": space.objective,
            "validation_split": space.validation_split, "test_split": space.test_split,
            "data_options": space.data_options}


def _check_manifest(store: ResultsStore, loaded: LoadedSpace, options: RunOptions) -> None:
    manifest = store.read_manifest()
    if manifest is None or options.overwrite or options.resume_changed:
        return
    if manifest.get("space_sha256") != loaded.sha256:
        if "space" not in manifest:
            what = "its content changed since"
        else:
            what = "; ".join(_space_changes(manifest["space"], space_summary(loaded.space))) or (
                "no field of the space differs, so the change is in the file's code or comments "
                "(a custom model or data loader?)")
        raise SpaceError(
            f"{store.folder} holds results of a different version of {loaded.path} "
            f"({what}). Run again with --overwrite to start over, or --resume-changed "
            f"to keep the trials whose config did not change (e.g. after appending a stage)")


def space_summary(space) -> dict[str, Any]:
    """What run.json remembers of the space, so that a changed file can be told apart field by field."""
    named = {key: value if isinstance(value, str) else getattr(value, "__name__", str(value))
             for key, value in (("data", space.data), ("model", space.model))}
    summary = {"stages": [{"name": stage.label, "grid": stage.grid} for stage in space.stages],
               "defaults": dict(space.defaults), **named,
               **{key: getattr(space, key) for key in ("epochs", "batch_size", "seed", "objective", "plan",
                                                       "validation_split", "test_split", "data_options")}}
    return json.loads(json.dumps(summary, default=str))  # as it reads back from run.json


def _space_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'stage 3 (l2) was added: ...', 'defaults['l2']: 0.0 -> 0.001', 'epochs: 3 -> 5'."""
    changes = []
    old_stages, new_stages = old.get("stages", []), new.get("stages", [])
    for number in range(1, max(len(old_stages), len(new_stages)) + 1):
        before = old_stages[number - 1] if number <= len(old_stages) else None
        after = new_stages[number - 1] if number <= len(new_stages) else None
        if before == after:
            continue
        if before is None:
            changes.append(f"stage {number} ({after['name']}) was added: {after['grid']}")
        elif after is None:
            changes.append(f"stage {number} ({before['name']}) was removed")
        else:
            changes.append(f"stage {number} changed: {before['grid']} -> {after['grid']}")
    old_defaults, new_defaults = old.get("defaults", {}), new.get("defaults", {})
    for name in dict.fromkeys([*old_defaults, *new_defaults]):
        if old_defaults.get(name, "(unset)") != new_defaults.get(name, "(unset)"):
            changes.append(f"defaults[{name!r}]: {old_defaults.get(name, '(unset)')!r} -> "
                           f"{new_defaults.get(name, '(unset)')!r}")
    for key in [k for k in dict.fromkeys([*old, *new]) if k not in ("stages", "defaults")]:
        if old.get(key) != new.get(key):
            changes.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return changes


def run_search(loaded: LoadedSpace, options: RunOptions, reporter: Reporter) -> SearchSummary:
    space = loaded.space
    backend_name = options.backend or space.backend
    _check_parallel_options(options, backend_name)
    store = ResultsStore(results_folder(options.results_root, space.name))
    created = [p for p in (store.trials_dir, store.folder, *store.folder.parents) if not p.exists()]
    store.acquire_lock()
    try:
        _check_manifest(store, loaded, options)
        if options.overwrite:
            store.clear()
        store.check_writable()
        dataset = space_dataset(loaded)
        store.write_manifest({"space_file": str(loaded.path), "space_sha256": loaded.sha256, "name": space.name,
                              "backend": backend_name, "started": _now(), "space": space_summary(space)})
        n_jobs = -1 if options.dask_scheduler else options.jobs or space.n_jobs  # -1: every Dask worker
        ctx = training_context(loaded, dataset, prune=options.prune, n_jobs=n_jobs,
                               extra_callbacks=fault_callbacks() + list(getattr(reporter, "keras_callbacks", list)()))
        notify = getattr(reporter, "note", None) or (lambda text: None)
        with _parallel_backend(loaded, options, store, backend_name, notify) as backend:
            reporter = with_artifacts(store.folder, space, options.full_grid, reporter)  # plots and TensorBoard logs
            rows, counts, started = _run_stages(loaded, options, store, backend, backend_name, ctx, reporter)
        return _finish(loaded, options, store, backend_name, ctx, rows, counts, started)
    finally:
        store.release_lock()
        for folder in created:  # a run refused before writing anything leaves no empty folders behind
            try:
                folder.rmdir()
            except OSError:
                break


def _check_parallel_options(options: RunOptions, backend_name: str) -> None:
    """Each backend's own way to run in parallel; refused, before anything runs, on the other one."""
    if (options.workers or options.bind) and backend_name != "keras_tuner":
        raise SpaceError(f"--workers and the chief command run Keras Tuner's distributed mode, not the {backend_name} "
                         f"backend: use --jobs N on one machine, or --dask-scheduler ADDRESS on a Dask cluster")
    if options.dask_scheduler and backend_name != "sklearn":
        raise SpaceError(f"--dask-scheduler runs scikit-learn's fits over Dask (the sklearn backend), not the "
                         f"{backend_name} backend: use --workers N, or the chief and worker commands")
    if options.dask_scheduler and options.dask_scheduler != "local" and options.jobs is not None:
        raise SpaceError(f"--jobs {options.jobs} with --dask-scheduler {options.dask_scheduler}: the cluster's workers "
                         f"decide how many fits run at once; --jobs only sizes a local cluster (--dask-scheduler local)")


@contextmanager
def _parallel_backend(loaded: LoadedSpace, options: RunOptions, store: ResultsStore, backend_name: str,
                      notify: Callable[[str], None]) -> Iterator[Any]:
    """The backend, inside whatever runs its parallel work for the whole run: a chief's oracle server and
    local workers, or a Dask cluster. Left before the winner is retrained, so that it has every core."""
    if options.workers or options.bind:
        from .chief import ChiefBackend

        bind = options.bind or Address(LOOPBACK, 0)  # --workers alone: loopback, a free port
        with ChiefBackend(store.folder, loaded.path, loaded.sha256, options.results_root, bind, options.workers,
                          options.prune, notify) as backend:
            yield backend
    elif options.dask_scheduler:
        from .dask_jobs import joblib_over_dask

        with joblib_over_dask(options.dask_scheduler, options.jobs, store.folder, notify):
            yield get_backend(backend_name)
    else:
        yield get_backend(backend_name)


def _run_stages(loaded: LoadedSpace, options: RunOptions, store: ResultsStore, backend, backend_name: str,
                ctx: TrainingContext, reporter: Reporter) -> tuple[list[TrialResult], tuple[int, int, int], float]:
    """Every stage of the plan; returns the leaderboard's rows, (trained, reused, resumed) and the start time."""
    space, started = loaded.space, time.perf_counter()
    plan = make_plan(space, options.full_grid)
    run_fingerprint = {**fingerprint(loaded), **backend.fingerprint(space)}  # another backend's records are not reused
    finished = store.finished_trials()
    rows: list[TrialResult] = []
    frozen: dict[str, Any] = {}
    trained = reused = resumed = 0

    def record(result: TrialResult) -> None:
        store.save_trial(result)
        fault_point("trial_saved")
        release_traced_graphs()
        finished[result.config_id] = result
        reporter.trial_finished(result, space.objective)

    for stage in plan:
        candidates, stage_rows = [], []
        for k, values in enumerate(stage.candidates(), start=1):
            config = {**base_config(space), **frozen, **values}
            cid = config_id(config, run_fingerprint)
            trial_id = f"s{stage.index}_t{k}"
            stage_rows.append((trial_id, cid))
            if cid not in finished:
                candidates.append(Candidate(trial_id, cid, config))
        reporter.stage_started(stage, len(plan), len(candidates), len(stage_rows) - len(candidates))
        backend.run_stage(stage, candidates, ctx, record, store.folder / backend_name)
        trained += len(candidates)
        this_stage = []
        for trial_id, cid in stage_rows:
            source = finished.get(cid)
            if source is None:  # a backend that lost a candidate is a bug; say so rather than rank without it
                raise SearchFailed(f"backend {backend_name} returned no result for trial {trial_id}")
            if source.trial_id == trial_id and source.stage == stage.index:
                row = source
                if not any(c.config_id == cid for c in candidates):
                    resumed += 1
            else:
                row = replace(source, trial_id=trial_id, stage=stage.index, stage_name=stage.name,
                              reused_from=source.reused_from or source.trial_id, duration_s=0.0)
                reused += 1
            this_stage.append(row)
        rows.extend(this_stage)
        _write_leaderboard(store, space, rows, tuned_names(space))
        ok = [r for r in this_stage if r.status is TrialStatus.OK]
        if not ok:
            errors = "; ".join(f"{r.trial_id}: {r.error}" for r in this_stage)
            raise SearchFailed(f"every trial of stage {stage.index} ({stage.name}) failed, so there is no winner "
                               f"to carry on with; results so far are in {store.folder}. Errors: {errors}")
        winner = min(ok, key=lambda r: rank_key(r, space.objective, space.objective_direction))
        frozen.update({name: winner.config[name] for name in stage.grid})
        reporter.stage_finished(stage, winner, space.objective)
        fault_point("stage_end")

    return rows, (trained, reused, resumed), started


def _finish(loaded: LoadedSpace, options: RunOptions, store: ResultsStore, backend_name: str, ctx: TrainingContext,
            rows: list[TrialResult], counts: tuple[int, int, int], started: float) -> SearchSummary:
    """Retrain the winner on train+validation, score it on the test split, write best_config.json."""
    space = loaded.space
    ok = [r for r in rows if r.status is TrialStatus.OK]
    winner = min(ok, key=lambda r: rank_key(r, space.objective, space.objective_direction))
    model, test_scores = retrain_and_test(winner.config, ctx, winner.best_epoch or winner.config["epochs"])
    model.save(store.folder / "best_model.keras")
    _write_best_config(store, loaded, backend_name, options, winner, test_scores, ctx.dataset)
    return SearchSummary(store.folder, rows, winner, test_scores, *counts, round(time.perf_counter() - started, 1))


def release_traced_graphs() -> None:
    """After a trial, let its traced graphs go: memory stays flat over hundreds of trials.

    `keras.backend.clear_session()` (before every build) is not enough with TensorFlow 2.x: each trace
    through `tf.custom_gradient` registers a gradient function in TensorFlow's global registry that is
    never removed, and its closure keeps the whole traced train step alive (~5 MB a trial here;
    tensorflow/tensorflow#61791). An entry is only needed while its own trace is differentiated, which
    is over once the trial has finished. `benchmarks/memory.py` measures the effect.
    """
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):  # another TensorFlow, or none: nothing to release
        return
    for name in [name for name in registry if name.startswith("CustomGradient-")]:
        del registry[name]


def fault_callbacks() -> list[Any]:
    """The fault-injection hook's kill points inside training: trial_start (every fit, the final
    retrain included) and epoch_end. Only when GRIDSEARCH_KILL_AT is set (tests); see `store.fault_point`."""
    if not os.environ.get(KILL_ENV):
        return []
    import keras

    class FaultPoints(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            fault_point("trial_start")

        def on_epoch_end(self, epoch, logs=None):
            fault_point("epoch_end")

    return [FaultPoints()]


def _write_leaderboard(store: ResultsStore, space, rows: list[TrialResult], names: list[str]) -> None:
    board = build_leaderboard(rows, names, space.objective, space.objective_direction)
    atomic_write_text(store.folder / "leaderboard.csv", board.to_csv(index=False))


def _write_best_config(store: ResultsStore, loaded: LoadedSpace, backend_name: str, options: RunOptions,
                       winner: TrialResult, test_scores: dict[str, float], dataset: Dataset) -> None:
    space = loaded.space
    atomic_write_json(store.folder / "best_config.json", {
        "hyperparameters": winner.config,
        "metrics": {**winner.metrics, **test_scores, "best_epoch": winner.best_epoch,
                    "retrained_epochs": winner.best_epoch or winner.config["epochs"]},
        "trial_id": winner.reused_from or winner.trial_id,
        "diagnosis": winner.diagnosis,
        "data": {"input_shape": list(trial_inputs(dataset, winner.config)[0].shape[1:]), "num_classes": dataset.num_classes,
                 "classes": dataset.classes},
        "provenance": {
            "space_file": str(loaded.path.resolve()), "space_sha256": loaded.sha256, "space_name": space.name,
            "model": space.model if isinstance(space.model, str) else getattr(space.model, "__name__", "custom"),
            "objective": space.objective, "backend": backend_name,
            "plan": "full_grid" if options.full_grid or space.plan == "full_grid" else "staged",
            "seed": space.seed, "created": _now(), "python": platform.python_version(),
            "packages": _package_versions(),
        },
    })


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
