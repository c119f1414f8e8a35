"""A history as the rules read it: float arrays, smoothed and measured against the task's chance levels.

- every rule reads smoothed curves (a trailing median over SMOOTH_WINDOW epochs, or a Theil-Sen slope, mostly over
  the last `tail` epochs), so one noisy epoch cannot flip a label;
- a change of a loss is measured against max(level, LOSS_NOISE_FLOOR * ln C), so the wiggles of an almost-zero
  loss are not "large" changes;
- the number of classes C may be unknown (a log made elsewhere): `infer_num_classes` reads what the log allows,
  and without it the rules that need chance level are skipped (rules.NEEDS_CLASSES), the loss floor is that of
  2 classes (the smallest ln C) and chance accuracy is 0 (the fit reads as the accuracy itself).
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_EPOCHS = 3  # fewer epochs have no curve shape: only nan, collapsed outputs and a bad first loss are evident
SMOOTH_WINDOW = 3  # trailing median of 3 removes a one-epoch spike and lags by one epoch only (smooth() is written for 3)
TAIL_EPOCHS = 5  # "the end of training" for slopes: TheDeepChecker and BTTackler judge windows of 3 to 6 points
LOSS_NOISE_FLOOR = 0.1  # judgment: below 10% of ln C a loss is near zero, and its wiggles are not relative swings
CHANCE_MARGIN = 0.1  # AUTOTRAINER's stuck MNIST run sat at 0.11 (chance 0.10): 10% of the chance-to-perfect range
KERAS_MAX_LOSS = -math.log(1e-7)  # 16.1: a confidently wrong sample's cost at Keras' probability clip of 1e-7
BAD_INITIAL_LOSS_RATIO = 2.0  # TheDeepChecker |L0 - ln C| >= ln C, one-sided: below ln C is normal with imbalance
# A loss that sits within 1.5% of ln k is a model outputting uniform probabilities over k classes: ln 10 = 2.303 and
# ln 11 = 2.398 are 4% apart, so up to ~100 classes the nearest k is unambiguous (Keras logs 0.6931-0.6932 for 2).
LN_K_TOLERANCE = 0.015
MAX_INFERRED_CLASSES = 100
_BINARY_NAMES = ("binary_accuracy", "binary_crossentropy")

_ALIASES = {"acc": "accuracy", "binary_accuracy": "accuracy", "categorical_accuracy": "accuracy",
            "sparse_categorical_accuracy": "accuracy", "lr": "learning_rate", "learning_rates": "learning_rate"}
# Hand-written logs: "Train Loss", "Validation Accuracy", "train_acc", "validation_loss".
_PREFIXES = (("validation_", "val_"), ("valid_", "val_"), ("train_", ""), ("training_", ""))


def canonical_name(name: str) -> str:
    """Keras 2 logs say acc and lr, explicit metrics say sparse_categorical_accuracy, pandas dumps say 'Train Loss':
    one name each."""
    name = re.sub(r"[\s\-]+", "_", name.strip().lower())
    for prefix, replacement in _PREFIXES:
        if name.startswith(prefix):
            name = replacement + name[len(prefix):]
            break
    prefix = "val_" if name.startswith("val_") else ""
    base = name[len(prefix):]
    return prefix + _ALIASES.get(base, base)


def smooth(values: np.ndarray) -> np.ndarray:
    """Trailing median over SMOOTH_WINDOW (3) epochs: a single noisy epoch cannot move it. The median of three is
    computed as the larger of min(a, b) and min(max(a, b), c): exactly one of the three values, nan where any is, as
    np.median gives it, in a ninth of its time (the rules call this thousands of times per corpus: np.median per window
    was 60% of the samples py-spy took of real.py's leave-one-out)."""
    values = np.asarray(values, dtype=float)
    head = values[:SMOOTH_WINDOW - 1].copy()
    if len(head) == 2:
        head[1] = (values[0] + values[1]) / 2
    if len(values) < SMOOTH_WINDOW:
        return head
    a, b, c = values[:-2], values[1:-1], values[2:]
    return np.concatenate([head, np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))])


def chance_ceiling(chance_accuracy: float) -> float:
    """The highest accuracy that still counts as chance level."""
    return chance_accuracy + CHANCE_MARGIN * (1 - chance_accuracy)


