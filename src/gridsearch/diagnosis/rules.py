"""Label a finished trial from its per-epoch history: one primary label, advice, evidence.

The rules are the hand-set thresholds of the research tools (AUTOTRAINER, TheDeepChecker,
BTTackler, UMLAUT) with their false alarms on healthy runs designed out:
- every rule reads smoothed curves (a trailing median over SMOOTH_WINDOW epochs, or a
  Theil-Sen slope, mostly over the last TAIL_EPOCHS epochs), so one noisy epoch cannot flip a label;
- a change of a loss is measured against max(level, LOSS_NOISE_FLOOR * ln C), so the wiggles
  of an almost-zero loss are not "large" changes;
- no rule is gated on a fixed accuracy target; chance level (max(1/C, majority share)) and
  the share of the chance-to-perfect range reached ("fit") stand in for it.

When several labels hold, the first in PRIORITY is the primary one and the others are flags.
Given probes.py's stats of a fixed probe batch, `find_causes` adds cause flags (vanishing or exploding
gradients, dead or saturated units) with their own evidence and advice; they are never primary.
A broken run's diagnosis also names its `cause` when the evidence tells (the CAUSE_* names): one stuck label
needs a lower learning rate after a blow-up, batch normalization for dead units, a look at the labels
when everything inside the model works; the advice starts with the cause's own, and the doctor
(doctor.REMEDIES) tunes for the cause first.
`find_nan`, `find_diverging` and `find_stuck_at_chance` are also what pruning.py stops on,
so a pruned trial is stopped by exactly the rule that labels it afterwards.
"""
from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_EPOCHS = 3  # fewer epochs have no curve shape: only nan, collapsed outputs and a bad first loss are evident
SMOOTH_WINDOW = 3  # trailing median of 3 removes a one-epoch spike and lags by one epoch only
TAIL_EPOCHS = 5  # "the end of training" for slopes: TheDeepChecker and BTTackler judge windows of 3 to 6 points
LOSS_NOISE_FLOOR = 0.1  # judgment: below 10% of ln C a loss is near zero, and its wiggles are not relative swings
FLAT_SLOPE = 0.005  # measured: too low a learning rate (Adam 3e-5, digits) still falls 0.8%/epoch; flat is below
STUCK_MAX_FALL = 0.002  # judgment: a stuck loss drifts < 0.2%/epoch (AUTOTRAINER's stuck run: 0), 4x under that
DIVERGE_RISE = 0.5  # loss 1.5x its minimum; TheDeepChecker uses 2x on per-step losses, epoch means are smoother
CHANCE_MARGIN = 0.1  # AUTOTRAINER's stuck MNIST run sat at 0.11 (chance 0.10): 10% of the chance-to-perfect range
KERAS_MAX_LOSS = -math.log(1e-7)  # 16.1: a confidently wrong sample's cost at Keras' probability clip of 1e-7
COLLAPSE_SHARE = 0.5  # judgment: half of KERAS_MAX_LOSS per error means saturated outputs (binary: >= 4; seen: ~8)
BAD_INITIAL_LOSS_RATIO = 2.0  # TheDeepChecker |L0 - ln C| >= ln C, one-sided: below ln C is normal with imbalance
DATA_TRAIN_FLAT = 0.1  # judgment: a train loss that moved < 10% over the whole run has learned nothing ...
DATA_VAL_FALL = 0.3  # ... so a val loss falling >= 30% meanwhile cannot come from training on that data
VAL_BELOW_TRAIN_RATIO = 1 / 3  # judgment: dropout or input noise put val loss at 0.5-0.9x train loss, rarely < 1/3
OSC_MIN_FLIPS = 0.5  # TheDeepChecker: more than 50% sign flips of the differences is fluctuation
OSC_MIN_SWING = 0.3  # judgment: median epoch-to-epoch change >= 30% of the level (healthy noise is 5-15%)
OSC_MAX_TREND = 0.5  # judgment: less than half of the path travelled is net progress: no trend
# A swinging val loss is only oscillation when the val accuracy swings too (median epoch-to-epoch change >= 5% of
# the chance-to-perfect range). Measured (benchmarks/diagnosis, healthy SGD-momentum control on digits): val loss
# 0.18-0.38 with 31% swings at the end while val accuracy moved 0.92-0.96 and matched its fault-free twin's.
OSC_ACC_SWING = 0.05
OVERFIT_RISE = 0.2  # judgment: val loss 20% above its best, twice the ~10% epoch noise of a small val set
OVERFIT_ACC_GAP = 0.1  # AUTOTRAINER's overfit feature: train accuracy - val accuracy >= 0.10
# A rising val loss is overfitting when the accuracies show it as well: a train-val gap, or a val accuracy below
# its best, of at least this. Measured (benchmarks/diagnosis, healthy SGD-momentum control on digits): val loss
# 0.16 -> 0.30 (+53%) with train 0.98 / val 0.94 (gap 0.04) and val accuracy at its best at the end, as good as
# its fault-free twin: over-confidence on a few samples, not lost generalization.
OVERFIT_RISE_GAP = 0.05
# judgment, 3x AUTOTRAINER's gap: measured on digits, batch normalization at 8 epochs ended at train 0.99 /
# val 0.43 with a noisy, slowly falling val loss; no falling val loss makes a gap this large healthy
OVERFIT_SEVERE_GAP = 0.3
CONVERGED_FIT = 0.9  # judgment: 90% of the chance-to-perfect accuracy range is fitted (AUTOTRAINER: Theta 0.6-0.7)
# Cause flags, read from probes.py's per-epoch stats of one fixed probe batch (never gated on accuracy):
VANISH_RATIO = 1e-3  # AUTOTRAINER beta_1: ||grad of the first kernel|| / ||grad of the last kernel|| < 1e-3 ...
VANISH_FIRST_NORM = 1e-4  # ... and AUTOTRAINER beta_2: ||grad of the first kernel|| < 1e-4, both at once
EXPLODE_MEAN_ABS = 1e4  # BTTackler EG's 1e4 on mean |grad|, per layer as TheDeepChecker (1e6); healthy: ~1e-2
# > 90% of a layer's units dead; TheDeepChecker says 50%, DeepDiagnosis and AUTOTRAINER 70%. Measured on the default
# digits grid: healthy trials at lr 0.01 (val accuracy 0.98-0.99) had 52-73% of the 64 dense units dead on the
# probe batch at the last epoch; the broken runs (lr 0.1 there; lr_too_high, dead_relu, nan_bad_op in
# benchmarks/diagnosis) had 94-100% dead in at least one layer.
DEAD_SHARE = 0.9
SATURATED_SHARE = 0.5  # DeepDiagnosis: > 50% of a sigmoid/tanh layer's inputs at |x| >= 5
INPUT_SCALE_LIMIT = 10.0  # UMLAUT flags |x| > 1; standardized features reach +-5, so beyond 10 (0-16, 0-255)

