"""Backends run a batch of candidate configs and report each finished trial.

The search decides what to try (stages, reuse, winners); a backend only decides how a
batch is run. Each backend is one module of this package defining `BACKEND`, an object
with the `Backend` interface, so a new backend is one new file.
"""
from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # listing the backends must not import the training stack
    from gridsearch.plans.stages import PlannedStage
    from gridsearch.training.fit import Siblings, TrainingContext
    from gridsearch.training.trial import TrialResult


@dataclass(frozen=True)
class Candidate:
    trial_id: str
    config_id: str
    config: dict[str, Any]


class Backend(ABC):
    name: str
    # a stage's trials finish one after another, so each can be compared with its finished siblings
    # (sibling pruning, successive halving); False for a backend that fits a stage's configs at once
    sequential_trials: bool = True

    @abstractmethod
    def run_stage(self, stage: PlannedStage, candidates: list[Candidate], ctx: TrainingContext,
                  on_result: Callable[[TrialResult], None], workdir: Path, siblings: Siblings = ()) -> None:
        """Train every candidate and call `on_result` once per candidate, as each finishes.

        Must not raise for a failing candidate: that is a `failed` result. `siblings` (what the stage changes,
        `ctx` is what the run fixes): the histories of the stage's trials finished so far; the search appends
        each one as it finishes, for sibling pruning.
        """

    def check(self, ctx: TrainingContext, configs: list[dict[str, Any]]) -> None:
        """Refuse (SpaceError) what this backend cannot train, before anything trains, the pre-flight included;
        `configs` are the ones the plan knows of. Nothing to refuse by default."""
        return None

    def fingerprint(self, space: Any) -> dict[str, Any]:
        """What, besides the config, makes this backend's results differ from another's (part of the
        config id, so that a run with another backend or setting never reuses these records)."""
        return {}


def available_backends() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def get_backend(name: str) -> Backend:
    return importlib.import_module(f"{__name__}.{name}").BACKEND
