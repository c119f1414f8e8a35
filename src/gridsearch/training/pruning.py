"""Stop hopeless trials early, with the same rules that label them afterwards (diagnosis.py),
and trials far behind every finished sibling of their stage.

Only runs that cannot win are stopped: a NaN loss at once (nothing after it counts), a
diverging run or one stuck at chance after `patience` epochs in a row. A slow or noisy
learner is never stopped: the stuck rule needs every accuracy at chance *and* a loss that
does not fall, so one epoch clearly above chance, or a falling loss, resets the count. A
diverging loss that fell in its last epoch, in a run that has fitted RECOVERING_MIN_FIT of the
chance-to-perfect range, resets it too: a spike a learning run recovers from is no reason to stop
it (the default digits grid's l2=0.001 trial spiked from 0.07 to 0.38 at epoch 13, then fell
31%, 23% and 19% in the next three epochs to a val accuracy of 0.972, and was stopped at epoch
16 before this). A run that keeps climbing, or whose blown-up loss falls with accuracy near
chance (SGD at learning rate 10), is stopped as before.

The sibling rule (BTTackler's cross-trial context) compares progress at the same epoch: the
share of the chance-to-perfect range fitted (`Curves.fit`: the better of the smoothed train and
validation accuracy), never the validation accuracy alone. Batch normalization's inference
statistics lag behind its weights in the first epochs: on the default digits grid the eventual
winner (batch_norm=True) sat at validation accuracy 0.10 for epochs 2-5 while its train accuracy
was 0.96-0.99. A trial that was once in the leading tenth of its siblings is never stopped.

Successive halving (`--halving`, opt-in) is the asynchronous form (ASHA, Li et al. 2020) on the same
plumbing and with the same progress measure: at each rung (`halving_rungs`) a trial goes on only if it
is in the better half of the trials of its stage that reached that rung, itself included. Asynchronous
because a stage's trials run one after another: the first always runs in full, and no trial needs its
weights saved to be continued later.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import keras

from gridsearch.diagnosis.rules import Curves, Diagnosis, find_diverging, find_nan, find_stuck_at_chance

# Measured on the default digits grid (benchmarks/pruning.py, seed 0): noise=0.3 trailed both of its
# siblings by 0.21 of the chance-to-perfect range at epoch 3 and finished tied second of its stage (0.9826).
# 0.3 leaves a margin over the largest gap a trial was seen to close.
SIBLING_GAP = 0.3
RECOVERING_MIN_FIT = 0.5  # judgment: half the chance-to-perfect range fitted is a run that learns, not a blown-up one
LEADING_SHARE = 0.1  # issue 12: the leading tenth of a stage is never stopped
HALVING_RATE = 2  # successive halving keeps the better half at each rung
# Measured on the recorded default digits grid (tests/data/digits_grid_histories.json): at epoch 2 the eventual
# winner (batch norm) had fitted 0.83 of the range against 0.90 for its BN-less sibling, and was level from epoch 4
# on; in compare.py --quick (5 epochs) a rung at epoch 2 stopped its L2 stage's winner. So the first rung is a
# quarter of the epochs and never before epoch 5, and a trial within HALVING_MARGIN of the better half goes on
# (train accuracy saturates near 1.0, so the good configs of a late stage are that close).
FIRST_RUNG_SHARE = 0.25
FIRST_RUNG_MIN_EPOCHS = 5
HALVING_MARGIN = 0.05


def halving_rungs(epochs: int) -> tuple[int, ...]:
    """The epochs at which successive halving compares a trial with its stage: epochs/2, epochs/4, ... down to
    a quarter of the epochs and to epoch 5 (20 epochs: 5 and 10; fewer than 10: none)."""
    rungs, rung = [], epochs // HALVING_RATE
    while rung >= max(FIRST_RUNG_MIN_EPOCHS, FIRST_RUNG_SHARE * epochs):
        rungs.append(rung)
        rung //= HALVING_RATE
    return tuple(sorted(rungs))


@dataclass(frozen=True)
class BehindSiblings:
    """Why a sibling rule (far behind, or halved at a rung) stopped a trial, shaped as `training.finish` reads a Diagnosis."""

    evidence: str
    label: str = "behind_siblings"


class HopelessTrialStopper(keras.callbacks.Callback):
    """Sets `model.stop_training`, `pruned_reason` (a Diagnosis or BehindSiblings) and `stopped_epoch` (1-based).

    `siblings` are the histories of the trials of the same stage that finished before this one; at the
    epochs in `rungs` (successive halving, see `halving_rungs`) a trial outside their better half stops.
    """

    def __init__(self, num_classes: int, *, patience: int = 3, majority_rate: float | None = None,
                 siblings: Sequence[Mapping[str, Sequence[float]]] = (), rungs: Sequence[int] = ()) -> None:
        super().__init__()
        if patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {patience}")
        self.num_classes = num_classes
        self.patience = patience
        self.majority_rate = majority_rate
        self.siblings = siblings
        self.rungs = frozenset(rungs)
        self._reset()

    def _reset(self) -> None:
        self.pruned_reason: Diagnosis | BehindSiblings | None = None
        self.stopped_epoch: int | None = None
        self._history: dict[str, list[float]] = {}
        self._streak = 0  # consecutive epochs judged diverging or stuck at chance
        self._behind = 0  # consecutive epochs far behind every sibling
        self._led = False  # in the leading tenth of the siblings at some epoch so far
        self._sibling_curves = [self._curves(history) for history in self.siblings]

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def _curves(self, history: Mapping[str, Sequence[float]]) -> Curves:
        return Curves.from_history(history, self.num_classes, majority_rate=self.majority_rate)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for name, value in (logs or {}).items():
            self._history.setdefault(name, []).append(float(value))
        curves = self._curves(self._history)
        nan = find_nan(curves)
        if nan is not None:
            self._stop(nan, epoch)
            return
        hopeless = (None if self._recovering(curves) else find_diverging(curves)) or find_stuck_at_chance(curves)
        self._streak = self._streak + 1 if hopeless else 0
        if hopeless and self._streak >= self.patience:
            self._stop(hopeless, epoch)
            return
        behind = self._behind_siblings(curves)
        self._behind = self._behind + 1 if behind else 0
        if behind and self._behind >= self.patience:
            self._stop(behind, epoch)
            return
        halved = self._halved(curves) if curves.epochs in self.rungs else None
        if halved:
            self._stop(halved, epoch)

    @staticmethod
    def _recovering(curves: Curves) -> bool:
        """The loss fell in the last epoch, in a run that learns."""
        loss = curves.loss
        return len(loss) >= 2 and bool(loss[-1] < loss[-2]) and curves.fit()[0] >= RECOVERING_MIN_FIT

    def _progress_of_siblings_at(self, epoch: int) -> list[float]:
        """The progress measure of each finite sibling that reached `epoch`, at that epoch."""
        return [c.head(epoch).fit()[0] for c in self._sibling_curves if c.epochs >= epoch and c.first_non_finite() is None]

    def _behind_siblings(self, curves: Curves) -> BehindSiblings | None:
        """Far behind every sibling that reached this epoch (and never among the leaders): the evidence."""
        epoch = curves.epochs
        fits = sorted(self._progress_of_siblings_at(epoch), reverse=True)
        if not fits:
            return None
        own = curves.fit()[0]
        leaders = math.ceil(LEADING_SHARE * (len(fits) + 1))
        self._led = self._led or sum(fit > own for fit in fits) < leaders
        worst = fits[-1]
        if self._led or not own < worst - SIBLING_GAP:
            return None
        return BehindSiblings(f"fitted {own:.0%} of the chance-to-perfect range at epoch {epoch}, every one of "
                              f"{len(fits)} finished sibling(s) {worst:.0%} or more (gap limit {SIBLING_GAP:.0%}), "
                              f"{self._behind + 1} epoch(s) in a row")

    def _halved(self, curves: Curves) -> BehindSiblings | None:
        """At a rung: outside the better half of the stage's trials that reached it, by more than HALVING_MARGIN."""
        epoch, own = curves.epochs, curves.fit()[0]
        peers = sorted(self._progress_of_siblings_at(epoch), reverse=True)
        going_on = math.ceil((len(peers) + 1) / HALVING_RATE)
        if len(peers) < going_on or own >= peers[going_on - 1] - HALVING_MARGIN:
            return None
        return BehindSiblings(f"successive halving at epoch {epoch}: fitted {own:.0%} of the chance-to-perfect range, "
                              f"the better {going_on} of the {len(peers) + 1} trials that reached this epoch "
                              f"{peers[going_on - 1]:.0%} or more (margin {HALVING_MARGIN:.0%})", label="halved")

    def _stop(self, reason: Diagnosis | BehindSiblings, epoch: int) -> None:
        self.pruned_reason = reason
        self.stopped_epoch = epoch + 1
        self.model.stop_training = True
