"""Trials on several processes or machines: Keras Tuner's chief and workers, the sklearn backend over Dask.

Each way of running a backend's stages in parallel is one module of this package defining `MODE`, a
`ParallelMode`, the way each backend is one module of `backends`: the search asks which mode the
options request, lets it refuse what it cannot do before anything runs, and runs the stages inside it.
A new mode is one new file.
"""
from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from gridsearch.backends import Backend, get_backend
from gridsearch.errors import SpaceError

if TYPE_CHECKING:  # annotations only: the run's options and store sit above this package
    from gridsearch.results.store import ResultsStore
    from gridsearch.search.run import RunOptions
    from gridsearch.space.loader import LoadedSpace


class ParallelMode(ABC):
    name: str
    backend: str  # the backend whose stages it runs
    sequential_trials: bool = False  # a stage's trials run at once elsewhere: none has finished siblings

    @abstractmethod
    def requested(self, options: RunOptions) -> bool:
        """Whether the options ask for this mode."""

    @abstractmethod
    def wrong_backend(self, backend_name: str) -> str:
        """The message refusing this mode with another backend: what to use there instead."""

    def check(self, options: RunOptions, backend_name: str) -> None:
        """Refuse, before anything runs, what this mode cannot do."""
        if backend_name != self.backend:
            raise SpaceError(self.wrong_backend(backend_name))

    @abstractmethod
    def running(self, loaded: LoadedSpace, options: RunOptions, store: ResultsStore,
                notify: Callable[[str], None]) -> AbstractContextManager[Backend]:
        """The backend, inside whatever runs its parallel work for the whole run (left before the winner
        is retrained, so that the retrain has every core)."""


def parallel_modes() -> list[ParallelMode]:
    modules = (importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__))
    return [module.MODE for module in modules if hasattr(module, "MODE")]


def requested_mode(options: RunOptions, backend_name: str) -> ParallelMode | None:
    """The mode the options ask for, checked against the backend; None: one process."""
    for mode in parallel_modes():
        if mode.requested(options):
            mode.check(options, backend_name)
            return mode
    return None


@contextmanager
def running_backend(mode: ParallelMode | None, backend_name: str, loaded: LoadedSpace, options: RunOptions,
                    store: ResultsStore, notify: Callable[[str], None]) -> Iterator[Backend]:
    if mode is None:
        yield get_backend(backend_name)
        return
    with mode.running(loaded, options, store, notify) as backend:
        yield backend
