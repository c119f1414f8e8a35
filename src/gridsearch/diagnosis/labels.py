"""What a diagnosis says: the labels, their priority, the causes, and the Diagnosis record every rule returns."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

# What a broken run's `cause` can be, besides a cause flag's label (dead_units, vanishing_gradients, ...):
CAUSE_BLEW_UP = "blew_up"  # the loss exploded in epoch 1 (from a sound untrained loss, or thousands of times ln C)
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
    # validation far better than training all run: training-only augmentation/dropout/noise, noisy training labels,
    # or validation samples leaked from training (the real-log corpus' labellers' label, benchmarks/diagnosis/real)
    VAL_ABOVE_TRAIN = "val_above_train"
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
            Label.VAL_ABOVE_TRAIN, Label.OSCILLATING, Label.OVERFITTING, Label.PLATEAU, Label.TOO_SLOW, Label.HEALTHY, Label.UNKNOWN)


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


def confidence(excess: float) -> float:
    """0.5 at a rule's threshold, rising to 1.0 when the deciding number is past it by its own size."""
    return round(0.5 + 0.5 * min(1.0, max(0.0, excess)), 2)

