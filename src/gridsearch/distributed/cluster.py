"""What a chief and its workers tell each other through the shared results folder, and how a worker
is placed on its cores.

Keras Tuner's gRPC oracle hands out the trials; everything else goes through files in
`results/<name>/distributed/`, written atomically, so that any process can read them at any time:

    chief.json            who the chief is (host, pid, run id, space file hash), its heartbeat, the stage
                          being searched, and `state`: running | done | stopped
    stage_<k>.json        the candidates of stage k: trial id, config id, config (written before chief.json
                          names the stage, so a worker never sees a stage it cannot read)
    workers/<id>.json     one per worker: host, pid, heartbeat, the trial it is training, trials done

A heartbeat is a counter, not a time stamp: the reader notes when it last saw it change by its own
clock, so clocks of different machines never need to agree.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridsearch.errors import SpaceError
from gridsearch.results.atomic import atomic_write_json
from gridsearch.results.layout import DISTRIBUTED_DIR

HEARTBEAT_S = 1.0  # how often chief and workers write their heartbeat
POLL_S = 0.5  # how often the chief looks at records and workers, and an idle worker asks again
# A remote worker whose heartbeat has not changed for this long is taken for dead and its trial is handed
# to another one. Generous: a worker on a loaded machine writes late, and a wrong guess only costs a
# duplicate training (the second record of a config overwrites the first, identical one).
WORKER_SILENCE_S = 30.0
# A worker whose chief's heartbeat has not changed for this long stops asking and waits for a new chief.
CHIEF_SILENCE_S = 20.0
LOOPBACK = "127.0.0.1"
# Set by a chief for the workers it starts itself: such a worker exits as soon as its chief is gone.
CHIEF_PID_ENV = "GRIDSEARCH_CHIEF_PID"


def folder(results: Path) -> Path:
    return Path(results) / DISTRIBUTED_DIR


def chief_path(results: Path) -> Path:
    return folder(results) / "chief.json"


def stage_path(results: Path, stage: int) -> Path:
    return folder(results) / f"stage_{stage}.json"


def worker_path(results: Path, worker_id: str) -> Path:
    return folder(results) / "workers" / f"{worker_id}.json"


def read_json(path: Path) -> dict[str, Any] | None:
    """The file's content, or None while it does not exist (or is being replaced on a shared file system)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_json(path, data)


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return self.host in (LOOPBACK, "localhost", "::1") or self.host.startswith("127.")


def parse_address(text: str, flag: str, *, allow_any_port: bool = False) -> Address:
    """'HOST:PORT' from the command line; a clear error naming the flag otherwise."""
    host, sep, port = (text or "").rpartition(":")
    low = 0 if allow_any_port else 1
    if not sep or not host or not port.isdigit() or not low <= int(port) <= 65535:
        raise SpaceError(f"{flag} {text!r} is not an address: give HOST:PORT, e.g. {flag} {LOOPBACK}:8000 "
                         f"(port {low}-65535{', 0 picks a free one' if allow_any_port else ''})")
    return Address(host.strip("[]"), int(port))


def default_worker_id() -> str:
    """host-pid, unique across machines. Keras Tuner takes any tuner id containing 'chief' for the chief
    (`distribute.utils.is_chief_oracle`), so a host named like that must not leak the word into the id."""
    return f"{socket.gethostname()}-{os.getpid()}".replace("chief", "head")


def check_worker_id(worker_id: str) -> str:
    if not worker_id or "chief" in worker_id or any(c in worker_id for c in "/\\ :"):
        raise SpaceError(f"--id {worker_id!r} is not allowed: a worker id must be non-empty, without '/', spaces "
                         f"or ':', and must not contain 'chief' (Keras Tuner would take the worker for the chief)")
    return worker_id


class Heartbeat:
    """Tells, by the reader's own clock, whether a heartbeat counter is still changing."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Any, float]] = {}

    def silent_for(self, key: str, beat: Any) -> float:
        now = time.monotonic()
        last = self._seen.get(key)
        if last is None or last[0] != beat:
            self._seen[key] = (beat, now)
            return 0.0
        return now - last[1]


# --- cores -----------------------------------------------------------------------------------------

def parse_cores(text: str) -> list[int]:
    """'0-3,6' -> [0, 1, 2, 3, 6], every one of them a core this process may run on."""
    allowed = sorted(os.sched_getaffinity(0))
    cores: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            cores.extend(range(int(low), int(high or low) + 1))
    except ValueError:
        raise SpaceError(f"--cores {text!r} is not a list of cores: give e.g. 0-3 or 0,2 (this machine: "
                         f"{allowed[0]}-{allowed[-1]})") from None
    unknown = sorted(set(cores) - set(allowed))
    if not cores or unknown:
        raise SpaceError(f"--cores {text!r} names cores {unknown} this process cannot run on "
                         f"(allowed: {format_cores(allowed)})")
    return sorted(set(cores))


def format_cores(cores: list[int]) -> str:
    return ",".join(map(str, cores))


def share_cores(workers: int) -> list[list[int]]:
    """Each of `workers` local workers' share of the cores: contiguous, as even as can be; with more
    workers than cores, workers share cores round-robin."""
    cores = sorted(os.sched_getaffinity(0))
    if workers >= len(cores):
        return [[cores[i % len(cores)]] for i in range(workers)]
    size, extra = divmod(len(cores), workers)
    shares, start = [], 0
    for i in range(workers):
        end = start + size + (1 if i < extra else 0)
        shares.append(cores[start:end])
        start = end
    return shares


def pin_to_cores(cores: list[int]) -> None:
    """Run this process on `cores` only, with TensorFlow's and OpenMP's thread pools sized to match.

    Must run before TensorFlow initialises: its thread pools are created once, at the first op, from
    these settings (tf.config.threading raises after that), and OpenMP reads its variable at load.
    """
    os.sched_setaffinity(0, cores)
    threads = str(len(cores))
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[name] = threads
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(len(cores))
    tf.config.threading.set_inter_op_parallelism_threads(len(cores))


def visible_gpus(environ: dict[str, str]) -> list[str]:
    """The GPUs this process may use, as CUDA names them: CUDA_VISIBLE_DEVICES when set, else every GPU
    TensorFlow sees (none on a CPU machine)."""
    if "CUDA_VISIBLE_DEVICES" in environ:
        return [gpu for gpu in environ["CUDA_VISIBLE_DEVICES"].split(",") if gpu.strip() not in ("", "-1")]
    import tensorflow as tf

    return [str(i) for i in range(len(tf.config.list_physical_devices("GPU")))]


def gpu_env(slot: int, gpus: list[str]) -> dict[str, str]:
    """One GPU per local worker (round robin when there are more workers than GPUs): TensorFlow in a worker
    otherwise takes every GPU's memory, and all workers train on GPU 0 (keras-team/keras-tuner#220, #413).
    Nothing when there is no GPU."""
    return {"CUDA_VISIBLE_DEVICES": gpus[slot % len(gpus)]} if gpus else {}
