"""Stop hopeless trials early, with the same rules that label them afterwards (diagnosis.py).

Only runs that cannot win are stopped: a NaN loss at once (nothing after it counts), a
diverging run or one stuck at chance after `patience` epochs in a row. A slow or noisy
learner is never stopped: the stuck rule needs every accuracy at chance *and* a loss that
does not fall, so one epoch clearly above chance, or a falling loss, resets the count.
"""
from __future__ import annotations

import keras

from .diagnosis import Curves, Diagnosis, find_diverging, find_nan, find_stuck_at_chance


class HopelessTrialStopper(keras.callbacks.Callback):
    """Sets `model.stop_training`, `pruned_reason` (the Diagnosis) and `stopped_epoch` (1-based)."""

    def __init__(self, num_classes: int, *, patience: int = 3, majority_rate: float | None = None) -> None:
        super().__init__()
        if patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {patience}")
        self.num_classes = num_classes
        self.patience = patience
        self.majority_rate = majority_rate
        self._reset()

    def _reset(self) -> None:
        self.pruned_reason: Diagnosis | None = None
        self.stopped_epoch: int | None = None
        self._history: dict[str, list[float]] = {}
        self._streak = 0  # consecutive epochs judged diverging or stuck at chance

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for name, value in (logs or {}).items():
            self._history.setdefault(name, []).append(float(value))
        curves = Curves.from_history(self._history, self.num_classes, majority_rate=self.majority_rate)
        nan = find_nan(curves)
        if nan is not None:
            self._stop(nan, epoch)
            return
        hopeless = find_diverging(curves) or find_stuck_at_chance(curves)
        self._streak = self._streak + 1 if hopeless else 0
        if hopeless and self._streak >= self.patience:
            self._stop(hopeless, epoch)

    def _stop(self, reason: Diagnosis, epoch: int) -> None:
        self.pruned_reason = reason
        self.stopped_epoch = epoch + 1
        self.model.stop_training = True
