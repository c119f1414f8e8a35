"""A worker of a distributed search: a Keras Tuner client of the chief's oracle that trains what it is handed.

`python -m gridsearch worker SPACE --chief HOST:PORT` (or a chief's own `--workers N`). The worker
- waits for a chief to appear in the shared results folder (`cluster.chief_path`) for up to `--wait`
  seconds: a worker may start before its chief (Keras Tuner's own clients gave up on a slow chief,
  keras-team/keras-tuner#990);
- refuses to work for a chief whose space file differs from its own (sha256), before it asks for any trial;
- pins itself to its cores, then runs a Keras Tuner tuner with KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and
  KERASTUNER_ORACLE_PORT set (Keras Tuner reads them when the tuner is built): every trial it is handed is a
  config id, looked up in the chief's published stage file, trained by `training.run_trial` and written to
  `results/<name>/trials/` by the worker itself;
- exits when the chief says the run is done, or when its chief is gone and no new one appears within
  `--wait` (a worker started by a chief exits at once when that chief is gone): no process outlives its run
  (keras-team/keras-tuner#254).
"""
from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridsearch.distributed import cluster
from gridsearch.errors import GridsearchError, SpaceError
from gridsearch.results.layout import CACHE_DIR, results_folder
from gridsearch.results.store import ResultsStore
from gridsearch.space.loader import LoadedSpace
from gridsearch.training.runtime import KILL_ENV, KILL_WORKER_ENV

RPC_TIMEOUT_S = 60  # a worker only calls a chief it has seen beating, so a call that waits this long is lost
EXIT_NO_CHIEF = 1


class ChiefGone(GridsearchError):
    """No chief to work for (never came, or stopped and no new one came)."""


@dataclass
class WorkerSummary:
    worker_id: str
    trained: int
    reason: str  # why it stopped


class Beat(threading.Thread):
    """The worker's heartbeat file; exits the process when the chief that started it is gone."""

    def __init__(self, results: Path, worker_id: str, cores: list[int]) -> None:
        super().__init__(name="gridsearch-worker-heartbeat", daemon=True)
        self.path = cluster.worker_path(results, worker_id)
        self.info: dict[str, Any] = {"id": worker_id, "host": socket.gethostname(), "pid": os.getpid(),
                                     "cores": cores, "beat": 0, "state": "running", "trial": None, "trained": 0}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        parent = os.environ.get(cluster.CHIEF_PID_ENV)
        self._parent = int(parent) if parent and parent.isdigit() else None
        self.write()

    def write(self, **changes: Any) -> None:
        with self._lock:
            self.info.update(changes)
            cluster.write_json(self.path, self.info)

    def run(self) -> None:
        while not self._stop.wait(cluster.HEARTBEAT_S):
            if self._parent is not None and os.getppid() != self._parent:
                print(f"worker {self.info['id']}: the chief that started it (pid {self._parent}) is gone; exiting",
                      file=sys.stderr, flush=True)
                self.write(state="exited")
                os._exit(EXIT_NO_CHIEF)
            self.write(beat=self.info["beat"] + 1)

    def stop(self) -> None:
        self._stop.set()
        self.write(state="exited", trial=None)


class Stages:
    """The chief's published stages, read on demand: config id -> (stage, candidate)."""

    def __init__(self, results: Path) -> None:
        self.results = results
        self._known: dict[str, tuple[Any, Any]] = {}

    def find(self, config_id: str):
        if config_id not in self._known:  # a stage published since: the chief writes it before serving it
            from gridsearch.backends import Candidate
            from gridsearch.plans.stages import PlannedStage

            for path in sorted(cluster.folder(self.results).glob("stage_*.json")):
                data = cluster.read_json(path) or {"candidates": []}
                stage = PlannedStage(data.get("index", 0), data.get("name", ""), data.get("grid", {}))
                self._known.update({item["config_id"]: (stage, Candidate(**item)) for item in data["candidates"]})
        return self._known[config_id]


def wait_for_chief(results: Path, wait_s: float, *, after_run: str | None = None) -> dict[str, Any]:
    """The chief.json of a live chief (seen beating) or of a finished run; with `after_run`, of another run."""
    deadline = time.monotonic() + wait_s
    first_seen: tuple[Any, Any] | None = None
    while True:
        state = cluster.read_json(cluster.chief_path(results))
        if state and state.get("run_id") != after_run:
            if state.get("state") == "done":
                return state
            seen = (state.get("run_id"), state.get("beat"))
            if state.get("state") == "running" and first_seen and first_seen[0] == seen[0] and first_seen != seen:
                return state
            if first_seen is None or first_seen[0] != seen[0]:
                first_seen = seen
        if time.monotonic() >= deadline:
            raise ChiefGone(f"no live chief in {cluster.chief_path(results)} after {wait_s:.0f}s: start the chief "
                            f"(python -m gridsearch chief SPACE --bind HOST:PORT), and check that this machine sees "
                            f"the chief's results folder at {results}")
        time.sleep(cluster.POLL_S)


