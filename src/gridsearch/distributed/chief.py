"""The chief of a distributed Keras Tuner search: it serves the oracle, workers train.

How a stage runs
- The chief publishes the stage's candidates (`cluster.stage_path`), then serves a Keras Tuner oracle
  over gRPC with Keras Tuner's own servicer (`keras_tuner.src.distribute.oracle_chief.OracleServicer`).
  Workers are ordinary Keras Tuner tuners started with KERASTUNER_TUNER_ID / _ORACLE_IP / _ORACLE_PORT
  (`gridsearch.distributed.worker`); each asks the oracle for a trial, trains it and writes the trial record itself.
- The oracle is a `keras_tuner.Oracle` whose `populate_space` hands out the pending candidates one by one.
  Keras Tuner's own GridSearchOracle is not used here: it derives the next grid point from a *finished*
  trial, so with one `candidate` hyperparameter a third worker gets IDLE while two candidates are still
  untried, and the search runs nearly one trial at a time (the uneven spread of keras-team/keras-tuner#596).
- Done is decided by gridsearch, not by Keras Tuner: a stage is finished when every candidate has a trial
  record in `results/<name>/trials/`. Keras Tuner's chief waits until no trial is ongoing, so one worker
  that dies or errors mid-trial stalls it forever (keras-team/keras-tuner#915). Here a trial whose worker
  died (a local process exited; a remote worker's heartbeat stopped) goes back into the queue and another
  worker trains it; a config whose trial lost its worker `MAX_ATTEMPTS` times is recorded as failed.
- `oracle_chief.start_server` is not used either: it blocks until no tuner id is known and never stops
  for a dead one (keras-team/keras-tuner#254, #344). The server here is started once per run and stopped
  when the run ends, after local workers have exited (terminated if they must be).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import keras_tuner
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief
from keras_tuner.src.engine.trial import TrialStatus as KTStatus

from gridsearch.backends import Candidate
from gridsearch.backends.keras_tuner import CANDIDATE, KerasTunerBackend, candidate_space
from gridsearch.distributed import ParallelMode, cluster
from gridsearch.errors import SearchFailed, SpaceError
from gridsearch.plans.stages import PlannedStage
from gridsearch.results.store import ResultsStore
from gridsearch.training.fit import Siblings, TrainingContext
from gridsearch.training.trial import TrialResult, TrialStatus

if TYPE_CHECKING:
    from gridsearch.search.run import RunOptions
    from gridsearch.space.loader import LoadedSpace

MAX_ATTEMPTS = 3  # a config whose worker died this many times while training it is recorded as failed
RESPAWNS_PER_WORKER = 3  # local workers that keep dying (a broken environment) end the run after this many
STOP_GRACE_S = 30.0  # how long local workers get to exit at the end before they are terminated
SERVER_THREADS = 8  # gRPC threads; the oracle serialises the calls itself (keras_tuner.synchronized)


class QueueOracle(keras_tuner.Oracle):
    """Hands out the stage's pending candidates in order, one per request, to any number of workers.

    When the queue is empty it answers STOPPED, so a worker's `search()` returns; the worker asks again
    after `cluster.POLL_S` while the stage runs (a trial that lost its worker may come back).
    """

    def __init__(self, config_ids: list[str], objective: str, direction: str, seed: int) -> None:
        super().__init__(objective=keras_tuner.Objective(objective, direction=direction),
                         # a space needs one value: the oracle served between stages has an empty queue
                         hyperparameters=candidate_space(config_ids or ["none"]), tune_new_entries=False,
                         allow_new_entries=False, seed=seed,
                         # never stop for failures: a failed trial is a result (and raising here, under the
                         # oracle's lock, would leave the lock held: every later call would hang)
                         max_consecutive_failed_trials=None)
        self.verbose = 0
        self.queue = list(config_ids)
        self.handed_out: Counter[str] = Counter()

    def populate_space(self, trial_id):
        if not self.queue:
            return {"status": KTStatus.STOPPED, "values": None}
        config_id = self.queue.pop(0)
        self.handed_out[config_id] += 1
        return {"status": KTStatus.RUNNING, "values": {CANDIDATE: config_id}}

    @keras_tuner.synchronized
    def running(self) -> dict[str, str]:
        """{tuner id: config id of the trial it was handed and has not ended}."""
        return {tuner: trial.hyperparameters.values[CANDIDATE] for tuner, trial in self.ongoing_trials.items()}

    @keras_tuner.synchronized
    def release(self, tuner_id: str) -> str | None:
        """A dead worker's trial goes back to the front of the queue; returns its config id."""
        trial = self.ongoing_trials.pop(tuner_id, None)
        if trial is None:
            return None
        config_id = trial.hyperparameters.values[CANDIDATE]
        self.queue.insert(0, config_id)
        return config_id

    @keras_tuner.synchronized
    def requeue_unheld(self, config_ids: list[str]) -> list[str]:
        """Of `config_ids` (handed out, no record yet), queue again those neither queued nor being trained:
        their trial ended on a worker without a record (an error outside the training itself)."""
        held = set(self.queue) | {trial.hyperparameters.values[CANDIDATE] for trial in self.ongoing_trials.values()}
        lost = [cid for cid in config_ids if self.handed_out[cid] and cid not in held]
        self.queue[:0] = lost
        return lost

    @keras_tuner.synchronized
    def withdraw(self, config_id: str) -> None:
        if config_id in self.queue:
            self.queue.remove(config_id)


