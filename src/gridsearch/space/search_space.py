"""The search space a user writes: `SearchSpace` and `Stage`, and their validation.

The constructors only store what they are given; `validate` checks everything at once
against the hyperparameter registry, so that every message can name the space file,
the field and the allowed values before any training starts.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridsearch.diagnosis.rules import MIN_EPOCHS
from gridsearch.errors import SpaceError, did_you_mean, not_allowed, unknown_keyword
from gridsearch.space.hyperparams import HYPERPARAMETERS, RESERVED_NAMES

BUILTIN_DATASETS = ("digits",)
BUILTIN_MODELS = ("simple_cnn",)
MIXED_PRECISION = ("none", "mixed_float16")  # Keras' policies: float32 everywhere, or float16 compute
PLANS = ("staged", "full_grid", "auto")  # auto: the doctor (doctor.py) picks the stages from the diagnosis
OBJECTIVES = ("val_accuracy", "val_loss", "accuracy", "loss")
# Fields of SearchSpace that also exist as hyperparameters: the space sets their default.
_SPACE_LEVEL_HYPERPARAMETERS = ("epochs", "batch_size")


class Stage:
    """One step of the staged search: a grid over one or several hyperparameters.

    `Stage("learning_rate", [1e-2, 1e-3])` or a joint grid
    `Stage({"l2": [0.0, 1e-4], "dropout": [0.0, 0.3]})` (its product is tried).
    """

    def __init__(self, param: str | Mapping[str, Sequence[Any]], values: Sequence[Any] | None = None,
                 *, name: str | None = None, **unknown: Any) -> None:
        if unknown:
            raise TypeError(unknown_keyword("Stage", next(iter(unknown)), ["param", "values", "name"]))
        self.param = param
        self.values = values
        self.name = name

    @property
    def grid(self) -> dict[str, list[Any]]:
        if isinstance(self.param, Mapping):
            return {k: list(v) for k, v in self.param.items()}
        return {self.param: list(self.values or [])}

    @property
    def label(self) -> str:
        return self.name or "+".join(self.grid)

    def __repr__(self) -> str:
        return f"Stage({self.grid!r})"


def _unknown_fields_refused(cls: type) -> type:
    """A misspelled field (`SearchSpace(n_epoch=20)`, the very pitfall scikeras has) gets Python's TypeError
    with the closest field suggested, as a misspelled hyperparameter gets it from `validate`."""
    generated = cls.__init__
    accepted = [f.name for f in dataclasses.fields(cls)]

    @functools.wraps(generated)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        unknown = [name for name in kwargs if name not in accepted]
        if unknown:
            raise TypeError(unknown_keyword(cls.__name__, unknown[0], accepted))
        generated(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


@_unknown_fields_refused
@dataclass
class SearchSpace:
    """What to search: data, model, defaults and the stages tuned in order."""

    name: str
    data: Any = "digits"
    model: str | Callable[..., Any] = "simple_cnn"
    defaults: dict[str, Any] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    objective: str = "val_accuracy"
    epochs: int = 20
    batch_size: int = 32
    backend: str = "keras_tuner"
    seed: int = 0
    plan: str = "staged"
    validation_split: float = 0.2
    test_split: float = 0.2
    cv_folds: int = 3
    n_jobs: int = 1
    data_options: dict[str, Any] = field(default_factory=dict)  # image_size, color_mode, cache, x_key, y_key
    mixed_precision: str = "none"  # "mixed_float16": float16 compute on a GPU (the output layer stays float32)
    ensemble: int = 0  # K > 0: after the winner, also build the top-K ensemble (`python -m gridsearch ensemble`)

    @property
    def objective_direction(self) -> str:
        return "min" if self.objective.endswith("loss") else "max"

    def known_hyperparameters(self) -> set[str]:
        """Registry names plus the names a custom builder declares in `defaults`."""
        names = set(HYPERPARAMETERS)
        if callable(self.model):
            names |= set(self.defaults)
        return names


def _fail(source: Path, where: str, problem: str, hint: str = "") -> SpaceError:
    return SpaceError(f"{problem} in {where} of {source}{hint}")


def _suggest(name: str, candidates: set[str]) -> str:
    return did_you_mean(name, candidates) or "; known hyperparameters: " + ", ".join(sorted(candidates))


def _check_value(source: Path, where: str, name: str, value: Any) -> None:
    spec = HYPERPARAMETERS.get(name)
    if spec is not None and not spec.check(value):
        raise _fail(source, where, f"{name}={value!r} ({type(value).__name__}) is not allowed: "
                                   f"{name} must be {spec.allowed}")


def _check_name(space: SearchSpace, source: Path, where: str, name: Any) -> None:
    if not isinstance(name, str):
        raise _fail(source, where, f"hyperparameter name {name!r} must be a string")
    if name in RESERVED_NAMES:
        raise _fail(source, where, f"{name!r} is reserved for the best config's own keys", "; rename the hyperparameter")
    known = space.known_hyperparameters()
    if name not in known:
        hint = _suggest(name, known)
        if callable(space.model):
            hint += " (a custom model's own hyperparameters must be declared in `defaults`)"
        raise _fail(source, where, f"unknown hyperparameter {name!r}", hint)


def _check_stage(space: SearchSpace, source: Path, number: int, stage: Any, seen: dict[str, int]) -> None:
    where = f"stage {number}"
    if not isinstance(stage, Stage):
        raise _fail(source, where, f"expected Stage(...), got {stage!r} ({type(stage).__name__})")
    if isinstance(stage.param, Mapping):
        if not stage.param:
            raise _fail(source, where, "a joint stage needs at least one hyperparameter")
        if stage.values is not None:
            raise _fail(source, where, "a joint stage takes its values inside the dict", "; drop the second argument")
    elif stage.values is None:
        raise _fail(source, where, f"Stage({stage.param!r}) has no values", f"; write Stage({stage.param!r}, [v1, v2, ...])")
    for name in (stage.param if isinstance(stage.param, Mapping) else [stage.param]):
        _check_name(space, source, where, name)
        raw = stage.param[name] if isinstance(stage.param, Mapping) else stage.values
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
            raise _fail(source, where, f"the values of {name!r} must be a list, but got {raw!r} "
                                       f"(of type {type(raw).__name__})",
                        "; single values need to be wrapped in a list with one element")
        if len(raw) == 0:
            raise _fail(source, where, f"the value list of {name!r} is empty", "; give at least one value")
        for value in raw:
            _check_value(source, where, name, value)
        typed = [(type(v), v) for v in raw]  # True and 1 are different values here
        for k, (_, value) in enumerate(typed):
            if typed[k] in typed[:k]:
                raise _fail(source, where, f"the value {value!r} appears twice in the list of {name!r}",
                            "; give each value once (it would be trained twice)")
        if name in seen:
            raise _fail(source, where, f"{name!r} is already tuned in stage {seen[name]}",
                        "; a hyperparameter may appear in one stage only")
        seen[name] = number


def validate(space: Any, source: Path) -> SearchSpace:
    """Check a space completely; raise SpaceError naming the file and the field."""
    if not isinstance(space, SearchSpace):
        raise SpaceError(f"`space` in {source} must be a gridsearch.SearchSpace, got {type(space).__name__}")
    if not isinstance(space.name, str) or not space.name or any(c in space.name for c in "/\\") \
            or space.name in (".", ".."):
        raise _fail(source, "field 'name'", f"name={space.name!r} must be a non-empty string usable as a folder name")
    for field_name in _SPACE_LEVEL_HYPERPARAMETERS:
        _check_value(source, f"field {field_name!r}", field_name, getattr(space, field_name))
    if not isinstance(space.defaults, Mapping):
        raise _fail(source, "field 'defaults'", "defaults must be a dict of hyperparameter values")
    for name, value in space.defaults.items():
        _check_name(space, source, "field 'defaults'", name)
        _check_value(source, "field 'defaults'", name, value)
    if not isinstance(space.stages, Sequence) or isinstance(space.stages, str):
        raise _fail(source, "field 'stages'", "stages must be a list of Stage(...)")
    if not space.stages and space.plan != "auto":
        raise _fail(source, "field 'stages'", "stages is empty",
                    "; give at least one Stage(...), or plan='auto' to let the doctor choose them")
    seen: dict[str, int] = {}
    for number, stage in enumerate(space.stages, start=1):
        _check_stage(space, source, number, stage, seen)
    _check_choice(source, "objective", space.objective, OBJECTIVES)
    _check_choice(source, "plan", space.plan, PLANS)
    _check_choice(source, "mixed_precision", space.mixed_precision, MIXED_PRECISION)
    epochs = space.defaults.get("epochs", space.epochs)
    if space.plan == "auto" and epochs < MIN_EPOCHS:
        raise _fail(source, "field 'epochs'", f"epochs={epochs} is too few for plan='auto'",
                    f"; the doctor reads the curves' shape, which needs at least {MIN_EPOCHS} epochs")
    if not callable(space.model):
        _check_choice(source, "model", space.model, BUILTIN_MODELS, "or a callable build(hp, input_shape, num_classes)")
    from gridsearch.backends import available_backends  # late: backends import the training stack

    _check_choice(source, "backend", space.backend, available_backends())
    for field_name in ("validation_split", "test_split"):
        value = getattr(space, field_name)
        if not (isinstance(value, (int, float)) and 0 < value < 0.9):
            raise _fail(source, f"field {field_name!r}", f"{field_name}={value!r} must be a number in (0, 0.9)")
    for field_name, low in (("cv_folds", 2), ("n_jobs", 1), ("ensemble", 0)):
        value = getattr(space, field_name)
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
            raise _fail(source, f"field {field_name!r}", f"{field_name}={value!r} must be an integer >= {low}")
    if not isinstance(space.seed, int) or isinstance(space.seed, bool):
        raise _fail(source, "field 'seed'", f"seed={space.seed!r} must be an integer")
    return space


def _check_choice(source: Path, field_name: str, value: Any, choices: Sequence[str], extra: str = "") -> None:
    if value not in choices:
        raise SpaceError(not_allowed(field_name, value, choices, f"field {field_name!r} of {source}", extra))
