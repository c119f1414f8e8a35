"""The command line: parsing, printing and exit codes. The logic lives in the other modules.

Exit codes: 0 done, 2 bad input (nothing trained), 1 a failure during the search (what
finished is kept), 130 interrupted (run the same command again to resume).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from gridsearch import __version__
from gridsearch.backends import available_backends
from gridsearch.reports.reporter import Reporter  # light: no TensorFlow behind it
from gridsearch.training.runtime import quiet_tensorflow  # light as well

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
LEADERBOARD_FORMATS = ("table", "csv", "markdown", "json")
VERBOSE_ENV = "GRIDSEARCH_VERBOSE"  # set (to anything but 0) = --verbose: TensorFlow's own start-up lines shown


def _format_values(values: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


class ConsoleReporter(Reporter):
    """One line per finished trial, a header per stage."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        self._stage = None

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def data_progress(self, step, done, total) -> None:
        if done == total:
            self._print(f"data: {step}, {total:,} done")

    def preflight_finished(self, report) -> None:
        counts = {severity: sum(f.severity == severity for f in report.findings) for severity in ("error", "warning")}
        reused = f", {', '.join(report.reused)} kept from the last run" if report.reused else ""
        self._print(f"pre-flight: {len(report.findings)} checks in {report.seconds:.1f}s{reused}: "
                    f"{counts['error']} error(s), {counts['warning']} warning(s)")
        for finding in report.findings:
            if finding.severity != "ok":
                self._print(f"  {finding.severity} {finding.check}: {finding.message}")
        passed = [f.check for f in report.findings if f.severity == "ok"]
        if passed:
            self._print(f"  ok: {', '.join(passed)}")

    def stage_started(self, stage, total_stages, to_train, reused) -> None:
        self._stage = stage
        extra = f", {reused} already trained" if reused else ""
        self._print(f"stage {stage.index}/{total_stages} [{stage.name}]: {stage.size} configs, {to_train} to train{extra}")
        if stage.reason:
            self._print(f"  why: {stage.reason}")

    def trial_finished(self, result, objective) -> None:
        tuned = {k: result.config[k] for k in self._stage.grid} if self._stage else {}
        score = result.objective(objective)
        label = result.diagnosis.get("label", "")
        status = "" if result.status.value == "ok" else f" [{result.status.value}: {result.error.splitlines()[0]}]"
        self._print(f"  {result.trial_id} {_format_values(tuned)}  {objective}={score:.4f}  "
                    f"epochs={result.epochs_run}  {result.duration_s:.1f}s  {label}{status}")

    def stage_finished(self, stage, winner, objective) -> None:
        tuned = _format_values({k: winner.config[k] for k in stage.grid}) or "the defaults"
        self._print(f"  -> stage {stage.index} winner: {tuned} "
                    f"({objective}={winner.objective(objective):.4f})")

    def note(self, text) -> None:
        self._print(f"  ({text})")


