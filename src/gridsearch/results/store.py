"""Trial records (the source of truth for what finished), the run manifest and the run lock.

The folder's layout is `results.layout`; its writes are atomic (`results.atomic`).
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from gridsearch.errors import SpaceError
from gridsearch.results.atomic import atomic_write_json, atomic_write_text
from gridsearch.results.layout import CALIBRATION_REPORT, ENSEMBLE_REPORT, LOCK, MODEL_FILES, RUN_MANIFEST, TRIALS_DIR
from gridsearch.training.trial import TrialResult


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
        self.trials_dir = self.folder / TRIALS_DIR

    # --- the lock: one run per results folder -------------------------------------------
    def acquire_lock(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpaceError(f"results folder {self.folder} cannot be created: {exc}") from None
        lock = self.folder / LOCK
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
        lock = self.folder / LOCK
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
        path = self.folder / RUN_MANIFEST
        return json.loads(path.read_text()) if path.is_file() else None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.folder / RUN_MANIFEST, manifest)

    def clear(self) -> None:
        """--overwrite: forget every earlier result of this folder (the lock stays)."""
        if not self.folder.is_dir():
            return
        for child in self.folder.iterdir():
            if child.name == LOCK:
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
