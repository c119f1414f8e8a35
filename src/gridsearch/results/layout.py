"""The results folder's layout: every name under `results/<name>/`, and the one writer of best_config.json.

    run.json                  the space file and hash the results belong to (the run's manifest)
    preflight.json            the checks of the data and the baseline model made before the first trial
    trials/<config id>.json   one finished trial each: the source of truth for reuse and resume
    leaderboard.csv           rebuilt from the records after every trial
    best_config.json          the winner, its test score and provenance; the ensemble and calibration add theirs
    best_model.keras          the retrained winner, raw images in (its preparation a layer inside)
    preparation.npz           folders written before that: the winner's input preparation (best_model.keras
                              took prepared inputs; best_config.json has no data.model_input there)
    doctor.json               the doctor's before/after (plan="auto")
    ensemble.keras            the top-k ensemble, raw images in (`python -m gridsearch ensemble`), ensemble.json
    calibrated.keras          the winner with its temperature, raw images in (`... calibrate`), calibration.json;
                              ensemble_calibrated.keras the same for the ensemble (`... calibrate --ensemble`)
    plots/                    PNG curves per trial, per stage and the search path
    tensorboard/              TensorBoard runs and the HParams experiment
    cache/                    an image folder's tf.data file cache (data_options cache="file"), per worker
    distributed/              the chief's and the workers' heartbeats (--workers, chief/worker)
    report.html               `python -m gridsearch report`
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gridsearch.errors import SpaceError
from gridsearch.results.atomic import atomic_write_json

RUN_MANIFEST = "run.json"
PREFLIGHT = "preflight.json"
TRIALS_DIR = "trials"
LEADERBOARD = "leaderboard.csv"
BEST_CONFIG = "best_config.json"
PREPARATION = "preparation.npz"
DOCTOR_REPORT = "doctor.json"
ENSEMBLE_REPORT = "ensemble.json"
CALIBRATION_REPORT = "calibration.json"
# The saved models of a results folder, by (ensemble, calibrated); each takes raw images (best_model.keras of
# folders written before best_config.json's data.model_input took prepared inputs, see `takes_raw_images`).
MODEL_FILES = {(False, False): "best_model.keras", (True, False): "ensemble.keras",
               (False, True): "calibrated.keras", (True, True): "ensemble_calibrated.keras"}
RAW_IMAGES = "raw images"  # best_config.json's data.model_input when best_model.keras has its preparation inside
PLOTS_DIR = "plots"
TENSORBOARD_DIR = "tensorboard"
DISTRIBUTED_DIR = "distributed"
CACHE_DIR = "cache"
REPORT_HTML = "report.html"
LOCK = ".lock"


def results_folder(results_root: Path, space_name: str) -> Path:
    return Path(results_root) / space_name


def read_best_config(folder: str | Path) -> dict[str, Any]:
    """best_config.json of a finished run, as written (SpaceError, exit 2, when there is none)."""
    path = Path(folder) / BEST_CONFIG
    if not path.is_file():
        raise SpaceError(f"no best config in {folder}: expected {path} (a finished `python -m gridsearch run`)")
    return json.loads(path.read_text())


def write_best_config(folder: str | Path, best: dict[str, Any]) -> None:
    """The search writes the whole file once its winner is retrained."""
    atomic_write_json(Path(folder) / BEST_CONFIG, best)


def update_best_config(folder: str | Path, **sections: Any) -> dict[str, Any]:
    """The steps after the search add their section (`ensemble`, `calibration`); None removes one."""
    best = read_best_config(folder)
    for key, value in sections.items():
        if value is None:
            best.pop(key, None)
        else:
            best[key] = value
    write_best_config(folder, best)
    return best


def takes_raw_images(best: dict[str, Any]) -> bool:
    """Whether best_model.keras of this best_config.json takes raw images (else prepared inputs, with
    preparation.npz beside it: folders written before the key existed)."""
    return best.get("data", {}).get("model_input") == RAW_IMAGES
