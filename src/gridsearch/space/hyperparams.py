"""Every hyperparameter gridsearch knows: its default, what values are allowed, and why.

The built-in CNN, the data layer and the training loop read their settings from one
flat config dict; this registry is the single place that says which names exist and
which values are legal, so that validation, defaults and documentation cannot drift.
A custom model builder may add its own names by declaring them in `defaults`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OPTIMIZERS = ("adam", "rmsprop", "sgd", "sgd_momentum", "adagrad")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid")
INITIALIZERS = ("he_normal", "he_uniform", "glorot_uniform", "glorot_normal", "truncated_normal", "lecun_normal")
LR_SCHEDULES = ("none", "reduce_on_plateau", "step")
NORMALIZATIONS = ("scale", "standardize", "mean_subtract", "none")
BATCH_NORM_PLACEMENTS = ("each_conv", "first_pool")
NOISE_POSITIONS = ("input", "head")
FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")
CLASS_WEIGHTS = ("none", "balanced")
BINARY_HEADS = ("sigmoid", "softmax")


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    default: Any
    allowed: str  # how the allowed values read in an error message
    check: Callable[[Any], bool]
    help: str


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive(v: Any) -> bool:
    return _is_number(v) and v > 0


def _non_negative(v: Any) -> bool:
    return _is_number(v) and v >= 0


def _fraction(v: Any) -> bool:
    """In [0, 1): a rate or strength where 1 would erase the signal."""
    return _is_number(v) and 0 <= v < 1


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: _is_int(v) and v >= low


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in choices


def _choice(name: str, default: str, choices: tuple[str, ...], help: str) -> Hyperparameter:
    return Hyperparameter(name, default, "one of " + ", ".join(repr(c) for c in choices), _one_of(choices), help)


_REGISTRY = [
    # optimisation
    Hyperparameter("learning_rate", 1e-3, "a number > 0", _positive, "optimizer step size"),
    _choice("optimizer", "adam", OPTIMIZERS, "sgd_momentum is SGD with `momentum`"),
    Hyperparameter("momentum", 0.9, "a number in [0, 1)", _fraction, "used by sgd_momentum and rmsprop"),
    _choice("lr_schedule", "none", LR_SCHEDULES, "learning-rate schedule callback"),
    Hyperparameter("lr_factor", 0.5, "a number in (0, 1)", lambda v: _fraction(v) and v > 0, "schedule's decay factor"),
    Hyperparameter("lr_patience", 3, "an integer >= 1", _int_at_least(1), "reduce_on_plateau: epochs without improvement"),
    Hyperparameter("lr_step_epochs", 10, "an integer >= 1", _int_at_least(1), "step: decay every this many epochs"),
    Hyperparameter("epochs", 20, "an integer >= 1", _int_at_least(1), "training epochs per trial"),
    Hyperparameter("batch_size", 32, "an integer >= 1", _int_at_least(1), "samples per gradient step"),
    Hyperparameter("early_stopping", 0, "an integer >= 0 (0 = off)", _int_at_least(0),
           "patience of EarlyStopping on the objective, best weights restored"),
    _choice("class_weight", "none", CLASS_WEIGHTS, "balanced weighs classes by inverse frequency"),
    _choice("binary_head", "sigmoid", BINARY_HEADS,
            "2-class tasks only: one sigmoid unit + binary cross-entropy, or two softmax units + sparse categorical"),
    # architecture of the built-in simple CNN
    Hyperparameter("filters", 32, "an integer >= 1", _int_at_least(1), "filters of the first conv block (doubled per block)"),
    Hyperparameter("conv_blocks", 2, "an integer >= 1", _int_at_least(1), "conv + pooling blocks"),
    Hyperparameter("kernel_size", 3, "an integer >= 1", _int_at_least(1), "conv kernel size"),
    Hyperparameter("dense_units", 64, "an integer >= 0 (0 = no hidden dense layer)", _int_at_least(0), "hidden dense units"),
    _choice("activation", "relu", ACTIVATIONS, "hidden-layer activation"),
    _choice("kernel_initializer", "glorot_uniform", INITIALIZERS, "weights initializer"),
    # regularisation
    Hyperparameter("batch_norm", False, "True or False", _is_bool, "batch normalization"),
    _choice("batch_norm_placement", "each_conv", BATCH_NORM_PLACEMENTS,
            "each_conv: after every conv, before its activation; first_pool: after the first pooling only"),
    Hyperparameter("l2", 0.0, "a number >= 0", _non_negative, "L2 penalty on conv and dense kernels"),
    Hyperparameter("dropout", 0.0, "a number in [0, 1)", _fraction, "dropout after each block and before the head"),
    Hyperparameter("noise", 0.0, "a number >= 0", _non_negative, "GaussianNoise standard deviation"),
    _choice("noise_position", "input", NOISE_POSITIONS, "where the GaussianNoise layer sits"),
    # inputs
    _choice("normalize", "scale", NORMALIZATIONS,
            "scale: to [0, 1]; standardize: per feature; mean_subtract: minus the training mean"),
    Hyperparameter("grayscale", False, "True or False", _is_bool, "average colour channels into one"),
    _choice("augment_flip", "none", FLIPS, "RandomFlip mode (training only)"),
    Hyperparameter("augment_rotation", 0.0, "a number in [0, 1)", _fraction, "RandomRotation factor (fraction of 2 pi)"),
    Hyperparameter("augment_zoom", 0.0, "a number in [0, 1)", _fraction, "RandomZoom factor"),
    Hyperparameter("augment_translation", 0.0, "a number in [0, 1)", _fraction, "RandomTranslation factor"),
]

HYPERPARAMETERS: dict[str, Hyperparameter] = {p.name: p for p in _REGISTRY}

# Names the best-config dict and the leaderboard use for their own keys and columns; no hyperparameter may
# take them (tests/test_space.py checks this list against leaderboard.py's columns).
RESERVED_NAMES = frozenset({"metrics", "provenance", "test", "data",
                            "rank", "stage", "stage_name", "trial_id", "val_loss", "val_accuracy", "loss", "accuracy",
                            "epochs_run", "best_epoch", "duration_s", "status", "diagnosis", "cause", "flags", "advice",
                            "reused_from", "error", "config_id", "cv_std", "cv_folds", "fit_time_s"})


def builtin_defaults() -> dict[str, Any]:
    return {name: p.default for name, p in HYPERPARAMETERS.items()}