# What a broken run's `cause` can be, besides a cause flag's label (dead_units, vanishing_gradients, ...):
CAUSE_BLEW_UP = "blew_up"  # stuck: the loss exploded in epoch 1 from a sound untrained loss
CAUSE_NO_SIGNAL = "no_signal"  # stuck: gradients flow and units live on the probe batch, yet nothing is learned
CAUSE_UNTRAINED_NAN = "untrained_nan"  # nan: the untrained model's loss is already NaN/inf (an op or the data)
CAUSE_UNSCALED_INPUTS = "unscaled_inputs"  # bad initial loss with inputs far outside [-1, 1]


class Label(str, enum.Enum):
    HEALTHY = "healthy"
    OVERFITTING = "overfitting"
    PLATEAU = "plateau"
    TOO_SLOW = "too_slow"
    OSCILLATING = "oscillating"
    DIVERGING = "diverging"
    NAN = "nan"
    STUCK_AT_CHANCE = "stuck_at_chance"
    DATA_SUSPECT = "data_suspect"
    BAD_INITIAL_LOSS = "bad_initial_loss"
    UNKNOWN = "unknown"  # too few epochs or no history
    # Causes, from the probe batch: flags under the primary label, never primary themselves
    VANISHING_GRADIENTS = "vanishing_gradients"
    EXPLODING_GRADIENTS = "exploding_gradients"
    DEAD_UNITS = "dead_units"
    SATURATED_UNITS = "saturated_units"

    def __str__(self) -> str:
        return self.value


# Primary label = the first that holds: a broken run outranks a badly tuned one, and the most
# actionable cause outranks its symptoms (a NaN is the end of a divergence, not another problem).
PRIORITY = (Label.NAN, Label.DIVERGING, Label.STUCK_AT_CHANCE, Label.BAD_INITIAL_LOSS, Label.DATA_SUSPECT,
            Label.OSCILLATING, Label.OVERFITTING, Label.PLATEAU, Label.TOO_SLOW, Label.HEALTHY, Label.UNKNOWN)


@dataclass(frozen=True)
class Diagnosis:
    label: Label
    advice: str  # one line, concrete
    evidence: str  # the numbers that decided it
    confidence: float  # 0..1
    flags: tuple[Label, ...] = ()  # secondary labels that also hold, causes included
    causes: tuple[Diagnosis, ...] = ()  # the cause flags' own advice and evidence (layer, numbers)
    cause: str = ""  # what the evidence says broke the run (CAUSE_* or a cause flag's label), "" when it cannot tell

    def to_dict(self) -> dict[str, Any]:
        data = {"label": self.label.value, "advice": self.advice, "evidence": self.evidence,
                "confidence": self.confidence, "flags": [flag.value for flag in self.flags]}
        if self.cause:
            data["cause"] = self.cause
        if self.causes:
            data["causes"] = [{"label": c.label.value, "advice": c.advice, "evidence": c.evidence,
                               "confidence": c.confidence} for c in self.causes]
        return data


_ALIASES = {"acc": "accuracy", "binary_accuracy": "accuracy", "categorical_accuracy": "accuracy",
            "sparse_categorical_accuracy": "accuracy", "lr": "learning_rate"}


