"""The doctor (`plan="auto"`, `python -m gridsearch doctor SPACE`): tune what the diagnosis points to.

It trains the baseline (the space's defaults) once and reads its diagnosis, then runs one stage at a
time, each chosen from REMEDIES: the first remedy for the current winner's label (then for its flags)
that has not run yet. Every trial is diagnosed as it finishes (`training.finish`), so after each stage
the winner's own label decides: a problem that is gone hands over to the next one, a problem that
stayed gets its next remedy. It stops when the winner is healthy or no remedy is left.

- With the space's stages, the doctor only orders them: a stage serves a remedy when it tunes one of
  the remedy's hyperparameters. All of them run; once the winner is healthy (or has a label none of
  the remaining stages treats) the rest run as written.
- Without stages, it builds each stage from the built-in tunables, around the current value (the
  current value is always the grid's first point, so it is reused, not retrained, and the winner is
  never worse than what the stage started from).

The doctor is a plan (see plan.py): search.py trains its stages exactly as it trains the static plan's,
so reuse by config id, resume after a kill, the leaderboard and the retrained winner are the same.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gridsearch.plans.stages import PlannedStage, RunStage, base_config
from gridsearch.results.leaderboard import rank_key
from gridsearch.space.search_space import SearchSpace
from gridsearch.training.trial import TrialResult, TrialStatus

BASELINE = "baseline"

# What to tune first, by the diagnosis of the current winner; the README's "The doctor" table.
# A too-high learning rate is the usual cause of the broken runs; normalization then stabilises it.
_BROKEN_RUN = ("learning_rate_down", "batch_norm", "input_normalization", "optimizer")
REMEDIES: dict[str, tuple[str, ...]] = {
    "stuck_at_chance": _BROKEN_RUN,
    "diverging": _BROKEN_RUN,
    "nan": _BROKEN_RUN,
    "oscillating": _BROKEN_RUN,
    "overfitting": ("l2", "dropout", "noise", "augmentation"),
    "too_slow": ("learning_rate_up", "epochs", "lr_schedule"),
    "plateau": ("lr_schedule", "learning_rate_down", "batch_size"),
    "bad_initial_loss": ("initializer", "input_normalization", "batch_norm"),
    "healthy": (),  # nothing to treat: the space's remaining stages as written, or stop
    # A diagnosis' cause (the CAUSE_* names of diagnosis/labels.py and the probe flags), read before its label: what the evidence says broke the run.
    "blew_up": ("learning_rate_down", "batch_norm", "optimizer"),
    "no_signal": ("check_labels", "batch_norm", "learning_rate_down"),
    "untrained_nan": ("fix_inputs_or_ops", *_BROKEN_RUN),
    "unscaled_inputs": ("input_normalization", "batch_norm", "initializer"),
    "dead_units": ("batch_norm", "learning_rate_down", "initializer"),
    "vanishing_gradients": ("batch_norm", "initializer", "optimizer"),
    "saturated_units": ("batch_norm", "input_normalization", "initializer"),
    "exploding_gradients": ("learning_rate_down", "batch_norm", "initializer"),
}
# Remedies outside the search: the doctor cannot tune them and goes on to the next; the advice says what to do.
# data_suspect and unknown have no remedy among the hyperparameters: fix the data, train longer.
OUTSIDE_THE_SEARCH = {"check_labels": "check that the labels belong to the inputs",
                      "fix_inputs_or_ops": "remove NaN/inf from the inputs, guard the op that makes them"}

# Built-in grids (judgment: the steps practitioners try first, 2-3 new points per stage).
LR_STEP = 10.0  # learning rates are searched in decades
LR_STEPS_DOWN = 3  # a diverging or stuck Adam at 0.5 needs 1e-3 .. 5e-3 here: two to three decades down
LR_STEPS_UP = 2
MIN_LEARNING_RATE, MAX_LEARNING_RATE = 1e-6, 1.0  # outside this no optimizer of the registry trains a CNN
EPOCH_FACTORS = (2, 3)  # too slow: the same run, twice and three times as long
BATCH_DIVISORS = (2, 4)  # a plateau: smaller batches, noisier steps
L2_LADDER = (1e-4, 1e-3, 1e-2)
DROPOUT_LADDER = (0.2, 0.4)
NOISE_LADDER = (0.05, 0.1, 0.2)  # GaussianNoise std on inputs scaled to [0, 1]
TRANSLATION_LADDER = (0.1, 0.2)
LADDER_POINTS = 2  # new points taken from a ladder, above the current value
REMEDY_NORMALIZATIONS = ("scale", "standardize")
REMEDY_OPTIMIZERS = ("adam", "sgd_momentum", "rmsprop")
REMEDY_INITIALIZERS = ("he_normal", "glorot_uniform", "lecun_normal")
SCHEDULES = ("reduce_on_plateau", "step")
# A custom model may ignore the built-in CNN's names: for it the doctor tunes only what training and the
# data layer apply themselves, and what the space declares in `defaults` (which its builder reads).
APPLIED_FOR_ANY_MODEL = frozenset({"epochs", "batch_size", "lr_schedule", "lr_factor", "lr_patience",
                                   "lr_step_epochs", "early_stopping", "class_weight", "normalize", "grayscale"})


def _round(value: float) -> float:
    return float(f"{value:.3g}")


def _learning_rates(direction: int) -> Callable[[dict[str, Any]], dict[str, list[Any]]]:
    def grid(config: dict[str, Any]) -> dict[str, list[Any]]:
        lr, steps = config["learning_rate"], LR_STEPS_DOWN if direction < 0 else LR_STEPS_UP
        values = [_round(lr * LR_STEP ** (direction * k)) for k in range(1, steps + 1)]
        return {"learning_rate": [lr, *[v for v in values if MIN_LEARNING_RATE <= v <= MAX_LEARNING_RATE]]}
    return grid


def _ladder(name: str, ladder: Sequence[float]) -> Callable[[dict[str, Any]], dict[str, list[Any]]]:
    """Stronger regularization: the current value, then the next LADDER_POINTS steps above it."""
    return lambda config: {name: [config[name], *[v for v in ladder if v > config[name]][:LADDER_POINTS]]}


def _alternatives(name: str, choices: Sequence[Any]) -> Callable[[dict[str, Any]], dict[str, list[Any]]]:
    return lambda config: {name: [config[name], *[c for c in choices if c != config[name]]]}


def _batch_norm_on(config: dict[str, Any]) -> dict[str, list[Any]]:
    return {"batch_norm": [False, True] if not config["batch_norm"] else [True]}


def _schedules(config: dict[str, Any]) -> dict[str, list[Any]]:
    useful = [s for s in SCHEDULES if s != "step" or config["epochs"] > config["lr_step_epochs"]]
    return _alternatives("lr_schedule", useful)(config)


def _longer(config: dict[str, Any]) -> dict[str, list[Any]]:
    return {"epochs": [config["epochs"], *[config["epochs"] * f for f in EPOCH_FACTORS]]}


def _smaller_batches(config: dict[str, Any]) -> dict[str, list[Any]]:
    size = config["batch_size"]
    return {"batch_size": list(dict.fromkeys([size, *[size // d for d in BATCH_DIVISORS if size // d >= 1]]))}


@dataclass(frozen=True)
class Remedy:
    title: str  # how the report names it
    hyperparameters: tuple[str, ...]  # a space's stage tuning any of these serves this remedy
    grid: Callable[[dict[str, Any]], dict[str, list[Any]]]  # the built-in stage around the current config


REMEDY_STAGES: dict[str, Remedy] = {
    "learning_rate_down": Remedy("learning rate down", ("learning_rate",), _learning_rates(-1)),
    "learning_rate_up": Remedy("learning rate up", ("learning_rate",), _learning_rates(+1)),
    "batch_norm": Remedy("batch normalization", ("batch_norm", "batch_norm_placement"), _batch_norm_on),
    "input_normalization": Remedy("input normalization", ("normalize",), _alternatives("normalize", REMEDY_NORMALIZATIONS)),
    "optimizer": Remedy("optimizer", ("optimizer", "momentum"), _alternatives("optimizer", REMEDY_OPTIMIZERS)),
    "l2": Remedy("L2 penalty", ("l2",), _ladder("l2", L2_LADDER)),
    "dropout": Remedy("dropout", ("dropout",), _ladder("dropout", DROPOUT_LADDER)),
    "noise": Remedy("input noise", ("noise", "noise_position"), _ladder("noise", NOISE_LADDER)),
    "augmentation": Remedy("augmentation", ("augment_flip", "augment_rotation", "augment_zoom", "augment_translation"),
                           _ladder("augment_translation", TRANSLATION_LADDER)),
    "epochs": Remedy("more epochs", ("epochs", "early_stopping"), _longer),
    "lr_schedule": Remedy("learning-rate schedule", ("lr_schedule", "lr_factor", "lr_patience", "lr_step_epochs"),
                          _schedules),
    "batch_size": Remedy("smaller batches", ("batch_size",), _smaller_batches),
    "initializer": Remedy("weight initializer", ("kernel_initializer",),
                          _alternatives("kernel_initializer", REMEDY_INITIALIZERS)),
}


@dataclass(frozen=True)
class Option:
    """A stage the doctor may run next: one of the space's (`written` is its position) or a built-in one."""

    name: str
    grid: dict[str, list[Any]]
    serves: frozenset[str]  # remedy names
    written: int | None = None

    @property
    def key(self) -> str:
        """What the doctor remembers as run: the remedy, or the space stage's position."""
        return self.name if self.written is None else f"stage {self.written + 1}"


