"""The hopeless-trial stopper: stops NaN at once, diverging/stuck after `patience` epochs, never a learner."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from conftest import MEASURED
from gridsearch.diagnosis.rules import Curves, Label, find_diverging
from gridsearch.training.pruning import HALVING_MARGIN, SIBLING_GAP, BehindSiblings, HopelessTrialStopper, halving_rungs

N = 15


def attached(num_classes: int = 10, **kwargs) -> HopelessTrialStopper:
    """A stopper with a tiny model attached, so that `self.model` exists, as in fit()."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(num_classes, activation="softmax")])
    stopper = HopelessTrialStopper(num_classes, **kwargs)
    model.stop_training = False  # fit() sets it before the first epoch
    stopper.set_model(model)
    stopper.on_train_begin()
    return stopper


def feed(stopper: HopelessTrialStopper, history: dict[str, list[float]]) -> int:
    """Call on_epoch_end epoch by epoch as fit() would; return the number of epochs run."""
    for epoch in range(len(history["loss"])):
        stopper.on_epoch_end(epoch, {name: values[epoch] for name, values in history.items()})
        if stopper.model.stop_training:
            return epoch + 1
    return len(history["loss"])


def learning(loss0: float, acc0: float, n: int = N) -> dict[str, list[float]]:
    t = np.arange(n)
    loss = list(0.05 + (loss0 - 0.05) * np.exp(-t / 4))
    acc = list(1 - (1 - acc0) * np.exp(-t / 4))
    return {"loss": loss, "val_loss": [v * 1.1 for v in loss], "accuracy": acc, "val_accuracy": acc}


def stuck(level: float, acc: float, n: int = N) -> dict[str, list[float]]:
    wiggle = 1 + 0.0005 * np.cos(np.arange(n))
    return {"loss": list(level * wiggle), "val_loss": list(level * wiggle), "accuracy": [acc] * n,
            "val_accuracy": [acc] * n}


def with_loss(history: dict[str, list[float]], epoch: int, value: float) -> dict[str, list[float]]:
    loss = list(history["loss"])
    loss[epoch - 1] = value
    return {**history, "loss": loss}


