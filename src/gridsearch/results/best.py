"""Bring the winner back into Python: its values as a dict, or a compiled model built with them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from gridsearch.results.layout import read_best_config
from gridsearch.training.models import BUILTIN_BUILDERS, resolve_builder


def load_best(folder: str | Path) -> dict[str, Any]:
    """The winning hyperparameters as a plain dict, with `metrics` and `provenance` under their own keys."""
    best = read_best_config(folder)
    return {**best["hyperparameters"], "metrics": best["metrics"],
            "provenance": {**best["provenance"], "trial_id": best["trial_id"], "data": best["data"]}}


def build_best(folder: str | Path) -> keras.Model:
    """A fresh compiled keras.Model with the winning values (the trained winner is best_model.keras)."""
    best = read_best_config(folder)
    model = best["provenance"]["model"]
    if model not in BUILTIN_BUILDERS:
        from gridsearch.space.loader import load_space  # a custom builder lives in the space file

        model = load_space(best["provenance"]["space_file"]).space.model
    builder = resolve_builder(model)
    return builder(dict(best["hyperparameters"]), tuple(best["data"]["input_shape"]), best["data"]["num_classes"])