@dataclass(frozen=True)
class Choice:
    option: Option
    trigger: str  # the label it treats
    remedy: str | None  # None: a space's stage run as written (healthy, or no remedy among them)
    rank: int = 0  # 1-based position of the remedy in the trigger's row of REMEDIES


def space_options(space: SearchSpace) -> list[Option]:
    """The space's stages, each tagged with the remedies it serves."""
    return [Option(stage.label, stage.grid, frozenset(name for name, remedy in REMEDY_STAGES.items()
                                                      if set(remedy.hyperparameters) & set(stage.grid)), number)
            for number, stage in enumerate(space.stages)]


def builtin_options(config: dict[str, Any], used: set[str], custom_model: bool = False,
                    declared: Sequence[str] = ()) -> list[Option]:
    """Every remedy not yet run, as a stage around `config`; one that has nothing to try is left out."""
    options = []
    for name, remedy in REMEDY_STAGES.items():
        if name in used:
            continue
        grid = remedy.grid(config)
        if custom_model and not set(grid) <= (APPLIED_FOR_ANY_MODEL | set(declared)):
            continue
        if any(len(values) > 1 for values in grid.values()):
            options.append(Option(name, grid, frozenset({name})))
    return options


def choose_next(labels: Sequence[str], options: Sequence[Option]) -> Choice | None:
    """The next stage for a winner with these labels (primary first, then its flags), or None: stop."""
    for label in labels:
        row = REMEDIES.get(label, ())
        for rank, remedy in enumerate(row, start=1):
            option = next((o for o in options if remedy in o.serves), None)
            if option is not None:
                return Choice(option, label, remedy, rank)
    written = sorted((o for o in options if o.written is not None), key=lambda o: o.written)
    if written:
        return Choice(written[0], labels[0] if labels else "", None)
    return None