class Servicer(oracle_chief.OracleServicer):
    """Keras Tuner's servicer, refusing calls about trials the current oracle never created.

    Such a call comes from a worker that was taken for dead and lived on; answered by the oracle it would
    raise under the oracle's lock (`keras_tuner.synchronized` does not release it on an exception), and
    every later call would hang.
    """

    def _check(self, trial_id: str, context) -> None:
        if trial_id not in self.oracle.trials:
            context.abort(grpc.StatusCode.NOT_FOUND, f"trial {trial_id} is not a trial of the current stage")

    def UpdateTrial(self, request, context):
        self._check(request.trial_id, context)
        return super().UpdateTrial(request, context)

    def EndTrial(self, request, context):
        self._check(request.trial.trial_id, context)
        return super().EndTrial(request, context)

    def GetTrial(self, request, context):
        self._check(request.trial_id, context)
        return super().GetTrial(request, context)


class LocalWorkers:
    """The worker processes this chief started on its own machine, each on its share of the cores."""

    def __init__(self, count: int, space_file: Path, results_root: Path, address: cluster.Address) -> None:
        self.space_file, self.results_root, self.address = space_file, results_root, address
        self.shares = cluster.share_cores(count) if count else []
        self.gpus = cluster.visible_gpus(dict(os.environ)) if count else []
        self.procs: dict[str, subprocess.Popen] = {}
        self.slot: dict[str, int] = {}
        self.started = 0
        self.deaths = 0
        for i in range(count):
            self._spawn(i)

    def _spawn(self, slot: int) -> None:
        worker_id = f"tuner{self.started}"
        self.started += 1
        command = [sys.executable, "-m", "gridsearch", "worker", str(self.space_file), "--chief",
                   f"{cluster.LOOPBACK}:{self.address.port}", "--results-dir", str(self.results_root),
                   "--id", worker_id, "--cores", cluster.format_cores(self.shares[slot]), "--quiet"]
        env = {**os.environ, cluster.CHIEF_PID_ENV: str(os.getpid()), **cluster.gpu_env(slot, self.gpus)}
        # each worker runs the gridsearch this process runs, whatever is installed
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                             *filter(None, [os.environ.get("PYTHONPATH")])])
        self.procs[worker_id] = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
        self.slot[worker_id] = slot

    def dead(self) -> dict[str, int]:
        """{worker id: exit code} of the workers that exited since the last call."""
        gone = {wid: proc.returncode for wid, proc in self.procs.items() if proc.poll() is not None}
        for wid in gone:
            del self.procs[wid]
        return gone

    def replace(self, worker_id: str, code: int) -> None:
        """Start a worker in a dead one's place (a new id: Keras Tuner would hand an old id its old trial)."""
        self.deaths += 1
        if self.deaths > RESPAWNS_PER_WORKER * len(self.shares):
            raise SearchFailed(f"local workers keep dying ({self.deaths} deaths, the last one {worker_id} with exit "
                               f"code {code}); their error is printed above. Finished trials are kept: fix the "
                               f"cause and run the same command again")
        self._spawn(self.slot.pop(worker_id))

    def stop(self, grace_s: float) -> None:
        """Give the workers `grace_s` to see the run is over and exit, then terminate (SIGTERM: a worker
        stops like Ctrl-C), then kill whatever is left: no process of the run outlives it."""
        for action, wait_s in (("wait", grace_s), ("terminate", 5.0), ("kill", 5.0)):
            alive = [proc for proc in self.procs.values() if proc.poll() is None]
            if not alive:
                break
            if action != "wait":
                for proc in alive:
                    getattr(proc, action)()
            deadline = time.monotonic() + wait_s
            for proc in alive:
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        self.procs.clear()