def canonical_name(name: str) -> str:
    """Keras 2 logs say acc and lr, explicit metrics say sparse_categorical_accuracy: one name each."""
    prefix = "val_" if name.startswith("val_") else ""
    base = name[len(prefix):]
    return prefix + _ALIASES.get(base, base)


def smooth(values: np.ndarray) -> np.ndarray:
    """Trailing median over SMOOTH_WINDOW epochs: a single noisy epoch cannot move it."""
    return np.array([np.median(values[max(0, i - SMOOTH_WINDOW + 1): i + 1]) for i in range(len(values))])


def chance_ceiling(chance_accuracy: float) -> float:
    """The highest accuracy that still counts as chance level."""
    return chance_accuracy + CHANCE_MARGIN * (1 - chance_accuracy)


def is_bad_initial_loss(loss: float, num_classes: int) -> bool:
    """An untrained model should output near-uniform probabilities, i.e. a loss near ln C."""
    return not loss < BAD_INITIAL_LOSS_RATIO * math.log(num_classes)  # a NaN first loss is bad too


def _confidence(excess: float) -> float:
    """0.5 at a rule's threshold, rising to 1.0 when the deciding number is past it by its own size."""
    return round(0.5 + 0.5 * min(1.0, max(0.0, excess)), 2)


@dataclass(frozen=True)
class Curves:
    """A history as float arrays plus the task's chance levels: what every rule reads."""

    loss: np.ndarray
    val_loss: np.ndarray | None
    accuracy: np.ndarray | None
    val_accuracy: np.ndarray | None
    learning_rate: np.ndarray | None
    num_classes: int
    chance_accuracy: float
    initial_loss: float | None = None

    @classmethod
    def from_history(cls, history: Mapping[str, Sequence[float]], num_classes: int, *,
                     initial_loss: float | None = None, majority_rate: float | None = None) -> Curves:
        if num_classes < 2:
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

        return cls(loss, aligned("val_loss"), aligned("accuracy"), aligned("val_accuracy"), aligned("learning_rate"),
                   num_classes, max(1 / num_classes, majority_rate or 0.0), initial_loss)

    @property
    def epochs(self) -> int:
        return len(self.loss)

    @property
    def chance_loss(self) -> float:
        return math.log(self.num_classes)

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
        """The curves from 0-based `epoch` on."""
        return self._cut(slice(epoch, None))

    def _cut(self, part: slice) -> Curves:
        cut = {f.name: getattr(self, f.name)[part] for f in dataclasses.fields(self)
               if isinstance(getattr(self, f.name), np.ndarray)}
        return dataclasses.replace(self, **cut)

    def scale(self, level: Any) -> Any:
        """What a change of a loss at `level` (a number or an array) is measured against."""
        return np.maximum(np.abs(level), LOSS_NOISE_FLOOR * self.chance_loss)

    def slope(self, values: np.ndarray) -> float:
        """Theil-Sen slope per epoch (the median of all pairwise slopes: one spike cannot tilt it), relative to
        the loss scale."""
        if len(values) < 2:
            return 0.0
        i, j = np.triu_indices(len(values), k=1)
        return float(np.median((values[j] - values[i]) / (j - i)) / self.scale(np.median(values)))

    def tail_slope(self, values: np.ndarray) -> float:
        return self.slope(values[-TAIL_EPOCHS:])

    def fit(self) -> tuple[float, str]:
        """Share of the chance-to-perfect accuracy range reached at the end, and its evidence.

        The better of train and val, so that dropout or noise holding the train accuracy down is not underfitting.
        """
        if self.accuracies():
            name, acc = max(((n, float(smooth(v)[-1])) for n, v in self.accuracies()), key=lambda t: t[1])
            return (acc - self.chance_accuracy) / (1 - self.chance_accuracy), f"{name} {acc:.3g}"
        name, loss = min(((n, float(smooth(v)[-1])) for n, v in self.losses()), key=lambda t: t[1])
        return 1 - loss / self.chance_loss, f"{name} {loss:.3g} vs ln C {self.chance_loss:.3g}"

    def lr_note(self) -> str:
        return "" if self.learning_rate is None else f" (learning rate was {self.learning_rate[-1]:.2g})"


def find_nan(c: Curves) -> Diagnosis | None:
    """Any non-finite loss or val_loss: the run is lost from that epoch on."""
    bad = c.first_non_finite()
    if bad is None:
        return None
    name = "loss" if not math.isfinite(c.loss[bad]) else "val_loss"
    value = (c.loss if name == "loss" else c.val_loss)[bad]
    before = f"; loss was {c.loss[bad - 1]:.3g} at epoch {bad}" if bad else ""
    if c.initial_loss is not None and not math.isfinite(c.initial_loss):
        return Diagnosis(Label.NAN, "the untrained model's loss is already non-finite, before any update: an op of "
                         "the model (log, sqrt, a division) or the data produce it, not the learning rate; check the "
                         "inputs for NaN/inf and guard the op (e.g. log(x + 1e-7))",
                         f"untrained loss {c.initial_loss}; {name} {value} at epoch {bad + 1}", 1.0,
                         cause=CAUSE_UNTRAINED_NAN)
    return Diagnosis(Label.NAN, f"the loss became {value} at epoch {bad + 1}: lower the learning rate 10x, add "
                     "gradient clipping (clipnorm=1.0), check the inputs for NaN/inf and that the loss fits the "
                     "output layer",
                     f"{name} {value} at epoch {bad + 1}{before}", 1.0)


