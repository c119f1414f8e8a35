"""A finished results folder, reopened for the steps after the search (ensemble, calibration).

They train again on the run's own split, so they need the space file the run read, unchanged: its
data, seed and split fractions decide the split, its model the builder. A moved or edited space file
is refused (exit 2) rather than silently giving members trained on another split.
"""
from __future__ import annotations

from pathlib import Path

from gridsearch.errors import SpaceError
from gridsearch.results.layout import read_best_config
from gridsearch.training.fit import TrainingContext


def reopen(folder: str | Path) -> TrainingContext:
    """A training context on the very split, builder and seed the run of this folder used."""
    from gridsearch.space.loader import load_space
    from gridsearch.training.fit import training_context

    provenance = read_best_config(folder)["provenance"]
    space_file = Path(provenance["space_file"])
    if not space_file.is_file():
        raise SpaceError(f"the space file {space_file} that the results in {folder} were made with is gone; "
                         f"it is needed to read the data and split it as the run did")
    loaded = load_space(space_file)
    if loaded.sha256 != provenance["space_sha256"]:
        raise SpaceError(f"the space file {space_file} changed since the results in {folder} were written, so "
                         f"its data and split may differ; run the search again first "
                         f"(python -m gridsearch run {space_file} --resume-changed keeps the finished trials)")
    return training_context(loaded, prune=False)