def _cmd_search(args: argparse.Namespace) -> int:
    """`run`, `doctor` and `chief`: one search; each command's parser sets (or defaults) every option."""
    from gridsearch.space.loader import load_space

    loaded = load_space(args.space, plan=args.plan)  # before importing the training stack: refused at once
    from gridsearch.distributed.cluster import parse_address
    from gridsearch.search.run import RunOptions, run_search

    options = RunOptions(results_root=Path(args.results_dir), full_grid=args.full_grid, backend=args.backend,
                         overwrite=args.overwrite, resume_changed=args.resume_changed, prune=not args.no_prune,
                         halving=args.halving, jobs=args.jobs, workers=args.workers,
                         dask_scheduler=args.dask_scheduler,
                         bind=parse_address(args.bind, "--bind", allow_any_port=True) if args.bind else None)
    from gridsearch.plans.stages import search_plan
    from gridsearch.reports.progress import search_reporter

    planned = sum(stage.size for stage in search_plan(loaded.space, options.full_grid).stages())
    with search_reporter(ConsoleReporter, planned, quiet=args.quiet) as reporter:  # bars in a terminal only
        summary = run_search(loaded, options, reporter)
    space, winner = loaded.space, summary.winner
    print()
    print(f"done in {summary.duration_s:.0f}s: {len(summary.results)} trials, {summary.trained} trained, "
          f"{summary.reused} reused from an earlier stage, {summary.resumed} kept from an earlier run"
          + (f", {summary.retried} failed in an earlier run and retried" if summary.retried else ""))
    epochs = summary.epochs
    if epochs.get("planned"):
        print(f"epochs: {epochs['run']} of {epochs['planned']} planned run; pruning stopped {epochs['pruned_trials']} "
              f"trial(s) early and saved {epochs['saved_by_pruning']} epochs "
              f"({epochs['saved_by_pruning'] / epochs['planned']:.0%})")
    if summary.doctor:
        _print_doctor(summary.doctor)
    tuned = _tuned(space) + [n for step in (summary.doctor or {}).get("steps", []) for n in step["grid"]]
    print(f"winner {winner.reused_from or winner.trial_id}: "
          f"{_format_values({k: winner.config[k] for k in dict.fromkeys(tuned)})}")
    where = (f"mean of {winner.extra['cv_folds']} folds, std {winner.extra['cv_std']:.4f}; curve best at epoch"
             if "cv_folds" in winner.extra else "validation, epoch")
    print(f"  {space.objective}={winner.objective(space.objective):.4f} ({where} {winner.best_epoch}), "
          f"diagnosis: {winner.diagnosis.get('label', '?')}")
    print(f"  retrained on train+validation, test accuracy={summary.test_scores.get('test_accuracy', float('nan')):.4f}"
          f" test loss={summary.test_scores.get('test_loss', float('nan')):.4f}")
    for note in summary.notes:
        print(f"note: {note}")
    doctor = f", {summary.folder}/doctor.json" if summary.doctor else ""
    print(f"results: {summary.folder}/leaderboard.csv, {summary.folder}/best_config.json{doctor}")
    if summary.ensemble:
        _print_ensemble(summary.ensemble, summary.folder)
    print(f"see it: python -m gridsearch report {summary.folder}; tensorboard --logdir {summary.folder}/tensorboard")
    return EXIT_OK


def _print_doctor(report: dict) -> None:
    """The doctor's before/after: the baseline, each step and why, the final winner."""

    def score(summary: dict) -> str:
        value = summary["score"]
        return f"{report['objective']}={value:.4f}" if value is not None else f"no {report['objective']}"

    def state(summary: dict) -> str:
        status = "" if summary["status"] == "ok" else f", {summary['status']}"
        return f"{summary['trial_id']} {summary['label'] or 'undiagnosed'}{status}, {score(summary)}"

    base, final = report["baseline"], report["final"]
    print(f"doctor: baseline {state(base)}")
    if base["evidence"]:
        print(f"  evidence: {base['evidence']}")
    for number, step in enumerate(report["steps"], start=1):
        print(f"  step {number}, stage {step['stage']} [{step['name']}]: {step['reason']}")
        print(f"    -> {_format_values(step['chosen'])}: {state(step['winner'])}")
    changed = ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in report["changed"].items()) or "nothing"
    print(f"  final: {state(final)} (stopped: {report['stopped']}); changed: {changed}")
def _print_ensemble(report: dict, folder: Path) -> None:
    members, winner = ", ".join(m["trial_id"] for m in report["members"]), report["winner"]
    print(f"ensemble of the top {report['size']} ({members}), on the {report['test_samples']} test images:")
    print(f"  ensemble:     test accuracy={report['test_accuracy']:.4f} log loss={report['test_log_loss']:.4f} "
          f"ECE={report['test_ece']:.4f}")
    print(f"  winner alone: test accuracy={winner['test_accuracy']:.4f} log loss={winner['test_log_loss']:.4f} "
          f"ECE={winner['test_ece']:.4f} ({winner['trial_id']})")
    print(f"  (ECE: expected calibration error, {report['ece_bins']} bins, what `calibrate` then corrects)")
    if report["size"] < report["requested"]:
        print(f"  note: only {report['size']} distinct configs finished, fewer than the {report['requested']} asked for")
    print(f"saved: {Path(folder) / report['model']}, {Path(folder) / 'ensemble.json'}")