def find_diverging(c: Curves) -> Diagnosis | None:
    """The smoothed train loss ends well above its own minimum and is not coming back down."""
    if c.epochs < MIN_EPOCHS:
        return None
    s = smooth(c.loss)
    low = int(np.argmin(s))
    rise = (s[-1] - s[low]) / c.scale(s[low])
    slope = c.tail_slope(c.loss)
    if rise < DIVERGE_RISE or slope <= -FLAT_SLOPE:
        return None
    return Diagnosis(Label.DIVERGING, "learning rate too high: lower it 10x or add gradient clipping (clipnorm=1.0); "
                     f"check the loss sign and that the output layer fits the loss{c.lr_note()}",
                     f"smoothed loss min {s[low]:.3g} at epoch {low + 1}, {s[-1]:.3g} at epoch {c.epochs} "
                     f"(+{rise:.0%} of its scale, slope {slope:+.1%}/epoch)", _confidence(rise / DIVERGE_RISE - 1))


def _settled_at_chance_loss(c: Curves) -> bool:
    """A loss that fell only back to ln C, e.g. after a blow-up, and is flat there: the fall was no learning.

    Benchmark evidence (benchmarks/diagnosis, lr_too_high on shapes): Adam at lr 1.0 went 229 -> 1.60 -> 1.41
    (ln 4 = 1.39) and then flat, accuracy at chance; the whole-run slope still read as falling.
    """
    tail = c.loss[-TAIL_EPOCHS:]
    return c.tail_slope(c.loss) > -STUCK_MAX_FALL and float(np.median(tail)) >= (1 - CHANCE_MARGIN) * c.chance_loss


def find_stuck_at_chance(c: Curves) -> Diagnosis | None:
    """Accuracy never clearly above chance and a loss that does not fall (or saturated outputs early on).

    The raw accuracy maximum, not a smoothed one: a single epoch clearly above chance shows the model
    can learn, and pruning must never drop a learner. Epochs up to the last blow-up (a mean loss above
    KERAS_MAX_LOSS: overflowing outputs) are left out, their accuracy included: the fall back from a blow-up
    is no learning. Measured: 3-vs-8 digits, 0-255 inputs, SGD 1.0 logged a loss of 1.7e9, 150, then 0.693
    flat, with a train accuracy of 0.56 in the blow-up epoch; over the whole run it read as learning.
    """
    blown = np.flatnonzero(c.loss > KERAS_MAX_LOSS)
    start = int(blown[-1]) + 1 if 0 < len(blown) < c.epochs else 0
    blew_up = _blew_up_in_epoch_1(c)
    after = f" after a loss of {c.loss[start - 1]:.3g} in epoch {start}" if start else ""
    c = c.since(start)
    if c.epochs == 0:
        return None
    if c.accuracies():
        name, best = max(((n, float(np.nanmax(v))) for n, v in c.accuracies()), key=lambda t: t[1])
        if best > chance_ceiling(c.chance_accuracy):
            return None
        level = f"{name} never above {best:.3g} (chance {c.chance_accuracy:.3g}){after}"
    else:
        if np.min(c.loss) < (1 - CHANCE_MARGIN) * c.chance_loss:
            return None
        level = f"loss never below {np.min(c.loss):.3g} (ln C = {c.chance_loss:.3g}){after}"
    if c.epochs < MIN_EPOCHS:
        collapsed = COLLAPSE_SHARE * (1 - c.chance_accuracy) * KERAS_MAX_LOSS
        if np.min(c.loss) < collapsed:
            return None
        movement = f"loss {np.min(c.loss):.3g} >= {collapsed:.3g}: saturated outputs"
    else:  # the whole run: stuck runs never left chance, and a longer run averages out the noise
        slope = c.slope(c.loss)
        if slope <= -STUCK_MAX_FALL and not _settled_at_chance_loss(c):
            return None
        movement = f"loss {c.loss[0]:.3g} -> {c.loss[-1]:.3g}, slope {slope:+.2%}/epoch"
    imbalance = (f"; the majority class is {c.chance_accuracy:.0%} of the data: try class_weight='balanced'"
                 if c.chance_accuracy > 1 / c.num_classes else "")
    advice = (f"normalize the inputs to [0, 1], add batch normalization, lower the learning rate{c.lr_note()}, and "
              f"make sure no ReLU comes right before the softmax/sigmoid{imbalance}")
    if blew_up:
        advice = f"{blew_up}: the learning rate is far too high, lower it 10-1000x; then {advice}"
    return Diagnosis(Label.STUCK_AT_CHANCE, advice, f"{level}; {movement} over {c.epochs} epochs",
                     _confidence((c.epochs - MIN_EPOCHS + 1) / TAIL_EPOCHS), cause=CAUSE_BLEW_UP if blew_up else "")


