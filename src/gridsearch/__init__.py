"""gridsearch: staged hyperparameter grid search for Keras CNNs, with a diagnosis of every trial.

Space files import `SearchSpace` and `Stage`; after a run, `load_best` and `build_best`
bring the winner back and `load_ensemble` the saved top-k ensemble. Heavy imports (Keras,
TensorFlow) wait until they are needed.
"""
from __future__ import annotations

from gridsearch.space.search_space import SearchSpace, Stage

__all__ = ["SearchSpace", "Stage", "load_best", "build_best", "load_ensemble"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("load_best", "build_best"):
        from gridsearch.results import best

        return getattr(best, name)
    if name == "load_ensemble":
        from gridsearch.serving.ensemble import load_ensemble

        return load_ensemble
    raise AttributeError(f"module 'gridsearch' has no attribute {name!r}")
