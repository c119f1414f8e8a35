"""Nothing lost: a run killed at any moment resumes to the leaderboard of an uninterrupted run.

The kill points are deterministic: the fault-injection hook `gridsearch.results.store.fault_point`
(environment variable GRIDSEARCH_KILL_AT=<event>:<n>) SIGKILLs the run the n-th time it reaches
an event, so every test kills at a known place, never after a guessed sleep. The killed run is a
real `python -m gridsearch run` subprocess; the resume runs in-process to save TensorFlow's start-up.

Also here: Ctrl-C / SIGTERM (exit 130 and the resume command), the run lock, and a space file
that changed since its results were written.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import conftest
from conftest import assert_same_leaderboard
from gridsearch.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, main

pytestmark = pytest.mark.slow  # real searches end to end

TRAINED_CONFIGS = 3  # the tiny space: 2 + 2 trials, s2_t1 repeats the stage-1 winner


@dataclass
class Reference:
    """One uninterrupted run of the tiny space, shared by the module."""

    folder: Path  # holds space.py, tiny.npz and results/
    board: pd.DataFrame
    best: dict

    @property
    def results(self) -> Path:
        return self.folder / "results" / "tiny"


def _space_text(lr_values: str = "1e-2, 1e-3", extra_stage: str = "") -> str:
    body = conftest.TINY_SPACE.format(lr_values=lr_values, epochs=3, backend="keras_tuner")
    if extra_stage:
        body = body.replace("        Stage(\"batch_norm\", [False, True]),\n",
                            f"        Stage(\"batch_norm\", [False, True]),\n        {extra_stage},\n")
        assert extra_stage in body
    return "from gridsearch import SearchSpace, Stage\n" + body


def _write_project(folder: Path, lr_values: str = "1e-2, 1e-3", extra_stage: str = "") -> Path:
    """space.py and tiny.npz in `folder`; returns the space file."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "tiny.npz").exists():
        x, y = conftest.tiny_digits()
        np.savez(folder / "tiny.npz", x=x, y=y)
    space = folder / "space.py"
    space.write_text(_space_text(lr_values, extra_stage))
    return space


@pytest.fixture(scope="module")
def reference(tiny_run) -> Reference:
    """The session's uninterrupted run of the tiny space: the very space file _write_project writes."""
    assert tiny_run.space.read_text() == _space_text()
    results = tiny_run.results
    return Reference(tiny_run.space.parent, pd.read_csv(results / "leaderboard.csv"),
                     json.loads((results / "best_config.json").read_text()))


def _copy_reference(reference: Reference, folder: Path) -> Path:
    """A finished results folder to start from, without training it again; returns the space file."""
    space = _write_project(folder)
    shutil.copytree(reference.results, folder / "results" / "tiny")
    return space


# `python -m gridsearch` as a terminal starts it: with Python's Ctrl-C handler. A process whose parent ignores SIGINT
# (nohup, a background job, a pytest-xdist worker) starts with it ignored, and Python then keeps it ignored, so the
# Ctrl-C test would see a run that cannot be interrupted: rightly so for such a run, wrongly for the test.
FROM_A_TERMINAL = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                   "runpy.run_module('gridsearch', run_name='__main__', alter_sys=True)")


def run_subprocess(space: Path, results: Path, *extra: str, env: dict[str, str] | None = None,
                   timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", FROM_A_TERMINAL, "run", str(space), "--results-dir", str(results),
                           *extra], capture_output=True, text=True, timeout=timeout, cwd=space.parent,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})


