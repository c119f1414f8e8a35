"""The results folder: trial records (the source of truth for what finished), atomic writes, the run lock.

Layout of `results/<name>/`:
    run.json            the space file and hash the results belong to
    preflight.json      the checks of the data and the baseline model made before the first trial
    trials/<id>.json    one finished trial each, keyed by its config id
    leaderboard.csv     rebuilt from the records after every trial
    best_config.json    the winner, its test score and provenance
    best_model.keras    the retrained winner (it takes prepared inputs)
    preparation.npz     the winner's input preparation (statistics of the training split)
    ensemble.keras      the top-k ensemble, raw images in (`python -m gridsearch ensemble`), ensemble.json
    calibrated.keras    the winner with its temperature, raw images in (`... calibrate`), calibration.json;
                        ensemble_calibrated.keras the same for the ensemble (`... calibrate --ensemble`)
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import warnings
from pathlib import Path
from typing import Any

from gridsearch.errors import SpaceError
from gridsearch.training.trial import TrialResult

LOCK_NAME = ".lock"
PREPARATION_FILE = "preparation.npz"
# The saved models of a results folder, by (ensemble, calibrated); all but the first take raw images.
MODEL_FILES = {(False, False): "best_model.keras", (True, False): "ensemble.keras",
               (False, True): "calibrated.keras", (True, True): "ensemble_calibrated.keras"}
ENSEMBLE_REPORT, CALIBRATION_REPORT = "ensemble.json", "calibration.json"
_UMASK = os.umask(0)
os.umask(_UMASK)

KILL_ENV = "GRIDSEARCH_KILL_AT"
# GRIDSEARCH_KILL_WORKER=<worker id>:<event>:<n>: GRIDSEARCH_KILL_AT=<event>:<n> for that worker of a
# distributed search only (the chief and the other workers, which inherit the environment, are spared).
KILL_WORKER_ENV = "GRIDSEARCH_KILL_WORKER"
_fault_counts: dict[str, int] = {}


def fault_point(event: str) -> None:
    """Fault-injection hook for the crash/resume tests; inert unless GRIDSEARCH_KILL_AT is set.

    GRIDSEARCH_KILL_AT=<event>:<n> kills this process with SIGKILL (no cleanup, like a power cut)
    the n-th time `event` is reached; GRIDSEARCH_KILL_SIGNAL=SIGTERM (SIGINT, SIGSTOP) sends that one instead.
    Events: trial_start, epoch_end, trial_saved, stage_end, write:<file name> (temp file written, not renamed).
    """
    spec = os.environ.get(KILL_ENV)
    target, _, count = (spec or "").rpartition(":")
    if target != event:
        return
    _fault_counts[event] = _fault_counts.get(event, 0) + 1
    if _fault_counts[event] == int(count):
        os.kill(os.getpid(), getattr(signal, os.environ.get("GRIDSEARCH_KILL_SIGNAL", "SIGKILL")))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and rename: a kill leaves the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are for the user's usual readers too
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        fault_point(f"write:{path.name}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_model(model: Any, path: Path) -> None:
    """`model.save` writes in place; through a temp file (Keras wants the .keras suffix) it is atomic too."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def results_folder(results_root: Path, space_name: str) -> Path:
    return Path(results_root) / space_name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ResultsStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.trials_dir = self.folder / "trials"

    # --- the lock: one run per results folder -------------------------------------------
    def acquire_lock(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpaceError(f"results folder {self.folder} cannot be created: {exc}") from None
        lock = self.folder / LOCK_NAME
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                owner = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _pid_alive(owner):
                raise SpaceError(f"{self.folder} is in use by another gridsearch run (pid {owner}); "
                                 f"wait for it to finish or stop it, then run again") from None
            warnings.warn(f"taking over the stale lock of {self.folder} left by a dead run (pid {owner})",
                          stacklevel=2)
            lock.unlink(missing_ok=True)
            return self.acquire_lock()
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))

    def release_lock(self) -> None:
        lock = self.folder / LOCK_NAME
        try:
            if int(lock.read_text().strip() or 0) == os.getpid():
                lock.unlink()
        except (OSError, ValueError):
            pass

    def check_writable(self) -> None:
        """Fail before training, not after an hour, when results cannot be written."""
        try:
            self.trials_dir.mkdir(parents=True, exist_ok=True)
            for leftover in [*self.folder.glob(".*.tmp*"), *self.trials_dir.glob(".*.tmp")]:
                leftover.unlink()  # the temp file of a write that a killed run never renamed
            atomic_write_text(self.folder / ".write_test", "ok")
            (self.folder / ".write_test").unlink()
        except OSError as exc:
            raise SpaceError(f"results folder {self.folder} is not writable: {exc}") from None
        free = shutil.disk_usage(self.folder).free
        if free < 50 * 2**20:
            raise SpaceError(f"results folder {self.folder} has only {free // 2**20} MiB free; need at least 50 MiB")

    # --- run manifest ----------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        path = self.folder / "run.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.folder / "run.json", manifest)

    def clear(self) -> None:
        """--overwrite: forget every earlier result of this folder (the lock stays)."""
        if not self.folder.is_dir():
            return
        for child in self.folder.iterdir():
            if child.name == LOCK_NAME:
                continue
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    # --- what the steps after the search derive from the saved models --------------------------
    def discard_derived(self, *, ensemble: bool = False) -> None:
        """A new winner (or, with `ensemble`, a new ensemble) makes what was built on the old one stale:
        the ensemble and the calibrated models, and their reports, go rather than be used by `predict`."""
        stale = [MODEL_FILES[True, True]] if ensemble else [MODEL_FILES[True, False], MODEL_FILES[False, True],
                                                            MODEL_FILES[True, True], ENSEMBLE_REPORT]
        for name in stale:
            (self.folder / name).unlink(missing_ok=True)
        calibration = self.folder / CALIBRATION_REPORT
        if not calibration.is_file():
            return
        kept = {k: v for k, v in json.loads(calibration.read_text()).items() if ensemble and k != "ensemble"}
        if kept:
            atomic_write_json(calibration, kept)
        else:
            calibration.unlink()

    # --- trial records ---------------------------------------------------------------------
    def save_trial(self, result: TrialResult) -> None:
        atomic_write_json(self.trials_dir / f"{result.config_id}.json", result.to_json())

    def trial(self, config_id: str) -> TrialResult | None:
        """One finished trial's record, or None (not written yet, or caught mid-replace on a shared file system)."""
        try:
            return TrialResult.from_json(json.loads((self.trials_dir / f"{config_id}.json").read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def finished_trials(self) -> dict[str, TrialResult]:
        """Every trial that finished in this folder, by config id (unreadable leftovers are skipped)."""
        found: dict[str, TrialResult] = {}
        if not self.trials_dir.is_dir():
            return found
        for path in sorted(self.trials_dir.glob("*.json")):
            try:
                result = TrialResult.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError, KeyError):
                continue
            found[result.config_id] = result
        return found