def _blew_up_in_epoch_1(c: Curves) -> str:
    """The evidence that training itself blew the loss up in epoch 1 ("" if not): from a sound untrained loss to
    a bad epoch-1 mean, or (the untrained loss unknown) an overflowing one. Measured (benchmarks/diagnosis,
    lr_too_high): Adam at 1.0 logged 229 in epoch 1 from an untrained 1.39 = ln 4."""
    if c.epochs == 0 or not math.isfinite(c.loss[0]):
        return ""
    first = float(c.loss[0])
    if c.initial_loss is None:
        return f"the epoch-1 loss overflowed to {first:.3g}" if first > KERAS_MAX_LOSS else ""
    if is_bad_initial_loss(c.initial_loss, c.num_classes) or not is_bad_initial_loss(first, c.num_classes):
        return ""
    return f"the loss blew up in epoch 1 (untrained {c.initial_loss:.3g}, epoch-1 mean {first:.3g})"


def _bad_initial_loss(c: Curves) -> Diagnosis | None:
    if c.initial_loss is None and c.epochs == 0:
        return None
    first, source = (c.initial_loss, "untrained loss") if c.initial_loss is not None else (c.loss[0], "epoch-1 loss")
    if not is_bad_initial_loss(first, c.num_classes):
        return None
    ratio = first / c.chance_loss
    return Diagnosis(Label.BAD_INITIAL_LOSS, "initialisation or labels wrong: check that the labels fit the loss "
                     "(integers 0..C-1 for sparse_categorical_crossentropy), the output activation and initializer, "
                     "and scale the inputs; if the untrained loss was near ln C, epoch 1 blew up: lower the "
                     "learning rate",
                     f"{source} {first:.3g} vs ln({c.num_classes}) = {c.chance_loss:.3g} ({ratio:.1f}x, "
                     f"limit {BAD_INITIAL_LOSS_RATIO:g}x)", _confidence(ratio / BAD_INITIAL_LOSS_RATIO - 1))


def _data_suspect(c: Curves) -> Diagnosis | None:
    if c.val_loss is None or c.epochs < MIN_EPOCHS:
        return None
    t0, t1 = (float(np.median(v)) for v in (c.loss[:SMOOTH_WINDOW], c.loss[-SMOOTH_WINDOW:]))
    v0, v1 = (float(np.median(v)) for v in (c.val_loss[:SMOOTH_WINDOW], c.val_loss[-SMOOTH_WINDOW:]))
    train_change, val_change = (t1 - t0) / c.scale(t0), (v1 - v0) / c.scale(v0)
    if train_change > -DATA_TRAIN_FLAT and val_change <= -DATA_VAL_FALL:
        evidence = (f"train loss {t0:.3g} -> {t1:.3g} ({train_change:+.0%}) while val loss {v0:.3g} -> {v1:.3g} "
                    f"({val_change:+.0%})")
        excess = -val_change / DATA_VAL_FALL - 1
    else:
        sl, sv = smooth(c.loss), smooth(c.val_loss)
        gap = float(np.min((sl - sv) / c.scale(sl)))
        if gap < 1 - VAL_BELOW_TRAIN_RATIO:
            return None
        evidence = (f"val loss below {VAL_BELOW_TRAIN_RATIO:.2g}x the train loss in every epoch "
                    f"(last: val {sv[-1]:.3g}, train {sl[-1]:.3g})")
        excess = gap / (1 - VAL_BELOW_TRAIN_RATIO) - 1
    return Diagnosis(Label.DATA_SUSPECT, "check the dataset and the split: leakage or duplicates between train and "
                     "validation, mislabelled or differently preprocessed training data (very strong dropout or "
                     "input noise can also hold the train loss up)", evidence, _confidence(excess))