@pytest.fixture(scope="module")
def killed_copy(reference, tmp_path_factory):
    """killed_copy(kill_at, folder): the tiny project run as a subprocess SIGKILLed at `kill_at`, copied into
    `folder` (space.py, tiny.npz, results/); returns (space file, the killed process). Each kill point runs
    once for the module, and tests that start from the same kill share it (each resumes its own copy).
    The kills of KILL_POINTS all start at once, two at a time in the background: each is a fresh Python
    that imports TensorFlow, and they overlap with the in-process resumes instead of waiting for them."""
    pool = ThreadPoolExecutor(max_workers=2)
    runs: dict[str, Future] = {}

    def killed_run(kill_at: str, source: Path) -> tuple[Path, subprocess.CompletedProcess]:
        return source, run_subprocess(_write_project(source), source / "results", env={"GRIDSEARCH_KILL_AT": kill_at})

    def start(kill_at: str) -> Future:
        if kill_at not in runs:
            runs[kill_at] = pool.submit(killed_run, kill_at, tmp_path_factory.mktemp("killed"))
        return runs[kill_at]

    def kill(kill_at: str, folder: Path) -> tuple[Path, subprocess.CompletedProcess]:
        source, killed = start(kill_at).result()
        shutil.copytree(source, folder, dirs_exist_ok=True)
        return folder / "space.py", killed

    mid = _first_trial_epochs(reference) + 1
    for point in KILL_POINTS:
        start(point.values[0].format(mid=mid))
    yield kill
    pool.shutdown(wait=True)


def _first_trial_epochs(reference: Reference) -> int:
    return int(reference.board.set_index("trial_id").loc["s1_t1", "epochs_run"])


def _records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "trials").glob("*.json"))]


def _summary_counts(out: str) -> tuple[int, int]:
    """(trained, kept from an earlier run) from the summary line of `run`."""
    line = next(line for line in out.splitlines() if line.startswith("done in"))
    words = line.replace(",", "").split()
    return int(words[words.index("trained") - 1]), int(words[words.index("kept") - 1])


# --- SIGKILL at every kind of moment, then resume -------------------------------------------------

KILL_POINTS = [
    # (kill spec; "{mid}" is the second trial's first epoch, records on disk when killed)
    pytest.param("epoch_end:{mid}", 1, id="mid-training"),
    pytest.param("trial_saved:1", 1, id="between-trials"),
    pytest.param("stage_end:1", 2, id="between-stages"),
    pytest.param("write:leaderboard.csv:2", 3, id="leaderboard-temp-written-not-renamed"),
    pytest.param("trial_start:4", 3, id="during-final-retrain"),
]


@pytest.mark.parametrize("kill_at, kept", KILL_POINTS)
def test_sigkill_then_rerun_gives_the_uninterrupted_leaderboard(reference, killed_copy, tmp_path, capsys, kill_at,
                                                                kept):
    kill_at = kill_at.format(mid=_first_trial_epochs(reference) + 1)
    space, killed = killed_copy(kill_at, tmp_path)
    results = tmp_path / "results" / "tiny"
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(_records(results)) == kept  # every finished trial is on disk, nothing half-trained
    _assert_lock_of_a_dead_process(results)  # a SIGKILL leaves the lock behind
    if kill_at.startswith("write:leaderboard.csv"):  # the stage-1 board is intact, the new one only a temp file
        assert len(pd.read_csv(results / "leaderboard.csv")) == 2
        assert list(results.glob(".leaderboard.csv.*.tmp"))

    with pytest.warns(UserWarning, match="taking over the stale lock .* dead run"):
        assert main(["run", str(space), "--results-dir", str(results.parent)]) == 0
    trained, kept_now = _summary_counts(capsys.readouterr().out)
    assert (trained, kept_now) == (TRAINED_CONFIGS - kept, kept)
    assert_same_leaderboard(pd.read_csv(results / "leaderboard.csv"), reference.board)
    best = json.loads((results / "best_config.json").read_text())
    assert best["hyperparameters"] == reference.best["hyperparameters"]
    assert best["metrics"]["test_accuracy"] == pytest.approx(reference.best["metrics"]["test_accuracy"], abs=1e-6)
    assert not (results / ".lock").exists()
    assert not list(results.glob(".*.tmp")) and not list((results / "trials").glob(".*.tmp"))  # temp files cleaned


