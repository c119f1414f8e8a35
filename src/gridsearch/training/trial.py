"""A trial's result: the one record every backend produces and every later step reads."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

# The metrics a record keeps at its best epoch (the leaderboard's metric columns, in this order).
METRICS = ("val_loss", "val_accuracy", "loss", "accuracy")


class TrialStatus(str, Enum):
    OK = "ok"
    FAILED = "failed"
    PRUNED = "pruned"

    def __str__(self) -> str:
        return self.value


def config_id(config: dict[str, Any], fingerprint: dict[str, Any]) -> str:
    """Identity of a trainable config: equal ids train the same model on the same split.

    The fingerprint holds what shapes training besides the hyperparameters (data, seed,
    split, builder); the hash of the whole space file is deliberately not in it, so that
    appending a stage keeps the trials already finished.
    """
    payload = json.dumps({"config": config, "run": fingerprint}, sort_keys=True, default=repr)
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


@dataclass
class TrialResult:
    trial_id: str  # "s<stage>_t<k>", stable across runs of the same plan
    stage: int
    stage_name: str
    config_id: str
    config: dict[str, Any]  # every hyperparameter value the trial ran with
    status: TrialStatus
    metrics: dict[str, float] = field(default_factory=dict)  # at the best epoch
    epochs_run: int = 0
    best_epoch: int = 0  # 1-based; 0 when no epoch finished
    duration_s: float = 0.0
    history: dict[str, list[float]] = field(default_factory=dict)
    error: str = ""
    diagnosis: dict[str, Any] = field(default_factory=dict)
    reused_from: str = ""  # trial_id of the earlier trial that trained this very config
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific columns (e.g. fold statistics)
    probes: dict[str, Any] = field(default_factory=dict)  # per-epoch probe-batch stats (probes.py); {} when not probed

    def objective(self, name: str) -> float:
        value = self.metrics.get(name, math.nan)
        return value if value is not None else math.nan

    @property
    def retrain_epochs(self) -> int:
        """How long the final fit (without validation data) trains this config: its best epoch."""
        return self.best_epoch or self.config["epochs"]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialResult:
        return cls(**{**data, "status": TrialStatus(data["status"])})


def best_epoch_index(values: list[float], direction: str) -> int | None:
    """0-based index of the best finite value (first one on ties), None if there is none."""
    finite = [(v, i) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not finite:
        return None
    sign = 1.0 if direction == "max" else -1.0
    return max(finite, key=lambda vi: (sign * vi[0], -vi[1]))[1]