def is_bad_initial_loss(loss: float, num_classes: int) -> bool:
    """An untrained model should output near-uniform probabilities, i.e. a loss near ln C."""
    return not loss < BAD_INITIAL_LOSS_RATIO * math.log(num_classes)  # a NaN first loss is bad too


def infer_num_classes(history: Mapping[str, Sequence[float]]) -> tuple[int | None, str]:
    """The number of classes a log shows by itself, and how (None and what is missing when it does not).

    A binary metric's name says 2; a loss that sits flat at ln k says k (a model outputting uniform probabilities:
    the stuck runs, exactly where chance level matters). The epoch-1 loss is no guide: its mean is below ln C
    for a model that learns and far above it for one that blew up.
    """
    names = {re.sub(r"^val_", "", name.strip().lower()) for name in history}
    binary = next((name for name in _BINARY_NAMES if name in names), None)
    if binary:
        return 2, f"2 classes, from the {binary} column"
    loss = np.asarray(next((v for k, v in history.items() if canonical_name(k) == "loss"), []), dtype=float)
    tail = loss[len(loss) // 2:]
    if len(loss) >= MIN_EPOCHS and np.isfinite(tail).all():
        level = float(np.median(tail))
        k = round(math.exp(level)) if level < math.log(MAX_INFERRED_CLASSES + 0.5) else 0
        flat = float(np.max(tail) - np.min(tail)) <= 2 * LN_K_TOLERANCE * max(level, 1e-12)
        if k >= 2 and flat and abs(level - math.log(k)) <= LN_K_TOLERANCE * math.log(k):
            return k, f"{k} classes, from a loss flat at {level:.4g} = ln {k} (uniform outputs)"
    return None, "classes unknown (no binary metric, no loss flat at ln C)"


@dataclass(frozen=True)
class Curves:
    """A history as float arrays plus the task's chance levels: what every rule reads."""

    loss: np.ndarray
    val_loss: np.ndarray | None
    accuracy: np.ndarray | None
    val_accuracy: np.ndarray | None
    learning_rate: np.ndarray | None
    num_classes: int | None  # None: unknown, the rules that need it are skipped
    chance_accuracy: float
    initial_loss: float | None = None
    first_epoch: int = 1  # the number of the first epoch: Keras prints and counts from 1, CSVLogger files from 0
    train_only: tuple[str, ...] = ()  # the model's layers that act only in training ("Dropout(0.2)"), where known

    @classmethod
    def from_history(cls, history: Mapping[str, Sequence[float]], num_classes: int | None = None, *,
                     initial_loss: float | None = None, majority_rate: float | None = None,
                     first_epoch: int = 1, train_only: Sequence[str] = ()) -> Curves:
        if num_classes is not None and num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        series: dict[str, np.ndarray] = {}
        for name, values in history.items():
            key = canonical_name(name)
            if key not in series or key == name:  # the canonical name wins over an alias
                series[key] = np.asarray(values, dtype=float).ravel()
        loss = series.get("loss", np.empty(0))

        def aligned(key: str) -> np.ndarray | None:  # e.g. validation_freq > 1 logs fewer val epochs: no curve
            values = series.get(key)
            return values if values is not None and len(values) == len(loss) and len(loss) else None

        chance = max(1 / num_classes if num_classes else 0.0, majority_rate or 0.0)
        return cls(loss, aligned("val_loss"), aligned("accuracy"), aligned("val_accuracy"), aligned("learning_rate"),
                   num_classes, chance, initial_loss, first_epoch, tuple(train_only))

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def epoch(self, index: int) -> int:
        """The number the log gives the epoch at 0-based `index` (as in the file)."""
        return index + self.first_epoch

    @property
    def chance_loss(self) -> float | None:
        """ln C, None when the number of classes is unknown."""
        return math.log(self.num_classes) if self.num_classes else None

    @property
    def tail(self) -> int:
        """The epochs that are "the end of training" for slopes: TAIL_EPOCHS, a tenth of a long run.

        Measured on the real-log corpus' design part (benchmarks/diagnosis/real): in runs of 100-250 epochs the
        last 5 epochs' slope is batch noise (+-1%/epoch either way on a converged loss).
        """
        return max(TAIL_EPOCHS, self.epochs // 10)

    def losses(self) -> list[tuple[str, np.ndarray]]:
        return [(name, v) for name, v in (("loss", self.loss), ("val_loss", self.val_loss)) if v is not None]

    def accuracies(self) -> list[tuple[str, np.ndarray]]:
        return [(name, v) for name, v in (("accuracy", self.accuracy), ("val_accuracy", self.val_accuracy))
                if v is not None and np.isfinite(v).any()]

    def first_non_finite(self) -> int | None:
        """0-based epoch of the first NaN/inf loss or val_loss."""
        finite = np.isfinite(self.loss)
        if self.val_loss is not None:
            finite &= np.isfinite(self.val_loss)
        return None if finite.all() else int(np.argmin(finite))

    def head(self, epochs: int) -> Curves:
        return self._cut(slice(None, epochs))

    def since(self, epoch: int) -> Curves:
        """The curves from 0-based `epoch` on (numbered as before)."""
        return dataclasses.replace(self._cut(slice(epoch, None)), first_epoch=self.first_epoch + epoch)

    def _cut(self, part: slice) -> Curves:
        cut = {f.name: getattr(self, f.name)[part] for f in dataclasses.fields(self)
               if isinstance(getattr(self, f.name), np.ndarray)}
        return dataclasses.replace(self, **cut)

    def scale(self, level: Any) -> Any:
        """What a change of a loss at `level` (a number or an array) is measured against."""
        return np.maximum(np.abs(level), LOSS_NOISE_FLOOR * (self.chance_loss or math.log(2)))

    def slope(self, values: np.ndarray) -> float:
        """Theil-Sen slope per epoch (the median of all pairwise slopes: one spike cannot tilt it), relative to
        the loss scale."""
        if len(values) < 2:
            return 0.0
        i, j = np.triu_indices(len(values), k=1)
        return float(np.median((values[j] - values[i]) / (j - i)) / self.scale(np.median(values)))

    def tail_slope(self, values: np.ndarray) -> float:
        return self.slope(values[-self.tail:])

    @property
    def last_third(self) -> int:
        """The epochs that show whether learning still goes on or has stopped: the last third, at least the tail.

        Measured on the real-log corpus (benchmarks/diagnosis/real): its plateaus and gently converging runs differ
        by 0.2-0.4%/epoch, within the noise of a 5-epoch slope, but not of one over the last third.
        """
        return max(self.tail, self.epochs // 3)

    def late_slope(self, values: np.ndarray) -> float:
        return self.slope(values[-self.last_third:])

    def fit(self) -> tuple[float, str]:
        """Share of the chance-to-perfect accuracy range reached at the end, and its evidence.

        The better of train and val, so that dropout or noise holding the train accuracy down is not underfitting.
        Without accuracies, the share of the loss shed from ln C (classes unknown: from the epoch-1 loss).
        """
        if self.accuracies():
            name, acc = max(((n, float(smooth(v)[-1])) for n, v in self.accuracies()), key=lambda t: t[1])
            fit = self.range_share(acc)
            if self.num_classes is None:  # chance unknown: the accuracy itself is the share
                return fit, f"{name} {acc:.3g}, classes unknown (chance read as 0)"
            return fit, f"{name} {acc:.3g} = {fit:.0%} of the chance-to-perfect range"
        name, loss = min(((n, float(smooth(v)[-1])) for n, v in self.losses()), key=lambda t: t[1])
        if self.chance_loss is None:
            fit = 1 - loss / max(float(self.loss[0]), 1e-12)
            return fit, f"{name} {loss:.3g} vs {self.loss[0]:.3g} at first: {fit:.0%} of it shed"
        fit = 1 - loss / self.chance_loss
        return fit, f"{name} {loss:.3g} vs ln C {self.chance_loss:.3g}: {fit:.0%} of it shed"

    def range_share(self, accuracy: float) -> float:
        """An accuracy as the share of the chance-to-perfect range it covers."""
        return (accuracy - self.chance_accuracy) / (1 - self.chance_accuracy)

    def train_fit(self) -> float:
        """The train accuracy's share of that range at the end (smoothed); the history must have an accuracy."""
        return self.range_share(float(smooth(self.accuracy)[-1]))

    def lr_note(self) -> str:
        return "" if self.learning_rate is None else f" (learning rate was {self.learning_rate[-1]:.2g})"