def _oscillating(c: Curves) -> Diagnosis | None:
    if c.epochs < TAIL_EPOCHS:
        return None
    span = max(TAIL_EPOCHS, c.epochs // 2)
    for name, values in c.losses():
        if name == "val_loss" and c.val_accuracy is not None and np.isfinite(c.val_accuracy).all():
            acc_swing = float(np.median(np.abs(np.diff(c.val_accuracy[-span:])))) / (1 - c.chance_accuracy)
            if acc_swing < OSC_ACC_SWING:
                continue  # the val accuracy holds steady: the swings are a small validation set's noise
        window = values[-span:]
        steps = np.diff(window)
        path = float(np.sum(np.abs(steps)))
        if path == 0:
            continue
        flips = float(np.mean(steps[1:] * steps[:-1] < 0))
        swing = float(np.median(np.abs(steps))) / c.scale(float(np.median(window)))
        trend = abs(window[-1] - window[0]) / path
        if flips >= OSC_MIN_FLIPS and swing >= OSC_MIN_SWING and trend < OSC_MAX_TREND:
            return Diagnosis(Label.OSCILLATING, "learning rate too high: lower it 3-10x or use a larger batch; "
                             f"check the loss sign and the output layer{c.lr_note()}",
                             f"{name} over the last {len(window)} epochs: {flips:.0%} direction changes, median swing "
                             f"{swing:.0%} of its level, net trend {trend:.0%} of the path",
                             _confidence(swing / OSC_MIN_SWING - 1))
    return None


def _overfitting(c: Curves) -> Diagnosis | None:
    if c.val_loss is None or c.epochs < MIN_EPOCHS:
        return None
    sl, sv = smooth(c.loss), smooth(c.val_loss)
    low = int(np.argmin(sv))
    if sl[-1] > sl[low]:  # the train loss rose as well: a learning-rate problem, not overfitting
        return None
    best = int(np.argmin(c.val_loss)) + 1
    rise = (sv[-1] - sv[low]) / c.scale(sv[low])
    if rise >= OVERFIT_RISE and _accuracies_show_overfitting(c):
        evidence = (f"val_loss min {c.val_loss[best - 1]:.3g} at epoch {best}, smoothed {sv[-1]:.3g} by epoch "
                    f"{c.epochs} (+{rise:.0%}) while loss went {sl[low]:.3g} -> {sl[-1]:.3g}")
        excess = rise / OVERFIT_RISE - 1
    else:
        if c.accuracy is None or c.val_accuracy is None:
            return None
        # still falling = a falling tail that also holds the minimum: a noisy 5-epoch dip long after the best epoch
        # is no progress (benchmark tiny_wide_overfit, seed 4: best val_loss 13 epochs before the end, gap 0.18)
        still_falling = c.tail_slope(c.val_loss) <= -FLAT_SLOPE and low >= c.epochs - TAIL_EPOCHS
        train_acc, val_acc = float(smooth(c.accuracy)[-1]), float(smooth(c.val_accuracy)[-1])
        gap = train_acc - val_acc
        if gap < OVERFIT_ACC_GAP or (gap < OVERFIT_SEVERE_GAP and still_falling):
            return None
        evidence = (f"accuracy {train_acc:.3g} vs val_accuracy {val_acc:.3g} (gap {train_acc - val_acc:.2f}) "
                    f"with val_loss no longer falling (best {c.val_loss[best - 1]:.3g} at epoch {best})")
        excess = (train_acc - val_acc) / OVERFIT_ACC_GAP - 1
    return Diagnosis(Label.OVERFITTING, f"val_loss was lowest at epoch {best}: stop there (EarlyStopping with "
                     "restore_best_weights) and add regularization (dropout, L2, batch normalization, input noise) "
                     "or more data; with batch normalization on small data and a gap from the first epochs, the "
                     "moving statistics may lag: train longer or lower the BatchNormalization momentum",
                     evidence, _confidence(excess))


def _accuracies_show_overfitting(c: Curves) -> bool:
    """A train-val accuracy gap, or a val accuracy below its best, of OVERFIT_RISE_GAP (True without accuracies)."""
    if c.accuracy is None or c.val_accuracy is None:
        return True
    train, val = smooth(c.accuracy), smooth(c.val_accuracy)
    return bool(train[-1] - val[-1] >= OVERFIT_RISE_GAP or np.max(val) - val[-1] >= OVERFIT_RISE_GAP)


def _underfitting(c: Curves) -> Diagnosis | None:
    """Fit below CONVERGED_FIT: train and val losses both still falling is too_slow, otherwise a plateau."""
    if c.epochs < MIN_EPOCHS:
        return None
    fit, fit_evidence = c.fit()
    if fit >= CONVERGED_FIT:
        return None
    slopes = {name: c.tail_slope(values) for name, values in c.losses()}
    shown = ", ".join(f"{name} {slope:+.1%}/epoch" for name, slope in slopes.items())
    evidence = (f"{fit_evidence} = {fit:.0%} of the chance-to-perfect range (< {CONVERGED_FIT:.0%}); "
                f"slopes over the last {min(c.epochs, TAIL_EPOCHS)} epochs: {shown}")
    slowest = max(slopes.values())
    # A loss that blew up in epoch 1 (the default digits grid's lr 0.1: 5.56 from an untrained 2.32) and then
    # crawls is a learning rate too high, not too low: never too_slow, whose advice raises it.
    blew_up = _blew_up_in_epoch_1(c)
    if slowest <= -FLAT_SLOPE and not blew_up:
        return Diagnosis(Label.TOO_SLOW, "still improving at the last epoch: raise the learning rate (e.g. 3x) or "
                         f"train for more epochs{c.lr_note()}", evidence, _confidence(-slowest / FLAT_SLOPE - 1))
    advice = ("lower the learning rate 3-10x or the batch size, or add ReduceLROnPlateau; if the training accuracy "
              f"stays low, use a larger model{c.lr_note()}")
    return Diagnosis(Label.PLATEAU, f"{blew_up}: the learning rate is too high; {advice}" if blew_up else advice,
                     evidence, _confidence((CONVERGED_FIT - fit) / (1 - CONVERGED_FIT)),
                     cause=CAUSE_BLEW_UP if blew_up else "")


def _healthy(c: Curves) -> Diagnosis:
    fit, fit_evidence = c.fit()
    improving = c.tail_slope(c.val_loss if c.val_loss is not None else c.loss) <= -FLAT_SLOPE
    best = ""
    if c.val_loss is not None:
        epoch = int(np.argmin(c.val_loss)) + 1
        best = f"val_loss best {c.val_loss[epoch - 1]:.3g} at epoch {epoch}, last {c.val_loss[-1]:.3g}; "
    return Diagnosis(Label.HEALTHY, "no problem found: keep this setting" +
                     ("; still improving at the last epoch, so more epochs should help" if improving else ""),
                     f"{best}{fit_evidence} ({fit:.0%} of the chance-to-perfect range)",
                     _confidence((fit - CONVERGED_FIT) / (1 - CONVERGED_FIT)))


# Plateau and too_slow describe how a working run converges; beside a broken run they only restate it.
_BROKEN = (Label.NAN, Label.DIVERGING, Label.STUCK_AT_CHANCE)
_CONVERGENCE = (Label.PLATEAU, Label.TOO_SLOW)

# Rules for the finite part of a history (find_nan looks at all of it).
_CURVE_RULES: tuple[Callable[[Curves], Diagnosis | None], ...] = (
    find_diverging, find_stuck_at_chance, _bad_initial_loss, _data_suspect, _oscillating, _overfitting, _underfitting)


def _per_epoch(probes: Mapping[str, Any], stat: str) -> list[tuple[int, dict[str, float]]]:
    """(epoch, {layer: value}) for one probe statistic, in epoch order."""
    return [(row["epoch"], row[stat]) for row in probes.get("epochs", []) if row.get(stat)]


def _vanishing_gradients(probes: Mapping[str, Any]) -> Diagnosis | None:
    """The first kernel's gradient is tiny, absolutely and relative to the last one's (AUTOTRAINER's rule).

    Judged over the first half of the epochs only (BTTackler): once a model has fitted its data, every
    gradient is small, rightly.
    """
    rows = _per_epoch(probes, "grad_norm")
    kernels = probes.get("kernels", [])
    if not rows or len(kernels) < 2:
        return None
    first, last = kernels[0], kernels[-1]
    early = rows[:max(1, (len(rows) + 1) // 2)]
    first_norm = float(np.median([norms[first] for _, norms in early]))
    ratio = float(np.median([norms[first] / norms[last] if norms[last] else math.inf for _, norms in early]))
    if not (ratio < VANISH_RATIO and first_norm < VANISH_FIRST_NORM):
        return None
    return Diagnosis(Label.VANISHING_GRADIENTS, f"the gradient hardly reaches {first!r}: use ReLU with he_normal "
                     "instead of sigmoid/tanh in the hidden layers, add batch normalization, or use fewer layers",
                     f"median over epochs 1-{early[-1][0]}: gradient norm of {first!r} {first_norm:.2g} (limit "
                     f"{VANISH_FIRST_NORM:g}), {ratio:.2g}x that of {last!r} (limit {VANISH_RATIO:g})",
                     _confidence(math.log10(VANISH_RATIO / max(ratio, 1e-300)) / 3))


def _exploding_gradients(probes: Mapping[str, Any]) -> Diagnosis | None:
    """A non-finite gradient, or a layer's mean |gradient| above EXPLODE_MEAN_ABS.

    Per layer, not BTTackler's median over layers: with huge weights the activations grow layer by
    layer, and so does the gradient of the kernels they feed; the last kernel's can be 1e5 while the
    median is 1e2 (measured, 3 ReLU layers of stddev 30).
    """
    for epoch, means in _per_epoch(probes, "grad_mean_abs"):
        worst = max(means, key=lambda name: means[name] if math.isfinite(means[name]) else math.inf)
        value = means[worst]
        if math.isfinite(value) and value <= EXPLODE_MEAN_ABS:
            continue
        return Diagnosis(Label.EXPLODING_GRADIENTS, "lower the learning rate, add gradient clipping (clipnorm=1.0) "
                         "and batch normalization; keep the default initializers and scale the inputs",
                         f"at epoch {epoch}: mean |gradient| of {worst!r} {value:.3g} (limit {EXPLODE_MEAN_ABS:g})",
                         _confidence(math.log10(value / EXPLODE_MEAN_ABS) / 3 if math.isfinite(value) else 1.0))
    return None


def _unit_cause(probes: Mapping[str, Any], stat: str, label: Label, limit: float, what: str,
                advice: str) -> Diagnosis | None:
    """The layers whose share of `stat` units ('dead', 'saturated') is over `limit` at the last probed epoch."""
    rows = _per_epoch(probes, stat)
    if not rows:
        return None
    epoch, shares = rows[-1]
    over = sorted(((name, share) for name, share in shares.items() if share > limit), key=lambda t: -t[1])
    if not over:
        return None
    units = {unit["layer"]: unit for unit in probes.get("units", [])}
    layers = ", ".join(f"{name!r} ({units.get(name, {}).get('activation', '?')}): {share:.0%} of "
                       f"{units.get(name, {}).get('size', '?')} units {what} (limit {limit:.0%})" for name, share in over)
    return Diagnosis(label, advice, f"{layers} on the {probes.get('samples', '?')} probe samples at epoch {epoch}",
                     _confidence((over[0][1] - limit) / (1 - limit)))


def _dead_units(probes: Mapping[str, Any]) -> Diagnosis | None:
    """ReLU units that output 0 for every probe sample at the end: they no longer learn."""
    return _unit_cause(probes, "dead", Label.DEAD_UNITS, DEAD_SHARE, "never active", "lower the learning rate, use "
                       "LeakyReLU or he_normal initialization, add batch normalization, and check the bias initializers")


def _saturated_units(probes: Mapping[str, Any]) -> Diagnosis | None:
    """Sigmoid/tanh units stuck at an asymptote for nearly every probe sample: their gradient is ~0."""
    return _unit_cause(probes, "saturated", Label.SATURATED_UNITS, SATURATED_SHARE, "saturated", "scale the inputs to "
                       "[0, 1] or standardize them, add batch normalization before the sigmoid/tanh, or use ReLU")


_CAUSE_RULES: tuple[Callable[[Mapping[str, Any]], Diagnosis | None], ...] = (
    _exploding_gradients, _vanishing_gradients, _dead_units, _saturated_units)


def find_causes(probes: Mapping[str, Any] | None) -> tuple[Diagnosis, ...]:
    """The cause flags the probe stats support (see probes.py), with their evidence."""
    if not probes:
        return ()
    return tuple(hit for hit in (rule(probes) for rule in _CAUSE_RULES) if hit is not None)


def diagnose(history: Mapping[str, Sequence[float]], num_classes: int, *, initial_loss: float | None = None,
             majority_rate: float | None = None, probes: Mapping[str, Any] | None = None) -> Diagnosis:
    """Label a trial from its per-epoch history ("loss" required; val_loss, accuracy, val_accuracy optional).

    `initial_loss` is the untrained model's loss (else the probe batch's before training, else the first
    epoch's); `majority_rate` the majority-class share, which raises chance accuracy above 1/C on imbalanced
    data; `probes` the stats of probes.ProbeCallback, whose cause flags join the flags.
    """
    if initial_loss is None and probes and probes.get("initial_loss") is not None:
        initial_loss = float(probes["initial_loss"])
    primary = _diagnose_curves(history, num_classes, initial_loss=initial_loss, majority_rate=majority_rate)
    causes = find_causes(probes)
    if causes:
        primary = dataclasses.replace(primary, flags=primary.flags + tuple(c.label for c in causes), causes=causes)
    return _with_probe_cause(primary, probes)


def _with_probe_cause(primary: Diagnosis, probes: Mapping[str, Any] | None) -> Diagnosis:
    """The cause the probe batch tells for a stuck run or a bad initial loss, its advice first."""
    if primary.cause or not probes or not probes.get("epochs"):
        return primary
    if primary.label is Label.STUCK_AT_CHANCE:
        if primary.causes:
            first = primary.causes[0]
            return dataclasses.replace(primary, cause=first.label.value, advice=f"{first.advice}; then {primary.advice}")
        return dataclasses.replace(primary, cause=CAUSE_NO_SIGNAL, advice=(
            "gradients reach every layer and the units are alive on the probe batch, yet nothing is learned: check "
            f"that the labels belong to the inputs (shuffled, misaligned, a wrong label column); then {primary.advice}"))
    scale = probes.get("input_max_abs")
    if primary.label is Label.BAD_INITIAL_LOSS and scale is not None and scale > INPUT_SCALE_LIMIT:
        return dataclasses.replace(primary, cause=CAUSE_UNSCALED_INPUTS, advice=(
            f"the inputs reach |x| = {scale:.3g} (limit {INPUT_SCALE_LIMIT:g}): scale them to [0, 1] or standardize "
            f"them first; then {primary.advice}"))
    return primary


def _diagnose_curves(history: Mapping[str, Sequence[float]], num_classes: int, *, initial_loss: float | None,
                     majority_rate: float | None) -> Diagnosis:
    curves = Curves.from_history(history, num_classes, initial_loss=initial_loss, majority_rate=majority_rate)
    bad = curves.first_non_finite()
    finite = curves if bad is None else curves.head(bad)
    hits = [hit for hit in (find_nan(curves), *(rule(finite) for rule in _CURVE_RULES)) if hit is not None]
    if not hits:
        if curves.epochs < MIN_EPOCHS:
            return Diagnosis(Label.UNKNOWN, f"train for at least {MIN_EPOCHS} epochs, with validation data, to get a "
                             "diagnosis", f"{curves.epochs} epoch(s) of history", 0.0)
        return _healthy(curves)
    hits.sort(key=lambda hit: PRIORITY.index(hit.label))
    primary, others = hits[0], [hit.label for hit in hits[1:]]
    if primary.label in _BROKEN:
        others = [label for label in others if label not in _CONVERGENCE]
    return dataclasses.replace(primary, flags=tuple(others))
