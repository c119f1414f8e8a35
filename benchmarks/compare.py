"""gridsearch against hand-written Keras Tuner, GridSearchCV and Optuna scripts, side by side in one run.

    python benchmarks/compare.py            # the full 72-point grid, 20 epochs (about an hour on 2 cores)
    python benchmarks/compare.py --quick    # a 16-point grid, 5 epochs (a few minutes)

Every method runs in its own subprocess (so peak RSS is its own) on the same split, the same
built-in CNN and the same grid, and prints one JSON line; the parent prints the table, with
each figure's ratio to the staged search, and writes benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent

FULL = {"grid": {"learning_rate": [1e-1, 1e-2, 1e-3, 1e-4], "batch_norm": [False, True],
                 "l2": [0.0, 1e-4, 1e-3], "noise": [0.0, 0.1, 0.3]}, "epochs": 20, "optuna_seeds": [0, 1, 2]}
QUICK = {"grid": {"learning_rate": [1e-2, 1e-3], "batch_norm": [False, True],
                  "l2": [0.0, 1e-3], "noise": [0.0, 0.1]}, "epochs": 5, "optuna_seeds": [0]}
DEFAULTS = {"learning_rate": 1e-3, "batch_norm": False, "l2": 0.0, "noise": 0.0}
BATCH, SEED = 32, 0
METHODS = ["staged", "halving", "full_grid", "keras_tuner", "gridsearchcv", "optuna", "overhead"]


# --- helpers shared by the children -------------------------------------------------------------
def _dataset():
    from gridsearch.data.dataset import load_dataset

    return load_dataset("digits", seed=SEED, validation_split=0.2, test_split=0.2, folder=HERE)


def _config(values: dict, epochs: int) -> dict:
    from gridsearch.space.hyperparams import builtin_defaults

    return {**builtin_defaults(), **DEFAULTS, **values, "epochs": epochs, "batch_size": BATCH}


def _build(values: dict, epochs: int, data):
    import keras

    from gridsearch.training.models import simple_cnn

    keras.utils.set_random_seed(SEED)
    return simple_cnn(_config(values, epochs), data.input_shape, data.num_classes)


def _disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _test_after_retrain(values: dict, epochs: int, data) -> float:
    """Winner retrained on train+validation, scored once on test (what GridSearchCV's refit does)."""
    import numpy as np

    xt, xv, xs = data.prepared_split({"normalize": "scale"})
    model = _build(values, epochs, data)
    model.fit(np.concatenate([xt, xv]), np.concatenate([data.y_train, data.y_val]), epochs=epochs,
              batch_size=BATCH, verbose=0)
    return float(model.evaluate(xs, data.y_test, verbose=0)[1])


# --- the methods ---------------------------------------------------------------------------------
def _space_file(setup: dict, workdir: Path) -> Path:
    """The benchmark's grid as a gridsearch space file: one stage per hyperparameter."""
    stages = ", ".join(f"Stage({name!r}, {values!r})" for name, values in setup["grid"].items())
    space = workdir / "bench_space.py"
    space.write_text("from gridsearch import SearchSpace, Stage\n"
                     f"space = SearchSpace(name='bench', data='digits', defaults={DEFAULTS!r}, stages=[{stages}], "
                     f"epochs={setup['epochs']}, batch_size={BATCH}, seed={SEED})\n")
    return space


def run_gridsearch(setup: dict, workdir: Path, full_grid: bool = False, halving: bool = False) -> dict:
    from gridsearch import Reporter, RunOptions, load_space, run_search

    space = _space_file(setup, workdir)

    start = time.perf_counter()
    summary = run_search(load_space(space), RunOptions(results_root=workdir / "results", full_grid=full_grid,
                                                        halving=halving),
                         Reporter())
    wall = time.perf_counter() - start
    trained = [r for r in summary.results if not r.reused_from]
    return {"trials": len(summary.results), "configs": summary.trained,
            "epochs": sum(r.epochs_run for r in trained), "wall_s": wall,
            "best_val": summary.winner.metrics["val_accuracy"], "test_acc": summary.test_scores["test_accuracy"],
            "winner": {k: summary.winner.config[k] for k in setup["grid"]}, "disk": _disk(workdir / "results")}


def run_keras_tuner(setup: dict, workdir: Path) -> dict:
    """A plain keras_tuner.GridSearch script, as its documentation shows."""
    import keras_tuner

    data = _dataset()
    xt, xv, xs = data.prepared_split({"normalize": "scale"})
    grid = setup["grid"]

    def build(hp):
        values = {name: hp.Choice(name, values) for name, values in grid.items() if name != "batch_norm"}
        values["batch_norm"] = hp.Boolean("batch_norm")
        return _build(values, setup["epochs"], data)

    start = time.perf_counter()
    tuner = keras_tuner.GridSearch(build, objective="val_accuracy", directory=str(workdir / "kt"),
                                   project_name="bench", seed=SEED)
    tuner.search(xt, data.y_train, validation_data=(xv, data.y_val), epochs=setup["epochs"], batch_size=BATCH,
                 verbose=0)
    best_model = tuner.get_best_models(1)[0]
    wall = time.perf_counter() - start
    trials = list(tuner.oracle.trials.values())
    best = tuner.oracle.get_best_trials(1)[0]
    return {"trials": len(trials), "configs": len(trials), "epochs": len(trials) * setup["epochs"], "wall_s": wall,
            "best_val": best.score, "test_acc": float(best_model.evaluate(xs, data.y_test, verbose=0)[1]),
            "winner": best.hyperparameters.values, "disk": _disk(workdir / "kt")}


def run_gridsearchcv(setup: dict, workdir: Path) -> dict:
    """A plain scikeras KerasClassifier + GridSearchCV script with an explicit shuffled StratifiedKFold."""
    import numpy as np
    from scikeras.wrappers import KerasClassifier
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    data = _dataset()
    xt, xv, xs = data.prepared_split({"normalize": "scale"})
    x, y = np.concatenate([xt, xv]), np.concatenate([data.y_train, data.y_val])

    def model_fn(learning_rate, batch_norm, l2, noise, meta):
        return _build({"learning_rate": learning_rate, "batch_norm": batch_norm, "l2": l2, "noise": noise},
                      setup["epochs"], data)

    clf = KerasClassifier(model=model_fn, loss="sparse_categorical_crossentropy", epochs=setup["epochs"],
                          batch_size=BATCH, verbose=0, random_state=SEED, **{f"model__{k}": v for k, v in DEFAULTS.items()})
    search = GridSearchCV(clf, {f"model__{k}": v for k, v in setup["grid"].items()}, scoring="accuracy",
                          cv=StratifiedKFold(3, shuffle=True, random_state=SEED), refit=True)
    start = time.perf_counter()
    search.fit(x, y)
    wall = time.perf_counter() - start
    n = len(search.cv_results_["params"])
    return {"trials": n, "configs": n, "epochs": (3 * n + 1) * setup["epochs"], "wall_s": wall,
            "best_val": float(search.best_score_), "test_acc": float(search.score(xs, data.y_test)),
            "winner": {k.removeprefix("model__"): v for k, v in search.best_params_.items()}, "disk": 0}


def run_optuna(setup: dict, workdir: Path, n_trials: int) -> dict:
    """Optuna's default sampler (TPE) over the same categorical space, as its documentation shows."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = _dataset()
    xt, xv, _ = data.prepared_split({"normalize": "scale"})
    runs = []
    start = time.perf_counter()
    for seed in setup["optuna_seeds"]:
        def objective(trial):
            values = {name: trial.suggest_categorical(name, values) for name, values in setup["grid"].items()}
            model = _build(values, setup["epochs"], data)
            history = model.fit(xt, data.y_train, validation_data=(xv, data.y_val), epochs=setup["epochs"],
                                batch_size=BATCH, verbose=0)
            return max(history.history["val_accuracy"])

        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(objective, n_trials=n_trials)
        runs.append((study.best_value, study.best_params, len({str(t.params) for t in study.trials})))
    wall = (time.perf_counter() - start) / len(runs)
    best_val, winner, distinct = runs[0]
    return {"trials": n_trials, "configs": distinct, "epochs": n_trials * setup["epochs"], "wall_s": wall,
            "best_val": best_val, "test_acc": _test_after_retrain(winner, setup["epochs"], data), "winner": winner,
            "disk": 0, "per_seed_best_val": [r[0] for r in runs]}


def run_overhead(setup: dict, workdir: Path) -> dict:
    """One config: a plain model.fit against all that a trial costs inside a search.

    "Inside a search" is the trial runner around the same fit (fresh session, seed, callbacks, pruning,
    diagnosis) plus what the search does after it: the trial record, releasing traced graphs, the
    trial's plot and TensorBoard run, all with the long-lived objects frozen as `run_search` does.
    """
    from gridsearch import load_space
    from gridsearch.reports.artifacts import SearchArtifacts
    from gridsearch.results.store import ResultsStore
    from gridsearch.training.fit import TrainingContext, run_trial
    from gridsearch.training.models import simple_cnn
    from gridsearch.training.runtime import long_lived_objects_frozen, release_traced_graphs

    data = _dataset()
    xt, xv, _ = data.prepared_split({"normalize": "scale"})
    config = _config({}, setup["epochs"])
    ctx = TrainingContext(data, simple_cnn, SEED, "val_accuracy", "max")
    store = ResultsStore(workdir / "results" / "overhead")
    store.trials_dir.mkdir(parents=True)
    artifacts = SearchArtifacts(store.folder, load_space(_space_file(setup, workdir)).space)
    plain, ours = [], []
    with long_lived_objects_frozen():
        for k in range(3):  # interleaved, so machine noise hits both alike
            start = time.perf_counter()
            model = _build({}, setup["epochs"], data)
            model.fit(xt, data.y_train, validation_data=(xv, data.y_val), epochs=setup["epochs"], batch_size=BATCH,
                      verbose=0)
            plain.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = run_trial(f"s1_t{k}", 1, "overhead", f"cid{k}", config, ctx)
            store.save_trial(result)
            release_traced_graphs()
            artifacts.trial_finished(result, "val_accuracy")
            ours.append(time.perf_counter() - start)
    return {"plain_fit_s": sorted(plain)[1], "gridsearch_trial_s": sorted(ours)[1],
            "ratio": sorted(ours)[1] / sorted(plain)[1], "epochs": setup["epochs"]}


def child(method: str, quick: bool) -> None:
    setup = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if method in ("staged", "halving", "full_grid"):
            result = run_gridsearch(setup, workdir, full_grid=method == "full_grid", halving=method == "halving")
        elif method == "keras_tuner":
            result = run_keras_tuner(setup, workdir)
        elif method == "gridsearchcv":
            result = run_gridsearchcv(setup, workdir)
        elif method == "optuna":
            result = run_optuna(setup, workdir, n_trials=sum(len(v) for v in setup["grid"].values()))
        else:
            result = run_overhead(setup, workdir)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result, default=str), flush=True)


# --- the parent: run each method, print and save the table ----------------------------------------
def _run_child(method: str, quick: bool) -> dict:
    command = [sys.executable, __file__, "--child", method] + (["--quick"] if quick else [])
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (out.stderr or out.stdout).strip().splitlines()[-1] if (out.stderr or out.stdout) else "no output"}


def _table(results: dict[str, dict]) -> str:
    base = results.get("staged", {})
    columns = [("trials", "trials", "{:.0f}"), ("configs", "configs trained", "{:.0f}"),
               ("epochs", "epochs", "{:.0f}"), ("wall_s", "wall s", "{:.1f}"), ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
               ("disk", "disk KB", "{:.0f}"), ("best_val", "best val acc", "{:.4f}"), ("test_acc", "test acc", "{:.4f}")]
    lines = ["| method | " + " | ".join(title for _, title, _ in columns) + " | winner |",
             "|---" * (len(columns) + 2) + "|"]
    for method, result in results.items():
        if method == "overhead":
            continue
        if "error" in result:
            lines.append(f"| {method} | failed: {result['error']} |")
            continue
        cells = []
        for key, _, fmt in columns:
            value = result.get(key)
            value = value / 1024 if key == "disk" else value
            cell = fmt.format(value) if isinstance(value, (int, float)) else "-"
            reference = base.get(key)
            if method != "staged" and isinstance(value, (int, float)) and reference and key not in ("best_val", "test_acc"):
                reference = reference / 1024 if key == "disk" else reference
                cell += f" ({value / reference:.2f}x)" if reference else ""
            cells.append(cell)
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {result.get('winner')} |")
    overhead = results.get("overhead", {})
    if "ratio" in overhead:
        lines.append("")
        lines.append(f"Per-trial overhead ({overhead['epochs']} epochs, one config, median of 3 interleaved): plain "
                     f"model.fit {overhead['plain_fit_s']:.2f} s (Keras' defaults), gridsearch trial "
                     f"{overhead['gridsearch_trial_s']:.2f} s (callbacks, probe, diagnosis, record, plot; 16 batches "
                     f"per call for a fit of >= 200 steps), ratio {overhead['ratio']:.3f}x.")
    optuna = results.get("optuna", {})
    if "per_seed_best_val" in optuna:
        lines.append(f"Optuna TPE best validation accuracy per seed: {optuna['per_seed_best_val']} "
                     f"(staged search: {base.get('best_val')}).")
    return "\n".join(lines + [""] + _targets(results))


def _targets(results: dict[str, dict]) -> list[str]:
    """Issue 10's targets, each met or missed, from the figures of this run."""
    base = results.get("staged", {})
    if "wall_s" not in base:
        return []

    def line(text: str, met: bool) -> str:
        return f"- {text}: {'met' if met else '**missed**'}"

    out = ["## Targets (issue 10)", ""]
    out.append(line(f"never the same config twice: {base['trials']} planned trials, {base['configs']} configs trained",
                    base["configs"] < base["trials"]))
    full = results.get("full_grid", {})
    if "test_acc" in full:
        gap = (full["test_acc"] - base["test_acc"]) * 100
        out.append(line(f"staged winner within 0.5 points of the full grid's on test accuracy ({base['test_acc']:.4f} "
                        f"vs {full['test_acc']:.4f})", gap <= 0.5))
        out.append(line(f"staged wall time at most 1/6 of the full grid's ({base['wall_s'] / full['wall_s']:.2f})",
                        base["wall_s"] * 6 <= full["wall_s"]))
    for method in ("keras_tuner", "gridsearchcv"):
        if "wall_s" in results.get(method, {}):
            ratio = results[method]["wall_s"] / base["wall_s"]
            out.append(line(f"at least 5x faster than the plain {method} script ({ratio:.1f}x)", ratio >= 5))
    overhead = results.get("overhead", {})
    if "ratio" in overhead:
        out.append(line(f"per trial at most 1.10x a plain model.fit ({overhead['ratio']:.3f}x)", overhead["ratio"] <= 1.10))
    halving = results.get("halving", {})
    if "epochs" in halving:
        out.append(line(f"--halving: the same winner as the staged search, fewer epochs ({halving['epochs']} vs "
                        f"{base['epochs']})", halving["winner"] == base["winner"] and halving["epochs"] < base["epochs"]))
    optuna = results.get("optuna", {})
    if "per_seed_best_val" in optuna:
        seeds = optuna["per_seed_best_val"]
        as_good = sum(base["best_val"] >= value for value in seeds)
        out.append(f"- against Optuna TPE at the same number of trials: the staged winner's validation accuracy is as "
                   f"good as TPE's best on {as_good} of {len(seeds)} seeds")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a reduced grid and fewer epochs (a few minutes)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.quick)
    results = {}
    for method in args.methods.split(","):
        print(f"running {method} ...", flush=True)
        results[method] = _run_child(method, args.quick)
    table = _table(results)
    print(table)
    setup = QUICK if args.quick else FULL
    header = (f"# Benchmark results ({'quick' if args.quick else 'full'})\n\n{date.today()} on {platform.node()}, "
              f"{os.cpu_count()} cores, Python {platform.python_version()}; grid {setup['grid']}, "
              f"{setup['epochs']} epochs, batch {BATCH}, digits. Ratios are to the staged search, measured in the same "
              f"run. Regenerate with `python benchmarks/compare.py{' --quick' if args.quick else ''}`.\n\n")
    (HERE / ("RESULTS_quick.md" if args.quick else "RESULTS.md")).write_text(header + table + "\n")


if __name__ == "__main__":
    main()