def _assert_lock_of_a_dead_process(results: Path) -> None:
    pid = int((results / ".lock").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_killed_then_interrupted_while_resuming_still_ends_at_the_same_leaderboard(reference, killed_copy, tmp_path,
                                                                                  capsys):
    """SIGKILL between trials (the between-trials kill above, shared); the resume is itself stopped by Ctrl-C
    (SIGINT) between stages, exit 130; the records carry over both times and the last run completes the search."""
    space, killed = killed_copy("trial_saved:1", tmp_path)
    results = tmp_path / "results" / "tiny"
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(_records(results)) == 1

    interrupted = run_subprocess(space, results.parent, env={"GRIDSEARCH_KILL_AT": "stage_end:1",
                                                             "GRIDSEARCH_KILL_SIGNAL": "SIGINT"})
    assert interrupted.returncode == EXIT_INTERRUPTED, interrupted.stderr
    assert "taking over the stale lock" in interrupted.stderr and "Traceback" not in interrupted.stderr
    assert (f"interrupted: finished trials are saved. Resume with: python -m gridsearch run {space} "
            f"--results-dir {results.parent}") in interrupted.stderr
    assert _summary_counts_absent(interrupted.stdout)
    assert len(_records(results)) == 2 and len(pd.read_csv(results / "leaderboard.csv")) == 2
    assert not (results / ".lock").exists()  # Ctrl-C releases the lock: no warning next time

    assert main(["run", str(space), "--results-dir", str(results.parent)]) == 0
    assert _summary_counts(capsys.readouterr().out) == (TRAINED_CONFIGS - 2, 2)
    assert_same_leaderboard(pd.read_csv(results / "leaderboard.csv"), reference.board)


def _summary_counts_absent(out: str) -> bool:
    return not any(line.startswith("done in") for line in out.splitlines())


# --- Ctrl-C and SIGTERM: stop after saving, print the resume command --------------------------------

def _wait_until_stopped(pid: int, deadline_s: float = 240) -> None:
    """Poll /proc until the process has stopped itself (the hook sent it SIGSTOP)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not reach the kill point within {deadline_s}s")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see that the run has paused")
def test_sigterm_stops_after_saving_prints_the_resume_command_and_resumes(reference, tmp_path, capsys):
    """The run pauses itself mid-training (hook + SIGSTOP); meanwhile a second run on the same folder is
    refused at once; then SIGTERM from outside stops it with exit 130; the rerun completes the search."""
    space, results = _write_project(tmp_path), tmp_path / "results" / "tiny"
    mid_training = f"epoch_end:{_first_trial_epochs(reference) + 1}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "GRIDSEARCH_KILL_AT": mid_training,
           "GRIDSEARCH_KILL_SIGNAL": "SIGSTOP"}
    command = [sys.executable, "-m", "gridsearch", "run", str(space), "--results-dir", str(results.parent)]
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=tmp_path)
    try:
        _wait_until_stopped(proc.pid)
        assert (results / ".lock").read_text() == str(proc.pid)

        started = time.perf_counter()
        assert main(["run", str(space), "--results-dir", str(results.parent)]) == EXIT_BAD_INPUT
        assert time.perf_counter() - started < 5  # at once, before loading data or training
        message = capsys.readouterr().err
        assert f"in use by another gridsearch run (pid {proc.pid})" in message and str(results) in message

        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        assert proc.wait(timeout=120) == EXIT_INTERRUPTED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = (tmp_path / "err.txt").read_text()
    assert "Traceback" not in stderr
    assert f"Resume with: python -m gridsearch run {space} --results-dir {results.parent}" in stderr
    assert len(_records(results)) == 1 and not (results / ".lock").exists()

    assert main(["run", str(space), "--results-dir", str(results.parent)]) == 0
    assert _summary_counts(capsys.readouterr().out) == (TRAINED_CONFIGS - 1, 1)
    assert_same_leaderboard(pd.read_csv(results / "leaderboard.csv"), reference.board)


# --- the lock: one run per results folder ---------------------------------------------------------

def test_a_live_lock_is_refused_at_once_and_left_alone(reference, tmp_path, capsys):
    space = _copy_reference(reference, tmp_path)
    results = tmp_path / "results" / "tiny"
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (results / ".lock").write_text(str(owner.pid))
        before = {p.name: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()}
        assert main(["run", str(space), "--results-dir", str(results.parent)]) == EXIT_BAD_INPUT
        assert f"pid {owner.pid}" in capsys.readouterr().err
        assert (results / ".lock").read_text() == str(owner.pid)
        assert {p.name: p.stat().st_mtime_ns for p in results.rglob("*") if p.is_file()} == before
    finally:
        owner.kill()
        owner.wait()


def test_a_stale_lock_is_taken_over_with_a_warning(reference, tmp_path, capsys):
    space = _copy_reference(reference, tmp_path)
    results = tmp_path / "results" / "tiny"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (results / ".lock").write_text(str(dead.pid))
    with pytest.warns(UserWarning, match=f"stale lock .* dead run \\(pid {dead.pid}\\)"):
        assert main(["run", str(space), "--results-dir", str(results.parent)]) == 0
    assert _summary_counts(capsys.readouterr().out) == (0, TRAINED_CONFIGS)
    assert not (results / ".lock").exists()


# --- the space file changed since the results were written ----------------------------------------

@pytest.mark.parametrize("change, message", [
    (dict(lr_values="1e-2, 1e-4"),
     "stage 1 changed: {'learning_rate': [0.01, 0.001]} -> {'learning_rate': [0.01, 0.0001]}"),
    (dict(extra_stage='Stage("l2", [0.0, 1e-3])'), "stage 3 (l2) was added: {'l2': [0.0, 0.001]}"),
])
def test_a_changed_space_is_refused_and_says_what_changed(reference, tmp_path, capsys, change, message):
    _copy_reference(reference, tmp_path)
    results = tmp_path / "results" / "tiny"
    space = _write_project(tmp_path, **change)
    before = {p.name: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    assert main(["run", str(space), "--results-dir", str(results.parent)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and str(results) in err and str(space) in err
    assert "--overwrite" in err and "--resume-changed" in err
    assert {p.name: p.read_bytes() for p in results.rglob("*") if p.is_file()} == before  # nothing trained


def test_a_changed_default_and_epochs_are_named(reference, tmp_path, capsys):
    _copy_reference(reference, tmp_path)
    space = tmp_path / "space.py"
    space.write_text(space.read_text().replace('"filters": 8', '"filters": 16').replace("epochs=3", "epochs=4"))
    assert main(["run", str(space), "--results-dir", str(tmp_path / "results")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "defaults['filters']: 8 -> 16" in err and "epochs: 3 -> 4" in err


def test_a_comment_only_change_is_refused_with_a_hint(reference, tmp_path, capsys):
    space = _copy_reference(reference, tmp_path)
    space.write_text(space.read_text() + "# a comment\n")
    assert main(["run", str(space), "--results-dir", str(tmp_path / "results")]) == EXIT_BAD_INPUT
    assert "no field of the space differs" in capsys.readouterr().err


def test_resume_changed_with_an_appended_stage_trains_only_the_new_stage(reference, tmp_path, capsys):
    _copy_reference(reference, tmp_path)
    results = tmp_path / "results" / "tiny"
    space = _write_project(tmp_path, extra_stage='Stage("l2", [0.0, 1e-3])')
    assert main(["run", str(space), "--results-dir", str(results.parent), "--resume-changed"]) == 0
    assert _summary_counts(capsys.readouterr().out) == (1, TRAINED_CONFIGS)  # only s3_t2; s3_t1 is the winner
    board = pd.read_csv(results / "leaderboard.csv")
    assert len(board) == 6 and len(_records(results)) == TRAINED_CONFIGS + 1
    new = board.set_index("trial_id")
    assert new.loc["s3_t1", "reused_from"] and new.loc["s3_t2", "l2"] == 1e-3
    old = board[board["stage"] <= 2].set_index("trial_id").sort_index()
    ref = reference.board.set_index("trial_id").sort_index()
    assert old.index.tolist() == ref.index.tolist()
    assert old["learning_rate"].tolist() == ref["learning_rate"].tolist()
    np.testing.assert_allclose(old["val_loss"], ref["val_loss"], rtol=1e-3)
    # the manifest now describes the new space: a plain rerun is not refused
    assert main(["run", str(space), "--results-dir", str(results.parent)]) == 0
    assert _summary_counts(capsys.readouterr().out) == (0, TRAINED_CONFIGS + 1)


def test_overwrite_starts_over(reference, tmp_path, capsys):
    _copy_reference(reference, tmp_path)
    results = tmp_path / "results" / "tiny"
    space = _write_project(tmp_path, lr_values="1e-2, 1e-4")
    assert main(["run", str(space), "--results-dir", str(results.parent), "--overwrite"]) == 0
    assert _summary_counts(capsys.readouterr().out) == (TRAINED_CONFIGS, 0)
    records = _records(results)
    assert len(records) == TRAINED_CONFIGS
    assert 1e-3 not in {r["config"]["learning_rate"] for r in records}  # the old space's trials are gone
    assert set(pd.read_csv(results / "leaderboard.csv")["learning_rate"]) == {1e-2, 1e-4}


def test_regenerated_data_is_never_served_old_trials(reference, tmp_path, capsys):
    """Same space file, new content in tiny.npz: every config is trained again, on the new data."""
    space = _copy_reference(reference, tmp_path)
    x, y = conftest.tiny_digits(seed=1)  # other images of the same classes
    np.savez(tmp_path / "tiny.npz", x=x, y=y)
    results = tmp_path / "results" / "tiny"
    assert main(["run", str(space), "--results-dir", str(results.parent)]) == 0
    assert _summary_counts(capsys.readouterr().out) == (TRAINED_CONFIGS, 0)
    assert len(_records(results)) == 2 * TRAINED_CONFIGS  # the old data's records stay, unused


def test_a_full_grid_into_a_staged_folder_keeps_its_trials_under_its_own_ids(reference, tmp_path, capsys):
    space = _copy_reference(reference, tmp_path)
    results = tmp_path / "results" / "tiny"
    assert main(["run", str(space), "--results-dir", str(results.parent), "--full-grid"]) == 0
    board = pd.read_csv(results / "leaderboard.csv")
    assert len(board) == 4 and set(board["stage_name"]) == {"full_grid"}
    assert board["reused_from"].isna().all()  # a config trained by the staged plan is this plan's own row now
    by_config = {r["config_id"]: r for r in _records(results)}
    assert all(by_config[row.config_id]["trial_id"] == row.trial_id for row in board.itertuples())
    assert all((results / "plots" / "trials" / f"{t}.png").is_file() for t in board["trial_id"])


# --- memory: what a trial leaves behind is released (the full check is benchmarks/memory.py) ----------

def test_a_finished_trial_leaves_no_traced_graph_behind():
    """TensorFlow's custom-gradient registry would otherwise keep every trial's traced train step alive."""
    import gc

    import keras
    from tensorflow.python.framework import ops
    from tensorflow.python.framework.func_graph import FuncGraph

    from gridsearch.training.runtime import release_traced_graphs

    def live_graphs() -> int:
        gc.collect()
        return sum(isinstance(o, FuncGraph) for o in gc.get_objects())

    x, y = conftest.tiny_digits(n_per_class=10)
    release_traced_graphs()
    before = live_graphs()
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert [name for name in ops._gradient_registry.list() if name.startswith("CustomGradient-")]
    del model
    release_traced_graphs()
    assert not [name for name in ops._gradient_registry.list() if name.startswith("CustomGradient-")]
    assert live_graphs() <= before