def check_same_space(loaded: LoadedSpace, chief: dict[str, Any], chief_address: cluster.Address) -> None:
    if chief.get("space_sha256") != loaded.sha256:
        raise SpaceError(f"refused: {loaded.path} (sha256 {loaded.sha256[:12]}) is not the space file of the chief at "
                         f"{chief.get('host')} ({chief.get('space_file')}, sha256 {str(chief.get('space_sha256'))[:12]}); "
                         f"run the worker with the chief's very file")
    published = chief.get("address", "")
    if published.rpartition(":")[2] != str(chief_address.port):
        raise SpaceError(f"--chief {chief_address}: the chief of this results folder listens on {published}, "
                         f"not on port {chief_address.port}")


def run_worker(loaded: LoadedSpace, chief_address: cluster.Address, results_root: Path, worker_id: str,
               cores: list[int] | None, wait_s: float, on_trial: Callable[[Any], None]) -> WorkerSummary:
    results = results_folder(results_root, loaded.space.name)
    chief = wait_for_chief(results, wait_s)
    check_same_space(loaded, chief, chief_address)
    if chief["state"] == "done":
        return WorkerSummary(worker_id, 0, "the chief's run is already finished")
    target, _, spec = os.environ.get(KILL_WORKER_ENV, "").partition(":")
    if target == worker_id:  # fault injection (tests): only this worker gets the kill point
        os.environ[KILL_ENV] = spec
    cluster.pin_to_cores(cores or sorted(os.sched_getaffinity(0)))  # before TensorFlow starts its thread pools
    os.environ.update({"KERASTUNER_TUNER_ID": worker_id, "KERASTUNER_ORACLE_IP": chief_address.host,
                       "KERASTUNER_ORACLE_PORT": str(chief_address.port)})
    beat = Beat(results, worker_id, cores or sorted(os.sched_getaffinity(0)))
    beat.start()
    project = tempfile.mkdtemp(prefix="gridsearch-worker-")  # Keras Tuner's own files of this worker
    try:
        reason = _serve(loaded, results, chief, chief_address, wait_s, beat, project, on_trial)
    finally:
        beat.stop()
        shutil.rmtree(project, ignore_errors=True)
    return WorkerSummary(worker_id, beat.info["trained"], reason)


def _serve(loaded: LoadedSpace, results: Path, chief: dict[str, Any], chief_address: cluster.Address, wait_s: float,
           beat: Beat, project: str, on_trial: Callable[[Any], None]) -> str:
    import grpc
    from keras_tuner.src.distribute import oracle_client

    from gridsearch.backends.keras_tuner import StageTuner
    from gridsearch.training.fit import run_trial, training_context
    from gridsearch.training.runtime import fault_callbacks, release_traced_graphs

    # Keras Tuner waits an hour on a call (for a chief still starting, #990); this worker only calls a
    # chief it has seen beating, so a call that waits longer than this has lost its chief.
    oracle_client.TIMEOUT = RPC_TIMEOUT_S
    store = ResultsStore(results)
    ctx = training_context(loaded, prune=chief["prune"], extra_callbacks=fault_callbacks(),
                           cache_dir=results / CACHE_DIR / beat.info["id"])  # one file cache per worker: none shares a lock
    stages = Stages(results)

    def train(config_id: str):
        stage, candidate = stages.find(config_id)
        done = store.trial(config_id)
        if done is not None:  # trained meanwhile by a worker taken for dead: do not train it twice
            return done
        beat.write(trial=candidate.trial_id)
        result = run_trial(candidate.trial_id, stage.index, stage.name, config_id, candidate.config, ctx)
        store.save_trial(result)
        release_traced_graphs()
        beat.write(trial=None, trained=beat.info["trained"] + 1)
        on_trial(result)
        return result

    # A client tuner's own oracle is only asked for the objective (OracleClient forwards the rest to the chief).
    tuner = StageTuner(["none"], ctx, train, directory=project, project_name="worker", overwrite=True)
    heartbeat = cluster.Heartbeat()
    run_id = chief["run_id"]
    while True:
        state = cluster.read_json(cluster.chief_path(results)) or {}
        if state.get("run_id") == run_id and state.get("state") == "done":
            return "the chief's run is done"
        if (state.get("run_id") != run_id or state.get("state") != "running"
                or heartbeat.silent_for("chief", state.get("beat")) > cluster.CHIEF_SILENCE_S):
            try:
                state = wait_for_chief(results, wait_s, after_run=run_id)
            except ChiefGone:
                return f"its chief stopped and no new one came within {wait_s:.0f}s"
            check_same_space(loaded, state, chief_address)
            run_id = state["run_id"]
            if state["state"] == "done":
                return "the chief's run is done"
            tuner = StageTuner(["none"], ctx, train, directory=project, project_name="worker", overwrite=True)
        if state.get("stage") is not None:
            try:
                tuner.search(verbose=0)  # until the oracle has nothing left to hand out
            except grpc.RpcError:
                pass  # the chief went away or refused a stale call: chief.json says what next
        time.sleep(cluster.POLL_S)
