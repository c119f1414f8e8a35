"""Turn a space into the stages that will run: staged (sum of stage sizes) or the full grid (product)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from .hyperparams import builtin_defaults
from .space import SearchSpace


@dataclass(frozen=True)
class PlannedStage:
    index: int  # 1-based
    name: str
    grid: dict[str, list[Any]]

    def candidates(self) -> list[dict[str, Any]]:
        """The grid's points in the order the user wrote them (first key varies slowest)."""
        return [dict(zip(self.grid, combo)) for combo in itertools.product(*self.grid.values())]

    @property
    def size(self) -> int:
        return len(self.candidates())


def make_plan(space: SearchSpace, full_grid: bool = False) -> list[PlannedStage]:
    if full_grid or space.plan == "full_grid":
        grid = {name: values for stage in space.stages for name, values in stage.grid.items()}
        return [PlannedStage(1, "full_grid", grid)]
    return [PlannedStage(i, stage.label, stage.grid) for i, stage in enumerate(space.stages, start=1)]


def base_config(space: SearchSpace) -> dict[str, Any]:
    """Every hyperparameter's starting value: registry defaults, then the space's own."""
    return {**builtin_defaults(), "epochs": space.epochs, "batch_size": space.batch_size, **space.defaults}


def tuned_names(space: SearchSpace) -> list[str]:
    """The hyperparameters a user named (stages and defaults), in the order they appear: the leaderboard's columns."""
    names: list[str] = []
    for name in [n for stage in space.stages for n in stage.grid] + list(space.defaults) + ["epochs", "batch_size"]:
        if name not in names:
            names.append(name)
    return names
