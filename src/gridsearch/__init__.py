"""gridsearch: staged hyperparameter grid search for Keras CNNs, with a diagnosis of every trial.

Everything the command line does can be done from here:

    from gridsearch import load_space, run_search, RunOptions, load_best, build_best, diagnose
    summary = run_search("search_spaces/digits_cnn.py", RunOptions(results_root="results"))
    best = load_best(summary.folder)                 # the winning values, metrics and provenance
    verdict = diagnose("training.csv")               # any Keras log: CSV, history JSON, TensorBoard folder

Space files import `SearchSpace` and `Stage`, which load at once; every other name loads its module
(and Keras, TensorFlow) on first use, so that a space file or `--help` starts fast.
"""
from __future__ import annotations

import importlib
from typing import Any

from gridsearch.errors import GridsearchError, SearchFailed, SpaceError
from gridsearch.space.search_space import SearchSpace, Stage

__version__ = "0.1.0"

# public name -> (module, attribute): loaded on first use
_LAZY = {
    "load_space": ("gridsearch.space.loader", "load_space"),
    "run_search": ("gridsearch.search.run", "run_search"),
    "RunOptions": ("gridsearch.search.run", "RunOptions"),
    "SearchSummary": ("gridsearch.search.run", "SearchSummary"),
    "Reporter": ("gridsearch.reports.reporter", "Reporter"),
    "read_leaderboard": ("gridsearch.results.leaderboard", "read_leaderboard"),
    "load_best": ("gridsearch.results.best", "load_best"),
    "build_best": ("gridsearch.results.best", "build_best"),
    "load_ensemble": ("gridsearch.serving.ensemble", "load_ensemble"),
    "predict": ("gridsearch.serving.predict", "predict"),
    "write_report": ("gridsearch.reports.html", "write_report"),
    "diagnose": ("gridsearch.diagnosis.logs", "diagnose_log"),
    "read_training_log": ("gridsearch.diagnosis.logs", "read_training_log"),
}

__all__ = ["SearchSpace", "Stage", "GridsearchError", "SpaceError", "SearchFailed", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'gridsearch' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
