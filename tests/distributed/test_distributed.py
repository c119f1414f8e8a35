"""Parallel and distributed search, for real: Keras Tuner's chief/worker mode with worker processes on this
machine, and the sklearn backend's GridSearchCV over a Dask LocalCluster.

The chief runs in-process (`main([...])`), so its worker processes are this test's children; the one
worker killed mid-trial is chosen by the fault-injection hook (GRIDSEARCH_KILL_WORKER, see
`gridsearch.results.store.fault_point`), never by a guessed sleep.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import assert_same_leaderboard
from gridsearch.cli import EXIT_BAD_INPUT, main
from gridsearch.distributed import cluster

pytestmark = pytest.mark.slow  # real searches end to end

TRAINED_CONFIGS = 3  # the tiny space: 2 + 2 trials, s2_t1 repeats the stage-1 winner


@pytest.fixture(scope="module")
def single(tiny_run):
    """The session's single-process run of the tiny space: the leaderboard every distributed run must give."""
    return tiny_run.space, pd.read_csv(tiny_run.results / "leaderboard.csv")


def _records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (results / "trials").glob("*.json")]


def _workers(results: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (cluster.folder(results) / "workers").glob("*.json")}


def _processes_naming(text: str) -> list[int]:
    """Live processes whose command line contains `text` (a results folder of one test only)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state != "Z" and proc.name.isdigit() and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found


def _assert_every_trial_once(results: Path, board: pd.DataFrame) -> None:
    records = _records(results)
    assert len(records) == TRAINED_CONFIGS
    assert len({r["config_id"] for r in records}) == TRAINED_CONFIGS
    assert board["trial_id"].is_unique and len(board) == 4


def test_two_local_workers_give_the_single_process_leaderboard_and_all_exit(single, tmp_path, capsys):
    space, expected = single
    results = tmp_path / "results"
    assert main(["run", str(space), "--workers", "2", "--results-dir", str(results)]) == 0
    board = pd.read_csv(results / "tiny" / "leaderboard.csv")
    assert_same_leaderboard(board, expected)
    _assert_every_trial_once(results / "tiny", board)
    workers = _workers(results / "tiny")
    assert sorted(workers) == ["tuner0", "tuner1"]
    assert sum(w["trained"] for w in workers.values()) == TRAINED_CONFIGS  # each config trained once, in all
    if len(os.sched_getaffinity(0)) >= 2:  # each on its own share: together, every core once
        assert sorted(c for w in workers.values() for c in w["cores"]) == sorted(os.sched_getaffinity(0))
    assert all(w["state"] == "exited" for w in workers.values())
    assert _processes_naming(str(results)) == []  # every worker process has exited
    chief = json.loads(cluster.chief_path(results / "tiny").read_text())
    assert chief["state"] == "done" and chief["address"].startswith("127.0.0.1:")  # loopback by default
    out = capsys.readouterr().out
    assert "done in" in out and "s1_t2" in out


def test_a_worker_killed_mid_trial_loses_nothing(single, tmp_path, capsys, monkeypatch):
    space, expected = single
    results = tmp_path / "results"
    # tuner0 is SIGKILLed at its second epoch: mid-trial, its record never written
    monkeypatch.setenv("GRIDSEARCH_KILL_WORKER", "tuner0:epoch_end:2")
    assert main(["run", str(space), "--workers", "2", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert "worker tuner0 died (exit code -9) while training s1_" in out
    board = pd.read_csv(results / "tiny" / "leaderboard.csv")
    assert_same_leaderboard(board, expected)
    _assert_every_trial_once(results / "tiny", board)
    workers = _workers(results / "tiny")
    assert workers["tuner0"]["state"] == "running" and workers["tuner0"]["trained"] == 0  # killed, no cleanup
    assert "tuner2" in workers  # started in its place
    assert _processes_naming(str(results)) == []


def test_a_worker_with_another_space_file_is_refused(single, tmp_path, capsys):
    space, _ = single
    results = tmp_path / "results" / "tiny"
    chief = {"run_id": "r1", "host": "chiefhost", "pid": 1, "address": "127.0.0.1:8000", "space_file": str(space),
             "space_sha256": "0" * 64, "prune": True, "state": "running", "stage": None, "beat": 1}
    cluster.write_json(cluster.chief_path(results), chief)
    command = [sys.executable, "-m", "gridsearch", "worker", str(space), "--chief", "127.0.0.1:8000",
               "--results-dir", str(tmp_path / "results"), "--wait", "5"]
    # a chief that beats: the worker must see a live chief, then compare the hashes, before anything else
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as worker:
        while worker.poll() is None:
            chief["beat"] += 1
            cluster.write_json(cluster.chief_path(results), chief)
            try:
                worker.wait(timeout=0.3)
            except subprocess.TimeoutExpired:
                pass
        err = worker.stderr.read()
    assert worker.returncode == EXIT_BAD_INPUT, err
    assert "refused" in err and "is not the space file of the chief" in err and "000000000000" in err
    assert not cluster.worker_path(results, "x").parent.exists()  # it never joined: no heartbeat file


def test_parallel_flags_are_checked_before_anything_runs(single, tmp_path, capsys):
    space, _ = single
    results = str(tmp_path / "r")
    cases = [
        (["run", str(space), "--workers", "0"], "--workers=0 is not allowed (allowed: a number of worker processes >= 1)"),
        (["run", str(space), "--workers", "2", "--backend", "sklearn"], "use --jobs N on one machine"),
        (["run", str(space), "--dask-scheduler"], "--dask-scheduler runs scikit-learn's fits over Dask"),
        (["run", str(space), "--halving", "--backend", "sklearn"], "--halving needs a backend whose trials finish one after another"),
        (["run", str(space), "--halving", "--workers", "2"], "--halving runs in one process"),
        (["run", str(space), "--halving", "--no-prune"], "--halving stops trials early and --no-prune"),
        (["chief", str(space), "--bind", "nowhere"], "--bind 'nowhere' is not an address"),
        (["worker", str(space), "--chief", "h:1", "--id", "my-chief"], "must not contain 'chief'"),
        (["worker", str(space), "--chief", "h:1", "--cores", "99999"], "names cores [99999]"),
    ]
    for argv, message in cases:
        assert main([*argv, "--results-dir", results]) == EXIT_BAD_INPUT, argv
        assert message in capsys.readouterr().err, argv
    assert not Path(results).exists()


def test_sklearn_over_a_dask_local_cluster_gives_the_single_process_results(tmp_path, write_space, tiny_npz, capsys):
    space = write_space("""
        space = SearchSpace(
            name="tiny_cv", data="tiny.npz",
            defaults={"filters": 4, "dense_units": 8, "conv_blocks": 1},
            stages=[Stage("learning_rate", [1e-2, 1e-3])],
            epochs=2, batch_size=32, cv_folds=2, seed=0, backend="sklearn",
        )
    """)
    assert main(["run", str(space), "--results-dir", str(tmp_path / "one"), "--quiet"]) == 0
    assert main(["run", str(space), "--results-dir", str(tmp_path / "dask"), "--dask-scheduler", "local",
                 "--jobs", "2"]) == 0
    assert "fitting over Dask at tcp://127.0.0.1:" in capsys.readouterr().out
    one = pd.read_csv(tmp_path / "one" / "tiny_cv" / "leaderboard.csv")
    over_dask = pd.read_csv(tmp_path / "dask" / "tiny_cv" / "leaderboard.csv")
    assert_same_leaderboard(over_dask.drop(columns="fit_time_s"), one.drop(columns="fit_time_s"))
    assert (over_dask["status"] == "ok").all()