def diverging() -> dict[str, list[float]]:
    loss = [1.0, 0.7, 0.5, 0.45, 0.44, 0.6, 0.9, 1.4, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    return {"loss": loss, "val_loss": loss, "accuracy": [0.6] * N, "val_accuracy": [0.6] * N}


STOPPED = [  # (id, num_classes, history, patience, label, 1-based epoch it stops at)
    ("nan at epoch 4", 10, with_loss(learning(2.3, 0.3), 4, math.nan), 3, Label.NAN, 4),
    ("inf at epoch 1", 10, with_loss(learning(2.3, 0.3), 1, math.inf), 3, Label.NAN, 1),
    ("stuck at ln 10", 10, stuck(math.log(10), 0.1), 3, Label.STUCK_AT_CHANCE, 5),  # judged from epoch 3, 3 in a row
    ("stuck at ln 10, patience 1", 10, stuck(math.log(10), 0.1), 1, Label.STUCK_AT_CHANCE, 3),
    ("binary collapsed at 8", 2, stuck(8.06, 0.5), 3, Label.STUCK_AT_CHANCE, 3),  # saturated: evident from epoch 1
    ("diverging", 10, diverging(), 3, Label.DIVERGING, 10),
    # the 200 first-epoch loss is a blow-up (above KERAS_MAX_LOSS), left out: judged stuck from epoch 4, 3 in a row
    ("measured: adam lr=3", 10, MEASURED["adam lr=3"], 3, Label.STUCK_AT_CHANCE, 6),
]


@pytest.mark.parametrize("num_classes, history, patience, label, epoch", [c[1:] for c in STOPPED],
                         ids=[c[0] for c in STOPPED])
def test_hopeless_trials_are_stopped(num_classes, history, patience, label, epoch):
    stopper = attached(num_classes, patience=patience)
    assert feed(stopper, history) == epoch
    assert stopper.model.stop_training is True
    assert stopper.stopped_epoch == epoch
    assert stopper.pruned_reason is not None and stopper.pruned_reason.label == label
    assert stopper.pruned_reason.evidence


def slow_binary() -> dict[str, list[float]]:
    """Near chance for the first epochs, loss barely moving, then learning."""
    acc = [0.50, 0.52, 0.54, 0.58, 0.65, 0.72, 0.8, 0.85, 0.88, 0.9, 0.92, 0.93, 0.94, 0.95, 0.95]
    loss = [0.693, 0.690, 0.684, 0.67, 0.64, 0.6, 0.5, 0.42, 0.36, 0.31, 0.27, 0.24, 0.22, 0.2, 0.19]
    return {"loss": loss, "val_loss": loss, "accuracy": acc, "val_accuracy": acc}


def stuck_then_learning() -> dict[str, list[float]]:
    """At chance with a flat loss for 4 epochs (one short of being stopped), then it learns."""
    head, tail = stuck(math.log(10), 0.1, n=4), learning(2.0, 0.3, n=N - 4)
    return {name: head[name] + tail[name] for name in head}


def spike_then_recovery() -> dict[str, list[float]]:
    """Recorded: the default digits grid's l2=0.001 trial (lr 0.01, batch norm), epochs 1-16 of 20. Its loss spiked
    from 0.07 to 0.38 at epoch 13 and fell in each epoch after; val accuracy went on to 0.972."""
    return {"loss": [1.197, 0.369, 0.244, 0.207, 0.23, 0.196, 0.151, 0.123, 0.1, 0.082, 0.07, 0.184, 0.383, 0.265,
                     0.204, 0.165],
            "accuracy": [0.715, 0.95, 0.991, 0.992, 0.974, 0.99, 1.0, 1.0, 1.0, 1.0, 1.0, 0.966, 0.932, 0.98, 0.996,
                         0.996],
            "val_loss": [2.113, 2.369, 2.523, 2.47, 2.452, 2.258, 2.187, 1.841, 1.493, 1.251, 1.157, 0.467, 0.496,
                         0.314, 0.285, 0.227],
            "val_accuracy": [0.347, 0.101, 0.101, 0.101, 0.101, 0.104, 0.111, 0.24, 0.424, 0.528, 0.59, 0.896, 0.917,
                             0.972, 0.972, 0.972]}


def test_a_loss_spike_the_run_recovers_from_is_not_stopped():
    history = spike_then_recovery()
    assert find_diverging(Curves.from_history(history, 10)) is not None  # the finished log still reads diverging
    stopper = attached(10)
    assert feed(stopper, history) == 16 and stopper.pruned_reason is None


@pytest.mark.parametrize("accuracy, stopped_at", [(0.3, 10), (0.97, 12)], ids=["fitted 22%", "learning"])
def test_a_diverging_loss_that_dips_once_restarts_the_count_only_in_a_run_that_learns(accuracy, stopped_at):
    loss = diverging()["loss"]
    loss[8] = 1.2  # epoch 9 falls below epoch 8's 1.4
    history = {**diverging(), "loss": loss, "accuracy": [accuracy] * N, "val_accuracy": [accuracy] * N}
    stopper = attached(10)
    assert feed(stopper, history) == stopped_at and stopper.pruned_reason.label == Label.DIVERGING


KEPT = [  # (id, num_classes, history, majority_rate)
    ("healthy", 10, learning(2.3, 0.3), None),
    ("measured: adam lr=3e-3", 10, MEASURED["adam lr=3e-3"], None),
    ("measured: adam lr=3e-5, at chance for 5 epochs", 10, MEASURED["adam lr=3e-5"], None),
    ("near chance at epoch 1 but rising", 10, learning(2.3, 0.11), None),
    ("slow binary start", 2, slow_binary(), None),
    ("stuck for 2 judged epochs, then learning", 10, stuck_then_learning(), None),
    ("at the majority share but learning", 2,
     {"loss": list(np.linspace(0.33, 0.1, N)), "accuracy": [0.9] * 5 + list(np.linspace(0.91, 0.97, N - 5))}, 0.9),
]


@pytest.mark.parametrize("num_classes, history, majority_rate", [c[1:] for c in KEPT], ids=[c[0] for c in KEPT])
def test_learners_are_never_stopped(num_classes, history, majority_rate):
    stopper = attached(num_classes, majority_rate=majority_rate)
    assert feed(stopper, history) == len(history["loss"])
    assert not stopper.model.stop_training
    assert stopper.pruned_reason is None and stopper.stopped_epoch is None


def test_majority_rate_raises_chance_level():
    history = stuck(0.325, 0.9)
    assert feed(attached(2), history) == N  # 0.9 is far above 1/2: a plateau, not chance
    stopper = attached(2, majority_rate=0.9)
    assert feed(stopper, history) == 5 and stopper.pruned_reason.label == Label.STUCK_AT_CHANCE


def test_state_is_reset_when_training_starts_again():
    stopper = attached(10)
    feed(stopper, stuck(math.log(10), 0.1))
    assert stopper.pruned_reason is not None
    stopper.on_train_begin()
    assert stopper.pruned_reason is None and stopper.stopped_epoch is None


def test_patience_below_one_is_refused():
    with pytest.raises(ValueError, match="patience must be at least 1"):
        HopelessTrialStopper(10, patience=0)


def test_real_fit_with_learning_rate_10_is_stopped_early():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + 2 * (x[:, 1] > 0).astype("int64")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(4, activation="softmax")])
    model.compile(keras.optimizers.SGD(learning_rate=10.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
    stopper = HopelessTrialStopper(4)
    epochs = 12
    history = model.fit(x, y, validation_split=0.25, epochs=epochs, batch_size=32, verbose=0, callbacks=[stopper])
    assert stopper.pruned_reason is not None, history.history
    assert stopper.pruned_reason.label in (Label.NAN, Label.DIVERGING, Label.STUCK_AT_CHANCE)
    assert stopper.stopped_epoch == len(history.history["loss"]) < epochs


# --- sibling pruning: a trial far behind every finished sibling of its stage at the same epoch ------------

DIGITS = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "digits_grid_histories.json").read_text())["trials"]


