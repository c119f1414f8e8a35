"""The staged search: plan -> backend -> trial records -> leaderboard -> retrained winner.

Each stage's candidates are the stage's grid with every earlier winner frozen. A config
that already finished (in an earlier stage, or in an earlier run of this folder) is
reused from its record instead of trained again; this is also how a killed run resumes.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from gridsearch.backends import Candidate, get_backend
from gridsearch.data.dataset import Dataset, image_reading
from gridsearch.distributed import ParallelMode, requested_mode, running_backend
from gridsearch.distributed.cluster import Address
from gridsearch.errors import SearchFailed, SpaceError, did_you_mean, not_allowed
from gridsearch.plans.stages import Plan, PlannedStage, base_config, plan_name, search_plan, tuned_names
from gridsearch.reports.artifacts import with_artifacts
from gridsearch.reports.reporter import Reporter
from gridsearch.results.atomic import atomic_save_model, atomic_write_json, atomic_write_text
from gridsearch.results.layout import (
    CACHE_DIR,
    DOCTOR_REPORT,
    LEADERBOARD,
    MODEL_FILES,
    PREFLIGHT,
    PREPARATION,
    RAW_IMAGES,
    results_folder,
    write_best_config,
)
from gridsearch.results.leaderboard import build_leaderboard, rank_key
from gridsearch.results.store import ResultsStore
from gridsearch.search.preflight import PreflightReport, preflight_search
from gridsearch.space.loader import LoadedSpace, load_space
from gridsearch.training.fit import TrainingContext, build_model, retrain_and_test, training_context
from gridsearch.training.lint import ERROR, OK, Finding, lint_model
from gridsearch.training.preparation import raw_image_model
from gridsearch.training.runtime import fault_callbacks, fault_point, long_lived_objects_frozen, release_traced_graphs
from gridsearch.training.trial import TrialResult, TrialStatus, config_id

PACKAGES = ("gridsearch", "tensorflow", "keras", "keras-tuner", "scikit-learn", "scikeras", "pandas", "numpy")


@dataclass
class RunOptions:
    results_root: Path | str = Path("results")
    full_grid: bool = False
    backend: str | None = None  # overrides the space's
    overwrite: bool = False
    resume_changed: bool = False
    prune: bool = True
    halving: bool = False  # successive halving within each stage (pruning.py)
    jobs: int | None = None  # overrides the space's n_jobs (backends that fit in parallel)
    workers: int | None = None  # keras_tuner: worker processes this run starts on its own machine (chief.py)
    bind: Address | None = None  # keras_tuner: serve the oracle here and act as a chief (loopback with --workers)
    dask_scheduler: str | None = None  # sklearn: fit over this Dask scheduler, or "local" (dask_jobs.py)

    def __post_init__(self) -> None:
        self.results_root = Path(self.results_root)  # a str from Python callers


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
    epochs: dict[str, int] = field(default_factory=dict)  # see `epoch_budget`
    notes: list[str] = field(default_factory=list)
    doctor: dict[str, Any] | None = None  # plan="auto": the doctor's report (also in doctor.json)
    ensemble: dict[str, Any] | None = None  # ensemble.json's content when the space asks for `ensemble=K`
    retried: int = 0  # of `trained`: configs an earlier run recorded as failed, trained again


def fingerprint(loaded: LoadedSpace, dataset: Dataset) -> dict[str, Any]:
    """What, besides the hyperparameters, decides a trained model (see `config_id`): the split's content
    itself, not only where it was read from, so that regenerated data is never served old trials."""
    space = loaded.space
    model = space.model if isinstance(space.model, str) else f"{loaded.path}:{getattr(space.model, '__name__', 'model')}"
    return {"data_sha256": dataset.sha256, "model": model, "seed": space.seed, "objective": space.objective}


def _check_manifest(store: ResultsStore, loaded: LoadedSpace, options: RunOptions) -> None:
    manifest = store.read_manifest()
    nothing_to_mix = not any(store.trials_dir.glob("*.json"))  # e.g. a run refused by a backend's own checks
    if manifest is None or options.overwrite or options.resume_changed or nothing_to_mix:
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
               **{f.name: getattr(space, f.name) for f in dataclasses.fields(space)
                  if f.name not in ("stages", "defaults", "data", "model")}}
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


def run_search(space_file: LoadedSpace | str | os.PathLike, options: RunOptions | None = None,
               reporter: Reporter | None = None) -> SearchSummary:
    """Run the search of a space file (a path, or one `load_space` already loaded) and retrain its winner.

    `options` are the command line's (results folder, --full-grid, --backend, ...); `reporter` hears the
    search as it goes (silent by default). SpaceError before any training for bad input; SearchFailed
    when the search cannot go on (what finished is kept)."""
    loaded = space_file if isinstance(space_file, LoadedSpace) else load_space(space_file)
    options = options or RunOptions()
    reporter = reporter or Reporter()
    space = loaded.space
    backend_name = options.backend or space.backend
    mode = _check_options(options, backend_name)
    store = ResultsStore(results_folder(options.results_root, space.name))
    created = [p for p in (store.trials_dir, store.folder, *store.folder.parents) if not p.exists()]
    store.acquire_lock()
    try:
        _check_manifest(store, loaded, options)
        if options.overwrite:
            store.clear()
        store.check_writable()
        jobs = -1 if options.dask_scheduler else options.jobs  # -1: every Dask worker
        ctx = training_context(loaded, prune=options.prune, halving=options.halving, jobs=jobs,
                               extra_callbacks=fault_callbacks() + reporter.keras_callbacks(),
                               cache_dir=store.folder / CACHE_DIR, progress=reporter.data_progress)
        findings = lint_defaults(loaded, ctx)
        plan = search_plan(space, options.full_grid)
        base = base_config(space)
        get_backend(backend_name).check(ctx, [{**base, **point} for stage in plan.stages()
                                               for point in stage.candidates()])
        reporter = with_artifacts(store.folder, space, plan.stages(), reporter)  # plots and TensorBoard logs
        # before the manifest: a run stopped here leaves no claim on the folder, so the fixed space runs at once
        _preflight(loaded, plan, store, ctx, reporter)
        store.write_manifest({"space_file": str(loaded.path), "space_sha256": loaded.sha256, "name": space.name,
                              "backend": backend_name, "started": _now(), "space": space_summary(space),
                              "lint": [asdict(finding) for finding in findings]})
        with running_backend(mode, backend_name, loaded, options, store, reporter.note) as backend, long_lived_objects_frozen():
            summary = _run_plan(loaded, options, store, backend, backend_name, ctx, reporter, plan)
        summary.notes.extend(f"model lint, {f.check}: {f.message}" for f in findings if f.severity != OK)
        return summary
    finally:
        store.release_lock()
        for folder in created:  # a run refused before writing anything leaves no empty folders behind
            try:
                folder.rmdir()
            except OSError:
                break


def _check_options(options: RunOptions, backend_name: str) -> ParallelMode | None:
    """Refuse, before anything runs, what the backend or the parallel mode cannot do; the mode asked for."""
    least = 0 if options.bind else 1  # a chief may leave all training to workers elsewhere
    if options.workers is not None and options.workers < least:
        raise SpaceError(not_allowed("--workers", options.workers, f"a number of worker processes >= {least}"))
    mode = requested_mode(options, backend_name)
    if options.halving:
        if not options.prune:
            raise SpaceError("--halving stops trials early and --no-prune says never to: give one of them")
        if not get_backend(backend_name).sequential_trials:
            raise SpaceError(f"--halving needs a backend whose trials finish one after another (keras_tuner): the "
                             f"{backend_name} backend fits a stage's configs at once, so no trial has finished "
                             f"siblings to be compared with")
    return mode


def lint_defaults(loaded: LoadedSpace, ctx: TrainingContext) -> list[Finding]:
    """lint.py's rules on the model the space's defaults build, before anything is written or trained.

    An error is a SpaceError (exit 2) naming the layer and the fix; warnings come back. So is a builder
    that cannot build the defaults: every stage starts from them, so every trial would fail with the same
    traceback (a builder that fails for some configs only still fails just those trials).
    """
    config = base_config(loaded.space)
    try:
        model = build_model(config, ctx)
    except KeyError as exc:  # the builder reads hp[name] of a name the space never declared
        name = exc.args[0] if exc.args else "?"
        raise SpaceError(f"the model builder of {loaded.path} (field 'model') reads hyperparameter {name!r}, which "
                         f"field 'defaults' does not declare; nothing was trained. Declare it there with its default value "
                         f"(defaults={{..., {name!r}: <value>}}): a custom model's own hyperparameters live in "
                         f"`defaults`, and a Stage may then tune them{did_you_mean(name, config)}") from None
    except Exception as exc:
        raise SpaceError(f"the model builder of {loaded.path} (field 'model') fails on the defaults, where every "
                         f"stage starts, so every trial would fail; nothing was trained: {type(exc).__name__}: "
                         f"{exc}".strip()) from None
    findings = lint_model(model, ctx.dataset.num_classes)
    errors = [finding for finding in findings if finding.severity == ERROR]
    if errors:
        raise SpaceError(f"the model of {loaded.path} (field 'model', built with the defaults) cannot learn this "
                         f"task; nothing was trained:\n" + "\n".join(f"  [{f.check}] {f.message}" for f in errors))
    return findings


def _preflight(loaded: LoadedSpace, plan: Plan, store: ResultsStore, ctx: TrainingContext,
               reporter: Reporter) -> PreflightReport:
    """Check the data and the baseline model once, save and report the findings; stop on a blocking error."""
    path = store.folder / PREFLIGHT
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or a leftover that cannot be read: check again
        earlier = None
    if not isinstance(earlier, dict) or earlier.get("space_sha256") != loaded.sha256:
        earlier = None  # another version of the space: check again
    tuned = {name for stage in plan.stages() for name in stage.grid}
    report = preflight_search(ctx, base_config(loaded.space), earlier=earlier).for_plan(tuned)
    atomic_write_json(path, report.to_json(loaded.sha256))
    reporter.preflight_finished(report)
    blocking = report.blocking(tuned)
    if blocking:
        reasons = "; ".join(f"{f.check}: {f.message}" for f in blocking)
        raise SpaceError(f"pre-flight check failed, so every trial would be wasted, and none was started: "
                         f"{reasons}. Fix it and run again (all findings: {path})")
    return report


def _run_plan(loaded: LoadedSpace, options: RunOptions, store: ResultsStore, backend, backend_name: str,
              ctx: TrainingContext, reporter: Reporter, plan: Plan) -> SearchSummary:
    space, started = loaded.space, time.perf_counter()
    total_stages = len(plan.stages())
    run_fingerprint = {**fingerprint(loaded, ctx.dataset), **backend.fingerprint(space)}  # another backend's records are not reused
    # A failed trial is trained again: the builder or data that failed it may have been fixed since, and
    # serving the old failure would leave only --overwrite, which also discards every good trial.
    earlier = store.finished_trials()
    failed_before = {cid for cid, r in earlier.items() if r.status is TrialStatus.FAILED}
    finished = {cid: r for cid, r in earlier.items() if cid not in failed_before}
    rows: list[TrialResult] = []
    columns = tuned_names(space)
    frozen: dict[str, Any] = {}
    first_row: dict[str, str] = {}  # config id -> the trial id that config has first in this plan
    counts = {"trained": 0, "reused": 0, "resumed": 0, "retried": 0}
    siblings: list[dict[str, list[float]]] = []  # the running stage's finished histories, for sibling pruning

    def record(result: TrialResult) -> None:
        store.save_trial(result)
        fault_point("trial_saved")
        release_traced_graphs()
        finished[result.config_id] = result
        siblings.append(result.history)
        reporter.trial_finished(result, space.objective)

    def run_stage(stage: PlannedStage, *, allow_no_winner: bool = False) -> TrialResult:
        candidates, stage_rows = [], []
        for k, values in enumerate(stage.candidates(), start=1):
            config = {**base_config(space), **frozen, **values}
            cid = config_id(config, run_fingerprint)
            trial_id = f"s{stage.index}_t{k}"
            stage_rows.append((trial_id, cid))
            if cid not in finished:
                candidates.append(Candidate(trial_id, cid, config))
        reporter.stage_started(stage, max(total_stages, stage.index), len(candidates),
                               len(stage_rows) - len(candidates))
        siblings[:] = [finished[cid].history for _, cid in stage_rows if cid in finished]
        backend.run_stage(stage, candidates, ctx, record, store.folder / backend_name, siblings)
        counts["trained"] += len(candidates)
        counts["retried"] += sum(c.config_id in failed_before for c in candidates)
        this_stage = []
        for trial_id, cid in stage_rows:
            source = finished.get(cid)
            if source is None:  # a backend that lost a candidate is a bug; say so rather than rank without it
                raise SearchFailed(f"backend {backend_name} returned no result for trial {trial_id}")
            if cid in first_row:  # trained for an earlier row of this plan: say which
                row = replace(source, trial_id=trial_id, stage=stage.index, stage_name=stage.name,
                              reused_from=first_row[cid], duration_s=0.0)
                counts["reused"] += 1
            else:  # trained just now, or by an earlier run of this folder: this row's own
                if not any(c.config_id == cid for c in candidates):
                    counts["resumed"] += 1
                row = replace(source, trial_id=trial_id, stage=stage.index, stage_name=stage.name, reused_from="")
                first_row[cid] = trial_id
                if (source.trial_id, source.stage) != (trial_id, stage.index):  # kept from another plan (e.g.
                    record(row)  # --full-grid into a staged run's folder): its record, plot and logs under this id
            this_stage.append(row)
        rows.extend(this_stage)
        columns.extend(name for name in stage.grid if name not in columns)  # the doctor tunes unnamed ones too
        _write_leaderboard(store, space, rows, columns)
        best = min(this_stage, key=lambda r: rank_key(r, space.objective, space.objective_direction))
        if best.status is not TrialStatus.OK:
            if allow_no_winner:
                return best
            errors = "; ".join(f"{r.trial_id}: {r.error}" for r in this_stage)
            raise SearchFailed(f"every trial of stage {stage.index} ({stage.name}) failed, so there is no winner "
                               f"to carry on with; results so far are in {store.folder}. Errors: {errors}")
        frozen.update({name: best.config[name] for name in stage.grid})
        reporter.stage_finished(stage, best, space.objective)
        fault_point("stage_end")
        return best

    plan.run(run_stage)
    ok = [r for r in rows if r.status is TrialStatus.OK]
    if not ok:
        raise SearchFailed(f"no trial finished, so there is no winner; results so far are in {store.folder}")
    winner = min(ok, key=lambda r: rank_key(r, space.objective, space.objective_direction))
    try:
        model, test_scores = retrain_and_test(winner.config, ctx, winner.retrain_epochs)
        if not math.isfinite(test_scores.get("test_loss", math.nan)):
            raise ValueError(f"the retrained model's test loss is {test_scores.get('test_loss')}")
        store.discard_derived()  # the ensemble and calibrations of an earlier winner
        (store.folder / PREPARATION).unlink(missing_ok=True)  # an earlier winner's: this one has it inside
        normalizer = ctx.dataset.normalizer(winner.config)
        atomic_save_model(raw_image_model(model, normalizer, ctx.dataset.input_shape), store.folder / MODEL_FILES[False, False])
    except Exception as exc:
        raise SearchFailed(f"retraining the winner {winner.reused_from or winner.trial_id} on train+validation "
                           f"failed ({type(exc).__name__}: {exc}); the leaderboard in {store.folder} is complete, "
                           "and running the same command again retries only this step") from exc
    epochs = epoch_budget(rows)
    _write_best_config(store, loaded, backend_name, options, winner, test_scores, ctx.dataset, epochs)
    report = plan.report()
    if report is not None:
        atomic_write_json(store.folder / DOCTOR_REPORT, {**report, "test": test_scores})
    summary = SearchSummary(store.folder, rows, winner, test_scores, counts["trained"], counts["reused"],
                            counts["resumed"], 0.0, epochs, doctor=report, retried=counts["retried"])
    if space.ensemble:
        from gridsearch.serving.ensemble import build_ensemble

        _, summary.ensemble = build_ensemble(store.folder, ctx, space.ensemble)
    summary.duration_s = round(time.perf_counter() - started, 1)
    return summary


def epoch_budget(rows: list[TrialResult]) -> dict[str, int]:
    """Epochs of the distinct configs trained: planned, run, and saved by pruning (planned minus run, pruned ones)."""
    trials = [row for row in rows if not row.reused_from]
    pruned = [row for row in trials if row.status is TrialStatus.PRUNED]
    return {"planned": sum(row.config["epochs"] for row in trials), "run": sum(row.epochs_run for row in trials),
            "pruned_trials": len(pruned), "saved_by_pruning": sum(row.config["epochs"] - row.epochs_run for row in pruned)}


def _write_leaderboard(store: ResultsStore, space, rows: list[TrialResult], names: list[str]) -> None:
    board = build_leaderboard(rows, names, space.objective, space.objective_direction)
    atomic_write_text(store.folder / LEADERBOARD, board.to_csv(index=False))


def _write_best_config(store: ResultsStore, loaded: LoadedSpace, backend_name: str, options: RunOptions,
                       winner: TrialResult, test_scores: dict[str, float], dataset: Dataset,
                       epochs: dict[str, int]) -> None:
    space = loaded.space
    write_best_config(store.folder, {
        "hyperparameters": winner.config,
        "metrics": {**winner.metrics, **test_scores, "best_epoch": winner.best_epoch,
                    "retrained_epochs": winner.retrain_epochs},
        "trial_id": winner.reused_from or winner.trial_id,
        "diagnosis": winner.diagnosis,
        "epochs": epochs,
        "data": {"input_shape": list(dataset.prepared_shape(winner.config)), "num_classes": dataset.num_classes,
                 "classes": dataset.classes, "image_shape": list(dataset.input_shape),  # before grayscale
                 "images": image_reading(space.data, loaded.folder, space.data_options),
                 "input_range": list(dataset.value_range()),  # predict's check
                 "model_input": RAW_IMAGES},
        "provenance": {
            "space_file": str(loaded.path.resolve()), "space_sha256": loaded.sha256, "space_name": space.name,
            "model": space.model if isinstance(space.model, str) else getattr(space.model, "__name__", "custom"),
            "objective": space.objective, "backend": backend_name,
            "plan": plan_name(space, options.full_grid), "halving": options.halving,
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
