"""scikit-learn's joblib over Dask: the sklearn backend's GridSearchCV fits on a `dask.distributed` cluster.

`--dask-scheduler ADDRESS` connects to a running scheduler (`dask scheduler`, then `dask worker ADDRESS
--nthreads 1` on each machine); `--dask-scheduler local` starts a `LocalCluster` on this machine, one
single-threaded worker process per core or `--jobs N` of them. Inside, GridSearchCV runs with
`n_jobs=-1`: one fit per Dask worker thread at a time.

Checked before any fit, with a clear error: every worker runs one thread (each fit calls
`keras.backend.clear_session()`, global to a process, so fits in threads of one process would break
each other), and every worker sees the results folder at the same path (each fold fit writes its
history there; the trial record is built from those files).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gridsearch.backends import Backend, get_backend
from gridsearch.distributed import ParallelMode
from gridsearch.errors import SpaceError

if TYPE_CHECKING:
    from gridsearch.results.store import ResultsStore
    from gridsearch.search.run import RunOptions
    from gridsearch.space.loader import LoadedSpace

LOCAL = "local"
CONNECT_TIMEOUT_S = 30  # a scheduler that does not answer within this is reported, not waited for


@contextmanager
def joblib_over_dask(scheduler: str, local_workers: int | None, results: Path,
                     notify: Callable[[str], None]) -> Iterator[None]:
    import joblib

    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SpaceError("--dask-scheduler needs dask.distributed: pip install 'gridsearch[dask]'") from None

    if scheduler == LOCAL:
        workers = local_workers or len(os.sched_getaffinity(0))
        # loopback only and no dashboard: nothing of this run listens beyond this machine
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        client = Client(cluster)
    else:
        cluster = None
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SpaceError(f"--dask-scheduler {scheduler}: cannot reach a Dask scheduler there ({exc}); start one "
                             f"with `dask scheduler` and give its address, e.g. tcp://HOST:8786") from None
    try:
        _check_workers(client, Path(results).resolve(), scheduler)
        _import_on_workers(client, scheduler)
        notify(f"fitting over Dask at {client.scheduler.address}: "
               f"{len(client.scheduler_info()['workers'])} workers")
        with joblib.parallel_backend("dask"):
            yield
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _check_workers(client, results: Path, scheduler: str) -> None:
    info = client.scheduler_info()["workers"]
    if not info:
        raise SpaceError(f"--dask-scheduler {scheduler}: the scheduler has no workers; start some with "
                         f"`dask worker {scheduler} --nthreads 1`")
    threaded = {address: w["nthreads"] for address, w in info.items() if w["nthreads"] != 1}
    if threaded:
        raise SpaceError(f"--dask-scheduler {scheduler}: workers {threaded} run several threads; Keras' session is "
                         f"global to a process, so fits in threads of one process break each other: start each "
                         f"worker with `dask worker {scheduler} --nthreads 1`")
    blind = [address for address, sees in client.run(os.path.isdir, str(results)).items() if not sees]
    if blind:
        raise SpaceError(f"--dask-scheduler {scheduler}: workers {blind} do not see the results folder {results}; "
                         f"every fold fit writes its history there, so it must be on a file system shared at the "
                         f"same path")


def _import_on_workers(client, scheduler: str) -> None:
    """Import the training stack on every worker, as a task, before the first fit.

    A worker that first meets TensorFlow while unpickling a fit imports it on its event loop; on a busy
    machine that takes longer than Dask's 30 s comm timeout, the scheduler drops the worker, and the fits
    fail with "lost scattered data". A task imports in a worker thread, and the event loop keeps answering.
    """
    import importlib

    workers = list(client.scheduler_info()["workers"])
    futures = [client.submit(importlib.import_module, "gridsearch.backends.sklearn", workers=[address], pure=False,
                             allow_other_workers=False) for address in workers]
    try:
        client.gather(futures)
    except ImportError as exc:
        raise SpaceError(f"--dask-scheduler {scheduler}: a worker cannot import gridsearch ({exc}); install it on "
                         f"every machine that runs a Dask worker") from None


class DaskMode(ParallelMode):
    """`--dask-scheduler [ADDRESS|local]`: the sklearn backend's fits over a Dask cluster."""

    name, backend = "dask", "sklearn"

    def requested(self, options: RunOptions) -> bool:
        return bool(options.dask_scheduler)

    def wrong_backend(self, backend_name: str) -> str:
        return (f"--dask-scheduler runs scikit-learn's fits over Dask (the sklearn backend), not the {backend_name} "
                f"backend: use --workers N, or the chief and worker commands")

    def check(self, options: RunOptions, backend_name: str) -> None:
        super().check(options, backend_name)
        if options.dask_scheduler != LOCAL and options.jobs is not None:
            raise SpaceError(f"--jobs {options.jobs} with --dask-scheduler {options.dask_scheduler}: the cluster's "
                             f"workers decide how many fits run at once; --jobs only sizes a local cluster "
                             f"(--dask-scheduler local)")

    @contextmanager
    def running(self, loaded: LoadedSpace, options: RunOptions, store: ResultsStore,
                notify: Callable[[str], None]) -> Iterator[Backend]:
        with joblib_over_dask(options.dask_scheduler, options.jobs, store.folder, notify):
            yield get_backend(self.backend)


MODE = DaskMode()