def digits(trial_id: str) -> dict[str, list[float]]:
    return DIGITS[trial_id]["history"]


def test_a_trial_far_behind_every_sibling_is_stopped_with_the_evidence():
    stopper = attached(10, siblings=[learning(2.3, 0.6), learning(2.3, 0.5)])
    assert feed(stopper, learning(2.3, 0.1, n=N)) == 3  # far behind from epoch 1, 3 epochs in a row
    assert isinstance(stopper.pruned_reason, BehindSiblings)
    assert "every one of 2 finished sibling(s)" in stopper.pruned_reason.evidence
    assert stopper.pruned_reason.label == "behind_siblings"


def test_one_sibling_as_slow_as_the_trial_keeps_it():
    stopper = attached(10, siblings=[learning(2.3, 0.6), learning(2.3, 0.1)])
    assert feed(stopper, learning(2.3, 0.1)) == N and stopper.pruned_reason is None


def test_a_trial_that_led_once_is_never_stopped_by_its_siblings():
    t = np.arange(N)
    early_leader = {"loss": list(np.linspace(2.0, 1.5, N)), "accuracy": [0.7] + [0.2] * (N - 1)}
    sibling = {"loss": list(np.linspace(2.0, 0.1, N)), "accuracy": list(0.6 + 0.4 * (1 - np.exp(-t)))}
    stopper = attached(10, siblings=[sibling])
    assert feed(stopper, early_leader) == N and stopper.pruned_reason is None
    assert feed(attached(10, siblings=[sibling]), {**early_leader, "accuracy": [0.2] * N}) == 3  # never led: stopped


def test_a_sibling_that_stopped_earlier_is_not_compared_after_its_last_epoch():
    short = {name: values[:2] for name, values in learning(2.3, 0.9).items()}
    assert feed(attached(10, siblings=[short]), learning(2.3, 0.1)) == N


def test_measured_digits_stage_4_noise_03_catches_up_and_is_kept():
    """noise=0.3 trailed both siblings by 0.21 of the range at epoch 3 and finished tied second: SIBLING_GAP's origin."""
    stopper = attached(10, siblings=[digits("s2_t2"), digits("s4_t2")])
    assert feed(stopper, digits("s4_t3")) == 20 and stopper.pruned_reason is None