def _print_calibration(which: str, report: dict, folder: Path) -> None:
    test = report["test"]
    print(f"calibrated the {which}: temperature T={report['temperature']:.3f}, fitted on the validation split "
          f"(predicted by the same config(s) trained on the training split only)")
    print(f"  on the {test['samples']} test images: ECE ({report['ece_bins']} bins) {test['ece_before']:.4f} -> "
          f"{test['ece_after']:.4f}, log loss {test['log_loss_before']:.4f} -> {test['log_loss_after']:.4f}, "
          f"accuracy {test['accuracy']:.4f} (unchanged)")
    if test["ece_after"] >= test["ece_before"]:
        print("  note: the temperature did not lower the test ECE; this model was already about calibrated, "
              "and the uncalibrated one is as good a choice")
    print(f"saved: {Path(folder) / report['model']}, {Path(folder) / report['reliability_diagram']}")


def _cmd_ensemble(args: argparse.Namespace) -> int:
    from gridsearch.results.layout import read_best_config

    read_best_config(args.folder)  # no finished run: exit 2 before the training stack loads
    from gridsearch.results.reopen import reopen
    from gridsearch.serving.ensemble import build_ensemble

    ctx = reopen(args.folder)
    _print_ensemble(build_ensemble(args.folder, ctx, args.top)[1], Path(args.folder))
    if args.calibrate:
        from gridsearch.serving.calibration import calibrate

        _print_calibration("ensemble", calibrate(args.folder, ctx, ensemble=True), Path(args.folder))
    return EXIT_OK


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from gridsearch.results.layout import read_best_config

    read_best_config(args.folder)
    from gridsearch.results.reopen import reopen
    from gridsearch.serving.calibration import calibrate
    from gridsearch.serving.ensemble import read_ensemble_report

    if args.ensemble:
        read_ensemble_report(args.folder)  # no ensemble yet: say how to build one, before any training
    report = calibrate(args.folder, reopen(args.folder), ensemble=args.ensemble)
    _print_calibration("ensemble" if args.ensemble else "winner", report, Path(args.folder))
    return EXIT_OK


def _cmd_predict(args: argparse.Namespace) -> int:
    from gridsearch.serving.predict import InputRangeWarning, check_input, check_model_files, predict

    check_model_files(args.folder, ensemble=args.ensemble, calibrated=args.calibrated)
    check_input(args.input)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputRangeWarning)
        frame = predict(args.folder, args.input, ensemble=args.ensemble, calibrated=args.calibrated)
    for warning in caught:
        if issubclass(warning.category, InputRangeWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    text = frame.to_csv(index=False)
    if args.output:
        from gridsearch.results.atomic import atomic_write_text

        atomic_write_text(Path(args.output), text)
        print(f"predictions for {len(frame)} images: {args.output}")
    else:
        print(text, end="")
    return EXIT_OK


def _cmd_worker(args: argparse.Namespace) -> int:
    from gridsearch.space.loader import load_space

    loaded = load_space(args.space)
    from gridsearch.distributed.cluster import check_worker_id, default_worker_id, parse_address, parse_cores

    address = parse_address(args.chief, "--chief")
    worker_id = check_worker_id(args.id or default_worker_id())
    cores = parse_cores(args.cores) if args.cores else None
    from gridsearch.distributed.worker import run_worker

    def trained(result) -> None:
        if not args.quiet:
            print(f"worker {worker_id}: {result.trial_id} {result.status.value} in {result.duration_s:.1f}s", flush=True)

    summary = run_worker(loaded, address, Path(args.results_dir), worker_id, cores, args.wait, trained)
    if not args.quiet:
        print(f"worker {worker_id}: {summary.trained} trials trained; stopped because {summary.reason}")
    return EXIT_OK


def _tuned(space) -> list[str]:
    from gridsearch.plans.stages import tuned_names

    return [n for n in tuned_names(space) if any(n in s.grid for s in space.stages)]


def _results_folder(text: str) -> Path:
    """results/<name>, also when given as the path of its own leaderboard.csv."""
    path = Path(text)
    return path.parent if path.name == "leaderboard.csv" and path.is_file() else path


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    import pandas as pd

    from gridsearch.errors import SpaceError
    from gridsearch.results.leaderboard import as_text, fold_reused, read_leaderboard

    folder = _results_folder(args.folder)
    board = read_leaderboard(folder)
    if args.stage is not None:
        chosen = board[(board["stage"].astype(str) == args.stage) | (board["stage_name"] == args.stage)]
        if chosen.empty:
            stages = board.drop_duplicates("stage")
            listed = ", ".join(f"{s} {n}" for s, n in zip(stages["stage"], stages["stage_name"])) or "none yet"
            raise SpaceError(f"no trials in stage {args.stage} of {folder} (stages: {listed})")
        board = chosen
    if not args.all:
        board = fold_reused(board)
    if args.top:
        board = board.head(args.top)
    if args.format == "csv":
        print(board.to_csv(index=False), end="")
    elif args.format == "json":
        print(board.to_json(orient="records", indent=2))
    elif args.format == "markdown":
        print(_markdown(as_text(board)))
    else:
        hidden = ("advice", "error", "stage_name") + (() if args.all else ("reused_from",))  # folded: all blank
        columns = [c for c in board.columns if c not in hidden]
        with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 40):
            print(as_text(board[columns]).to_string(index=False))
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from gridsearch.results.leaderboard import read_leaderboard

    folder = _results_folder(args.folder)
    read_leaderboard(folder)  # no leaderboard, no report: exit 2 before the plotting stack loads
    from gridsearch.reports.html import write_report

    print(f"report: {write_report(folder, args.output)}")
    return EXIT_OK