class ChiefBackend(KerasTunerBackend):
    """Runs each stage on workers. Same name and fingerprint as the single-process Keras Tuner backend:
    the records of one are the records of the other (resume either way)."""

    def __init__(self, results: Path, space_file: Path, space_sha256: str, results_root: Path,
                 bind: cluster.Address, workers: int, prune: bool, notify: Callable[[str], None]) -> None:
        self.results, self.space_file, self.sha256 = Path(results), Path(space_file), space_sha256
        self.store = ResultsStore(self.results)
        self.results_root, self.bind, self.workers, self.prune, self.notify = results_root, bind, workers, prune, notify
        self.servicer: Servicer | None = None
        self.server: grpc.Server | None = None
        self.local: LocalWorkers | None = None
        self.address = bind
        self.state: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._beating = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self._heartbeats = cluster.Heartbeat()
        self._waiting_noted = False

    # --- the run: start, publish, stop -----------------------------------------------------------
    def __enter__(self) -> ChiefBackend:
        self.servicer = Servicer(_idle_oracle())
        self.server = grpc.server(_thread_pool(), options=[("grpc.so_reuseport", 0)])
        protos.get_service_grpc().add_OracleServicer_to_server(self.servicer, self.server)
        try:
            port = self.server.add_insecure_port(str(self.bind))
        except RuntimeError as exc:
            port, reason = 0, str(exc)
        else:
            reason = "the port is in use or the address is not one of this machine's"
        if not port:
            raise SpaceError(f"--bind {self.bind}: cannot listen there ({reason})")
        self.address = cluster.Address(self.bind.host, port)
        self.server.start()
        shutil.rmtree(cluster.folder(self.results), ignore_errors=True)  # the last run's stages and workers
        self.state = {"run_id": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid(),
                      "address": str(self.address), "space_file": str(self.space_file), "space_sha256": self.sha256,
                      "prune": self.prune, "state": "running", "stage": None, "beat": 0}
        self._publish()
        self._beat_thread = threading.Thread(target=self._beat, name="gridsearch-chief-heartbeat", daemon=True)
        self._beat_thread.start()
        if not self.address.is_loopback:
            self.notify(f"oracle listening on {self.address}: unauthenticated, unencrypted gRPC; make sure only "
                        f"trusted machines can reach this port")
        if self.workers:
            self.local = LocalWorkers(self.workers, self.space_file, self.results_root, self.address)
        return self

    def __exit__(self, kind, exc, tb) -> None:
        """Done: workers see it in chief.json and exit. Interrupted or failed: local workers are stopped at
        once (their trial in progress is run again on resume), remote ones wait for the next chief."""
        self._publish(state="done" if kind is None else "stopped")
        try:
            if self.local is not None:
                self.local.stop(STOP_GRACE_S if kind is None else 0.0)
            if kind is None:
                self._wait_for_remote_exits()
        finally:
            self._beating.set()
            if self.server is not None:
                self.server.stop(grace=1).wait()

    def _wait_for_remote_exits(self) -> None:
        """Keep serving until every worker still beating has said it exited, for at most STOP_GRACE_S: a worker
        whose call finds no server waits for one until its call's timeout (keras-team/keras-tuner#645)."""
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            files = cluster.folder(self.results).glob("workers/*.json")
            states = {path.stem: cluster.read_json(path) or {} for path in files}
            if all(state.get("state") == "exited" or self._silent(wid) > 2 * cluster.HEARTBEAT_S + 1
                   for wid, state in states.items()):
                return
            time.sleep(cluster.POLL_S)

    def _publish(self, **changes: Any) -> None:
        with self._lock:
            self.state.update(changes)
            cluster.write_json(cluster.chief_path(self.results), self.state)

    def _beat(self) -> None:
        while not self._beating.wait(cluster.HEARTBEAT_S):
            self._publish(beat=self.state["beat"] + 1)

    # --- one stage -------------------------------------------------------------------------------------
    def run_stage(self, stage: PlannedStage, candidates: list[Candidate], ctx: TrainingContext,
                  on_result: Callable[[TrialResult], None], workdir: Path, siblings: Siblings = ()) -> None:
        if not candidates:
            return
        cluster.write_json(cluster.stage_path(self.results, stage.index),
                           {"index": stage.index, "name": stage.name, "grid": stage.grid,
                            "candidates": [asdict(c) for c in candidates]})
        oracle = QueueOracle([c.config_id for c in candidates], ctx.objective, ctx.direction, ctx.seed)
        project = workdir / f"stage_{stage.index}"
        shutil.rmtree(project, ignore_errors=True)
        oracle._set_project_dir(str(workdir), project.name)  # where Keras Tuner keeps its trial files
        self._publish(stage=stage.index)  # before the oracle: a worker handed a trial can always look it up
        self.servicer.oracle = oracle
        pending = {c.config_id: c for c in candidates}
        while pending:
            for config_id in list(pending):
                record = self.store.trial(config_id)
                if record is not None:
                    on_result(record)
                    del pending[config_id]
            if pending:
                self._look_after_workers(oracle, pending, stage, on_result)
                time.sleep(cluster.POLL_S)
        self._wait_for_ends(oracle)

    def _look_after_workers(self, oracle: QueueOracle, pending: dict[str, Candidate], stage: PlannedStage,
                            on_result: Callable[[TrialResult], None]) -> None:
        """Hand the trial of every dead worker to another one; replace dead local workers."""
        dead = dict(self.local.dead()) if self.local else {}
        running = oracle.running()
        for worker_id in running:
            if worker_id not in dead and self._silent(worker_id) > cluster.WORKER_SILENCE_S:
                dead[worker_id] = None
        for worker_id, code in dead.items():
            config_id = oracle.release(worker_id)
            how = f"exit code {code}" if code is not None else f"no heartbeat for {cluster.WORKER_SILENCE_S:.0f}s"
            if config_id in pending:
                trial = pending[config_id].trial_id
                if oracle.handed_out[config_id] >= MAX_ATTEMPTS:
                    oracle.withdraw(config_id)
                    self.notify(f"worker {worker_id} died ({how}) while training {trial}, the {MAX_ATTEMPTS}th worker "
                                f"to die on it: recorded as failed")
                    on_result(_lost(stage, pending.pop(config_id), worker_id, how))
                else:
                    self.notify(f"worker {worker_id} died ({how}) while training {trial}: handed to another worker")
            elif code is not None and code != 0:
                self.notify(f"worker {worker_id} exited ({how})")
            if self.local is not None and code is not None and pending:
                self.local.replace(worker_id, code)
        unrecorded = [cid for cid in pending if self.store.trial(cid) is None]
        for config_id in oracle.requeue_unheld(unrecorded):
            self.notify(f"{pending[config_id].trial_id} ended on its worker without a record: queued again")
        if not running and not self.local and not self._waiting_noted:
            self._waiting_noted = True
            self.notify(f"waiting for workers: python -m gridsearch worker {self.space_file} --chief "
                        f"{self.address} --results-dir {self.results_root}")

    def _silent(self, worker_id: str) -> float:
        beat = (cluster.read_json(cluster.worker_path(self.results, worker_id)) or {}).get("beat")
        return self._heartbeats.silent_for(worker_id, beat)

    def _wait_for_ends(self, oracle: QueueOracle) -> None:
        """Let the workers of the last trials report their end to this oracle before the next one is served
        (a late call would reach the next stage's oracle); a worker that dies meanwhile is not waited for."""
        deadline = time.monotonic() + cluster.WORKER_SILENCE_S
        while oracle.running() and time.monotonic() < deadline:
            for worker_id, code in (self.local.dead() if self.local else {}).items():
                oracle.release(worker_id)
                self.local.replace(worker_id, code)
            time.sleep(0.05)