def test_measured_batch_norm_lag_is_not_mistaken_for_falling_behind():
    """The eventual winner's val accuracy sat at 0.10 for epochs 2-5 (inference statistics lag): its train accuracy counts."""
    assert min(digits("s2_t2")["val_accuracy"][1:5]) < 0.11 < SIBLING_GAP
    stopper = attached(10, siblings=[digits("s1_t2")])
    assert feed(stopper, digits("s2_t2")) == 20 and stopper.pruned_reason is None


def test_measured_digits_learning_rate_1e4_is_kept_beside_lr_01_and_stopped_without_it():
    assert feed(attached(10, siblings=[digits(t) for t in ("s1_t1", "s1_t2", "s1_t3")]), digits("s1_t4")) == 20
    stopper = attached(10, siblings=[digits("s1_t2"), digits("s1_t3")])
    assert feed(stopper, digits("s1_t4")) == 3  # it finished at 0.934, below both (0.983, 0.979): a right stop
    assert DIGITS["s1_t4"]["val_accuracy_best"] < min(DIGITS[t]["val_accuracy_best"] for t in ("s1_t2", "s1_t3"))


# --- successive halving (--halving): at each rung only the better half of the stage's trials so far goes on ----

def test_halving_rungs_start_at_a_quarter_of_the_epochs_and_never_before_epoch_5():
    assert halving_rungs(20) == (5, 10)
    assert halving_rungs(40) == (10, 20)
    assert halving_rungs(10) == (5,)
    assert halving_rungs(8) == () and halving_rungs(1) == ()  # too short to rank early


def _halving(siblings: list[dict[str, list[float]]], epochs: int = 20) -> HopelessTrialStopper:
    return attached(10, siblings=siblings, rungs=halving_rungs(epochs))


def test_halving_stops_a_trial_outside_the_better_half_at_a_rung_with_the_evidence():
    ahead = learning(2.3, 0.9, n=20)
    stopper = _halving([ahead, ahead])
    assert feed(stopper, learning(2.3, 0.7, n=20)) == 5  # the first rung; too close for the sibling gap rule
    assert stopper.pruned_reason.label == "halved"
    assert "successive halving at epoch 5" in stopper.pruned_reason.evidence
    assert "the better 2 of the 3 trials" in stopper.pruned_reason.evidence


def test_halving_keeps_the_first_trial_of_a_stage_and_one_within_the_margin():
    assert feed(_halving([]), learning(2.3, 0.1, n=20)) == 20  # nothing to compare with: runs in full
    level = learning(2.3, 0.8, n=20)
    close = {**level, "accuracy": [a - HALVING_MARGIN / 2 for a in level["accuracy"]]}
    assert feed(_halving([level]), close) == 20
    assert feed(attached(10, siblings=[level, level]), learning(2.3, 0.6, n=20)) == 20  # halving off: no rungs


def test_halving_on_the_recorded_digits_grid_keeps_every_stage_winner_and_saves_a_sixth():
    """benchmarks/pruning.py's replay of the staged default plan on its recorded histories: what --halving stops."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from pruning import replay, stage_winners

    stages = [["s1_t1", "s1_t2", "s1_t3", "s1_t4"], ["s1_t2", "s2_t2"], ["s2_t2", "s3_t2", "s3_t3"],
              ["s2_t2", "s4_t2", "s4_t3"]]
    rows = [SimpleNamespace(stage=number, config_id=trial, config=DIGITS[trial]["config"], history=digits(trial))
            for number, stage in enumerate(stages, start=1) for trial in stage]
    ran = replay(rows, 10, None, halving=True)
    assert {trial: epochs for trial, epochs in ran.items() if epochs < 20} == {"s1_t4": 5, "s4_t3": 5}  # lr 1e-4, noise 0.3
    assert stage_winners(rows, ran) == stage_winners(rows, None) == {1: "s1_t2", 2: "s2_t2", 3: "s2_t2", 4: "s2_t2"}
    assert replay(rows, 10, None, halving=False) == {trial: 20 for trial in ran}  # the default rules stop nothing here