def _cmd_diagnose(args: argparse.Namespace) -> int:
    import csv

    from gridsearch.diagnosis.logs import diagnose_log
    from gridsearch.errors import SpaceError

    if args.classes is not None and args.classes < 2:
        raise SpaceError(f"--classes {args.classes} is not allowed: a classifier has at least 2 classes")
    try:
        result = diagnose_log(args.file, args.classes)
    except OSError as exc:
        raise SpaceError(f"training log {args.file} cannot be read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:  # the reader's own messages name file, column, row
        raise SpaceError(f"training log {exc}" if str(exc).startswith(str(args.file)) else
                         f"training log {args.file}: {exc}") from None
    log, diagnosis = result.log, result.diagnosis
    if args.format == "json":
        import json

        print(json.dumps({"file": str(args.file), **result.to_dict()}, indent=2))
        return EXIT_OK
    classes = f"{result.num_classes} classes ({result.classes_from})" if result.num_classes else result.classes_from
    print(f"training log: {args.file} ({log.source}; {log.epochs} epochs, numbered from {log.first_epoch} as in the "
          f"log; {', '.join(log.history)}; {classes})")
    for note in log.notes:
        print(f"note:       {note}")
    if result.skipped:
        print(f"skipped:    {'; '.join(result.skipped)}: --classes N would add them")
    print(f"diagnosis:  {diagnosis.label} (confidence {diagnosis.confidence:.2f})")
    if diagnosis.cause:
        print(f"cause:      {diagnosis.cause}")
    print(f"advice:     {diagnosis.advice}")
    print(f"evidence:   {diagnosis.evidence}")
    print(f"flags:      {', '.join(flag.value for flag in diagnosis.flags) or 'none'}")
    if result.if_binary:
        print(f"if binary:  {result.if_binary.label} with --classes 2 ({result.if_binary.evidence})")
    return EXIT_OK


def _markdown(board) -> str:
    """GitHub markdown without a tabulate dependency."""
    header = "| " + " | ".join(map(str, board.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in board.columns) + " |"
    rows = ["| " + " | ".join(map(str, row)) + " |" for row in board.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _at_least_one(text: str) -> int:
    """A count of at least 1 (argparse turns the error into exit code 2)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: give a number >= 1")
    return value


def _add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """What `run`, `doctor` and `chief` share: the space and how to search it."""
    parser.add_argument("space", help="path to a space module defining `space = SearchSpace(...)`")
    parser.add_argument("--backend", choices=available_backends(),
                        help="override the space's backend: %(choices)s (default: the space's `backend`)")
    parser.add_argument("--overwrite", action="store_true", help="discard earlier results of this space and start over")
    parser.add_argument("--resume-changed", action="store_true",
                        help="resume although the space file changed (trials whose config is unchanged are kept)")
    parser.add_argument("--no-prune", action="store_true", help="never stop hopeless trials early")
    parser.add_argument("--halving", action="store_true",
                        help="successive halving within each stage: at a quarter and half of the epochs, a trial "
                             "outside the better half of its stage's trials so far stops (keras_tuner backend)")
    parser.add_argument("--jobs", type=_at_least_one, metavar="N",
                        help="fit in N processes in parallel (sklearn backend; overrides the space's n_jobs)")
    parser.add_argument("--results-dir", default="results", help="where results/<name>/ goes (default: results)")
    parser.add_argument("--quiet", action="store_true",
                        help="print nothing while the search runs (no progress bars, no per-trial lines), only the summary")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gridsearch",
                                     description="Staged hyperparameter grid search for Keras CNNs.")
    parser.add_argument("--version", action="version", version=f"gridsearch {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help=f"show TensorFlow's own start-up and C++ log lines (also: {VERBOSE_ENV}=1)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the search a space file describes")
    _add_search_arguments(run)
    run.add_argument("--full-grid", action="store_true", help="run the product of all stages instead of stage by stage")
    run.add_argument("--workers", type=int, metavar="N",
                     help="keras_tuner backend: train N trials at once, in N worker processes on this machine, each "
                          "on its share of the cores (Keras Tuner's distributed mode, oracle on loopback)")
    run.add_argument("--dask-scheduler", nargs="?", const="local", metavar="ADDRESS",
                     help="sklearn backend: run the fits on the Dask cluster of this scheduler (tcp://HOST:8786); "
                          "without an address, or 'local', on a LocalCluster of --jobs (default: one per core) workers")
    run.set_defaults(handler=_cmd_search, plan=None, bind=None)

    doctor = commands.add_parser("doctor", help="diagnose the baseline, tune what the diagnosis points to "
                                                "(the space run with plan='auto')")
    _add_search_arguments(doctor)
    doctor.set_defaults(handler=_cmd_search, plan="auto", full_grid=False, workers=None, dask_scheduler=None,
                        bind=None)

    chief = commands.add_parser("chief", help="run the search as the chief of workers on several machines")
    _add_search_arguments(chief)
    chief.add_argument("--bind", default="127.0.0.1:8000", metavar="HOST:PORT",
                       help="where the oracle listens (default 127.0.0.1:8000, this machine only; name an address of "
                            "this machine that the workers reach, e.g. 0.0.0.0:8000; unauthenticated gRPC: trusted "
                            "networks only)")
    chief.add_argument("--full-grid", action="store_true", help="run the product of all stages instead of stage by stage")
    chief.add_argument("--workers", type=int, default=0, metavar="N",
                       help="also start N workers on this machine (default 0)")
    chief.set_defaults(handler=_cmd_search, plan=None, dask_scheduler=None)

    worker = commands.add_parser("worker", help="train the trials a chief hands out")
    worker.add_argument("space", help="the chief's space file (the same content, or the worker is refused)")
    worker.add_argument("--chief", required=True, metavar="HOST:PORT", help="the chief's address, as this machine reaches it")
    worker.add_argument("--results-dir", default="results",
                        help="the chief's results folder, shared with it (default: results)")
    worker.add_argument("--id", help="this worker's name (default: HOST-PID)")
    worker.add_argument("--cores", help="run on these cores only, e.g. 0-3 (default: all this process may use)")
    worker.add_argument("--wait", type=float, default=600.0, metavar="SECONDS",
                        help="how long to wait for a chief, at the start and after a chief stopped (default 600)")
    worker.add_argument("--quiet", action="store_true", help="print nothing but errors")
    worker.set_defaults(handler=_cmd_worker)

    board = commands.add_parser("leaderboard", help="print the ranked table of a results folder")
    board.add_argument("folder", help="results/<name> (or its leaderboard.csv)")
    board.add_argument("--top", type=_at_least_one, metavar="N", help="only the N best configs")
    board.add_argument("--all", action="store_true",
                       help="every row, also those of a config reused from an earlier stage (by default folded "
                            "into the row that trained it, whose reused_as names them)")
    board.add_argument("--stage", help="only this stage (number or name)")
    board.add_argument("--format", choices=LEADERBOARD_FORMATS, default="table",
                       help="table (aligned text, the default), csv, markdown (GitHub) or json (one object per row)")
    board.set_defaults(handler=_cmd_leaderboard)

    report = commands.add_parser("report", help="write results/<name>/report.html: curves, stages, leaderboard")
    report.add_argument("folder", help="results/<name> (or its leaderboard.csv)")
    report.add_argument("--output", help="where to write the page (default: FOLDER/report.html)")
    report.set_defaults(handler=_cmd_report)

    ensemble = commands.add_parser("ensemble", help="average the top K distinct configs, retrained like the winner")
    ensemble.add_argument("folder", help="results/<name> of a finished run")
    ensemble.add_argument("--top", type=_at_least_one, required=True, metavar="K", help="number of members")
    ensemble.add_argument("--calibrate", action="store_true", help="then fit its temperature (as `calibrate --ensemble`)")
    ensemble.set_defaults(handler=_cmd_ensemble)

    calibrate = commands.add_parser("calibrate", help="temperature scaling on the validation split: calibrated.keras")
    calibrate.add_argument("folder", help="results/<name> of a finished run")
    calibrate.add_argument("--ensemble", action="store_true", help="calibrate the saved ensemble instead of the winner")
    calibrate.set_defaults(handler=_cmd_calibrate)

    predict = commands.add_parser("predict", help="predict labels of new images with the tuned model: a CSV")
    predict.add_argument("folder", help="results/<name> of a finished run")
    predict.add_argument("input", help="an image folder, an image file, or an .npz (array x)")
    predict.add_argument("--ensemble", action="store_true", help="use the ensemble (python -m gridsearch ensemble)")
    predict.add_argument("--calibrated", action="store_true", help="use the calibrated model (python -m gridsearch calibrate)")
    predict.add_argument("--output", metavar="CSV", help="write the CSV here (default: print it)")
    predict.set_defaults(handler=_cmd_predict)
    diagnose = commands.add_parser(
        "diagnose", help="diagnose a training log made elsewhere (CSVLogger file, history JSON, TensorBoard folder)",
        description="Label a training run from its per-epoch log: a Keras CSVLogger file (any separator, runs "
                    "appended: the last of 3 epochs or more), a history.history dumped as JSON, or a TensorBoard log "
                    "folder. It needs a loss; val_loss, accuracy, val_accuracy, learning_rate are read when present "
                    "(Keras 2's acc and lr, sparse_categorical_accuracy and the like are understood). Prints the "
                    "label, its confidence, the cause when the evidence names one, the advice, the numbers that "
                    "decided it and the other labels that also hold; epochs are numbered as in the log.")
    diagnose.add_argument("file", help="the CSV or JSON log, or the TensorBoard folder")
    diagnose.add_argument("--classes", type=int, metavar="N",
                          help="number of classes of the task. Chance accuracy is 1/N and an untrained model's loss "
                               "is ln N: they decide stuck_at_chance and bad_initial_loss. Without it the log's own "
                               "evidence is used (a binary metric's name, a loss flat at ln N), else those checks are "
                               "skipped and the output says so")
    diagnose.add_argument("--format", choices=("text", "json"), default="text",
                          help="text (the default) or json (the label, confidence, advice, evidence and flags)")
    diagnose.set_defaults(handler=_cmd_diagnose)
    for command in commands.choices.values():  # `run SPACE --verbose` as well as `--verbose run SPACE`
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                             help=f"show TensorFlow's own start-up and C++ log lines (also: {VERBOSE_ENV}=1)")
    return parser


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    from gridsearch.errors import GridsearchError

    args = build_parser().parse_args(argv)
    if not (args.verbose or os.environ.get(VERBOSE_ENV, "0") not in ("", "0")):
        quiet_tensorflow()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops like Ctrl-C: saved, resumable
    try:
        return args.handler(args)
    except GridsearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        again = " ".join(["python -m gridsearch", *(argv if argv is not None else sys.argv[1:])])
        print(f"\ninterrupted: finished trials are saved. Resume with: {again}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
