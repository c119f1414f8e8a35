"""Turn a space into the stages that will run: staged (sum of stage sizes), the full grid (product), or the
doctor's (`plan="auto"`, chosen one at a time from the diagnosis of the last winner, see doctor.py).

A plan is a strategy in the manner of scikit-learn's `_run_search(evaluate_candidates)`: its `run` hands
stages to one `run_stage` function, which trains them and returns each stage's winner; a static plan
hands them all in order, the doctor chooses each after seeing the last winner. The search loop, reuse,
resume and the leaderboard are the same for every plan (search.py).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gridsearch.space.hyperparams import builtin_defaults
from gridsearch.space.search_space import SearchSpace

if TYPE_CHECKING:
    from gridsearch.training.trial import TrialResult


@dataclass(frozen=True)
class PlannedStage:
    index: int  # 1-based
    name: str
    grid: dict[str, list[Any]]
    reason: str = ""  # why this stage runs now (the doctor's), printed with the stage's header

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


class RunStage(Protocol):
    def __call__(self, stage: PlannedStage, *, allow_no_winner: bool = False) -> TrialResult:
        """Train the stage's candidates (earlier winners frozen) and return its best row.

        The best row is the winner, frozen for the next stages, when it finished; with `allow_no_winner` a
        stage where every trial failed or was pruned returns its least bad row and freezes nothing,
        otherwise it stops the search."""


class Plan(Protocol):
    def stages(self) -> list[PlannedStage]:
        """The stages known before the run (the progress total, the plots' and TensorBoard's values)."""

    def run(self, run_stage: RunStage) -> None:
        """Hand the stages to `run_stage`, one at a time."""

    def report(self) -> dict[str, Any] | None:
        """What the plan has to say once it ran (the doctor's before/after), or None."""


@dataclass(frozen=True)
class StaticPlan:
    """The staged search or the full grid: every stage known in advance, run in order."""

    planned: list[PlannedStage]

    def stages(self) -> list[PlannedStage]:
        return list(self.planned)

    def run(self, run_stage: RunStage) -> None:
        for stage in self.planned:
            run_stage(stage)

    def report(self) -> None:
        return None


def plan_name(space: SearchSpace, full_grid: bool = False) -> str:
    """The plan a run follows: --full-grid wins over the space's own."""
    return "full_grid" if full_grid else space.plan


def search_plan(space: SearchSpace, full_grid: bool = False) -> Plan:
    if plan_name(space, full_grid) == "auto":
        from gridsearch.plans.doctor import Doctor  # late: the doctor builds on this module

        return Doctor(space)
    return StaticPlan(make_plan(space, full_grid))


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