def _lost(stage: PlannedStage, candidate: Candidate, worker_id: str, how: str) -> TrialResult:
    return TrialResult(candidate.trial_id, stage.index, stage.name, candidate.config_id, dict(candidate.config),
                       TrialStatus.FAILED, error=f"{MAX_ATTEMPTS} workers died while training this config "
                                                 f"(the last, {worker_id}: {how})")


def _thread_pool():
    from concurrent import futures

    return futures.ThreadPoolExecutor(max_workers=SERVER_THREADS, thread_name_prefix="gridsearch-oracle")


def _idle_oracle() -> QueueOracle:
    """Served before the first stage: it answers STOPPED to every worker."""
    return QueueOracle([], "val_loss", "min", 0)


class ChiefMode(ParallelMode):
    """`--workers N` (local workers) or the `chief` command (`--bind`): Keras Tuner's distributed mode."""

    name, backend = "chief", "keras_tuner"

    def requested(self, options: RunOptions) -> bool:
        return bool(options.workers or options.bind)

    def wrong_backend(self, backend_name: str) -> str:
        return (f"--workers and the chief command run Keras Tuner's distributed mode, not the {backend_name} "
                f"backend: use --jobs N on one machine, or --dask-scheduler ADDRESS on a Dask cluster")

    def check(self, options: RunOptions, backend_name: str) -> None:
        if options.halving:
            raise SpaceError("--halving runs in one process: with --workers or as a chief, a stage's trials run at "
                             "once in other processes, so none has finished siblings to be compared with")
        super().check(options, backend_name)

    def running(self, loaded: LoadedSpace, options: RunOptions, store: ResultsStore,
                notify: Callable[[str], None]) -> ChiefBackend:
        bind = options.bind or cluster.Address(cluster.LOOPBACK, 0)  # --workers alone: loopback, a free port
        return ChiefBackend(store.folder, loaded.path, loaded.sha256, options.results_root, bind, options.workers or 0,
                            options.prune, notify)


MODE = ChiefMode()