def labels_of(diagnosis: dict[str, Any]) -> list[str]:
    """What the doctor treats, in order: the diagnosis' cause, its primary label, its flags."""
    label = diagnosis.get("label") or ""
    cause = [diagnosis["cause"]] if diagnosis.get("cause") else []
    return list(dict.fromkeys([*cause, label, *diagnosis.get("flags", [])])) if label else []


def first_remedy(diagnosis: dict[str, Any]) -> str | None:
    """The top-1 advice as a remedy name: the first of the row of the diagnosis' cause, else of its label."""
    for key in (diagnosis.get("cause"), diagnosis.get("label")):
        if key and REMEDIES.get(key):
            return REMEDIES[key][0]
    return None


class Doctor:
    """plan="auto": a plan whose next stage is chosen from the last winner's diagnosis (see plan.Plan)."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.steps: list[dict[str, Any]] = []
        self.baseline: TrialResult | None = None
        self.best: TrialResult | None = None
        self.stopped = ""

    def stages(self) -> list[PlannedStage]:
        """The baseline and every stage the doctor may run (built-in ones around the defaults)."""
        first = [PlannedStage(1, BASELINE, {})]
        return first + [PlannedStage(n, option.name, option.grid)
                        for n, option in enumerate(self._options(base_config(self.space), set()), start=2)]

    def _options(self, config: dict[str, Any], used: set[str]) -> list[Option]:
        if self.space.stages:
            return [o for o in space_options(self.space) if o.key not in used]
        return builtin_options(config, used, callable(self.space.model), list(self.space.defaults))

    def run(self, run_stage: RunStage) -> None:
        current = run_stage(PlannedStage(1, BASELINE, {}, "the space's defaults, trained once to be diagnosed"),
                            allow_no_winner=True)
        self.baseline = self.best = current
        used: set[str] = set()
        while True:
            choice = choose_next(labels_of(current.diagnosis or {}), self._options(current.config, used))
            if choice is None:
                self.stopped = self._why_stop(current)
                return
            used.add(choice.option.key)
            reason = self._reason(current, choice)
            stage = PlannedStage(len(self.steps) + 2, choice.option.name, choice.option.grid, reason)
            winner = run_stage(stage, allow_no_winner=True)
            if winner.status is TrialStatus.OK:
                current = winner
            if self._rank(winner) < self._rank(self.best):
                self.best = winner
            self.steps.append({"stage": stage.index, "name": stage.name, "grid": stage.grid,
                               "trigger": choice.trigger, "remedy": choice.remedy, "reason": reason,
                               "winner": self._summary(winner),
                               "chosen": {name: winner.config[name] for name in stage.grid}})

    def _rank(self, row: TrialResult) -> tuple[int, float]:
        return rank_key(row, self.space.objective, self.space.objective_direction)

    def _reason(self, current: TrialResult, choice: Choice) -> str:
        who = "the baseline" if current is self.baseline else f"the winner {current.reused_from or current.trial_id}"
        diagnosis = current.diagnosis or {}
        evidence = diagnosis.get("evidence", "")
        seen = f"{who} is {diagnosis.get('label') or 'undiagnosed'}" + (f" ({evidence})" if evidence else "")
        if choice.trigger != diagnosis.get("label") and choice.trigger:
            seen += f", {'cause' if choice.trigger == diagnosis.get('cause') else 'flag'} {choice.trigger}"
        if choice.remedy is None and choice.trigger == "healthy":
            return f"{seen}: the space's next stage as written"
        if choice.remedy is None:
            return f"{seen}; no remedy for it among the space's stages left: the next stage as written"
        row = REMEDIES[choice.trigger]
        outside = [OUTSIDE_THE_SEARCH[r] for r in row[:choice.rank - 1] if r in OUTSIDE_THE_SEARCH]
        first = f" (first, outside the search: {'; '.join(outside)})" if outside else ""
        return (f"{seen}: {REMEDY_STAGES[choice.remedy].title}, remedy {choice.rank} of {len(row)} for "
                f"{choice.trigger}{first}")

    @staticmethod
    def _why_stop(current: TrialResult) -> str:
        labels = labels_of(current.diagnosis or {})
        if not labels:
            error = current.error.splitlines()[0] if current.error else "no history"
            return f"the winner {current.trial_id} has no diagnosis ({current.status.value}: {error})"
        return "the winner is healthy" if labels[0] == "healthy" else f"no remedy left for {', '.join(labels)}"

    def _summary(self, row: TrialResult) -> dict[str, Any]:
        diagnosis = row.diagnosis or {}
        score = row.objective(self.space.objective)
        return {"trial_id": row.reused_from or row.trial_id, "status": row.status.value,
                "label": diagnosis.get("label", ""), "confidence": diagnosis.get("confidence"),
                "flags": diagnosis.get("flags", []), "evidence": diagnosis.get("evidence", row.error.split("\n")[0]),
                "advice": diagnosis.get("advice", ""), "score": score if math.isfinite(score) else None}

    def report(self) -> dict[str, Any] | None:
        """The before/after: baseline, each step and why, the final winner (doctor.json)."""
        if self.baseline is None or self.best is None:
            return None
        start, end = self.baseline.config, self.best.config
        return {"objective": self.space.objective, "baseline": self._summary(self.baseline), "steps": self.steps,
                "final": self._summary(self.best), "stopped": self.stopped,
                "changed": {name: [start.get(name), value] for name, value in end.items() if start.get(name) != value}}
