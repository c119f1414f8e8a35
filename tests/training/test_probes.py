"""The probe batch (probes.py) and the cause flags it supports (diagnosis.find_causes), on tiny real models:
each fault is injected into a small Dense stack trained for 2 epochs; a healthy small digits CNN gets none."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from conftest import tiny_digits
from gridsearch.data.dataset import load_dataset
from gridsearch.diagnosis.rules import Label, diagnose, find_causes
from gridsearch.plans.stages import builtin_defaults
from gridsearch.training import probes
from gridsearch.training.fit import TrainingContext, run_trial
from gridsearch.training.models import simple_cnn
from gridsearch.training.probes import ProbeCallback

CAUSES = {Label.VANISHING_GRADIENTS, Label.EXPLODING_GRADIENTS, Label.DEAD_UNITS, Label.SATURATED_UNITS}
RNG = np.random.default_rng(0)
X = RNG.normal(size=(128, 8)).astype("float32")
Y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)  # 3 learnable classes


def probe(*hidden: keras.layers.Layer, x: np.ndarray = X, epochs: int = 2) -> dict:
    """Train hidden layers + a softmax head with the probe on; its stats."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), *hidden, keras.layers.Dense(3, activation="softmax", name="out")])
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    callback = ProbeCallback(x, Y, 3)
    model.fit(x, Y, epochs=epochs, batch_size=32, verbose=0, callbacks=[callback])
    stats = callback.stats()
    assert "error" not in stats and len(stats["epochs"]) == epochs, stats
    return stats


def causes(stats: dict) -> dict[Label, str]:
    return {cause.label: cause.evidence for cause in find_causes(stats)}


def test_vanishing_gradients_in_a_deep_sigmoid_stack():
    stats = probe(*(keras.layers.Dense(16, activation="sigmoid", name=f"s{i}") for i in range(8)))
    found = causes(stats)
    assert set(found) == {Label.VANISHING_GRADIENTS}, found
    assert "gradient norm of 's0'" in found[Label.VANISHING_GRADIENTS] and "that of 'out'" in found[
        Label.VANISHING_GRADIENTS]
    first = stats["epochs"][0]["grad_norm"]
    assert first["s0"] < 1e-3 * first["out"]  # the numbers the flag stands on are in the record


def test_exploding_gradients_with_huge_initial_weights():
    huge = [keras.layers.Dense(32, activation="relu", name=f"h{i}",
                               kernel_initializer=keras.initializers.RandomNormal(stddev=30.0, seed=i))
            for i in range(3)]
    stats = probe(*huge)
    found = causes(stats)
    assert Label.EXPLODING_GRADIENTS in found and not found.keys() & {Label.DEAD_UNITS, Label.SATURATED_UNITS}
    assert "at epoch 1: mean |gradient| of 'out'" in found[Label.EXPLODING_GRADIENTS]
    assert stats["initial_loss_ratio"] > 100  # the untrained loss is far above ln 3, too


def test_dead_units_with_a_large_negative_bias():
    dead = [keras.layers.Dense(16, activation="relu", name=f"d{i}",
                               bias_initializer=keras.initializers.Constant(-10.0)) for i in range(2)]
    stats = probe(*dead)
    found = causes(stats)
    assert set(found) == {Label.DEAD_UNITS}, found
    assert "'d0' (relu): 100% of 16 units never active" in found[Label.DEAD_UNITS]
    assert stats["epochs"][-1]["update_ratio"]["d0"] == 0.0  # dead units get no gradient, so no update


def test_saturated_units_with_tanh_and_huge_inputs():
    # Seeded initializers: after keras.utils.set_random_seed the unseeded draw still varied (the first model of a
    # process drew other weights than later ones, 38% of t0's units saturated against 81%; run alone, the test failed
    # 1 time in 5). How many saturate depends on the draw (44-81% over six seeds); seed 5 is well over the 50% limit.
    tanh = [keras.layers.Dense(16, activation="tanh", name=name, kernel_initializer=keras.initializers.GlorotUniform(seed))
            for name, seed in (("t0", 5), ("t1", 15))]
    stats = probe(*tanh, x=X * 100)
    found = causes(stats)
    assert set(found) == {Label.SATURATED_UNITS}, found
    assert "'t0' (tanh):" in found[Label.SATURATED_UNITS] and "saturated (limit 50%)" in found[Label.SATURATED_UNITS]


def test_a_probe_batch_in_chunks_measures_what_one_pass_measures(monkeypatch):
    """Images too large for one pass through the tape go in equal chunks; the record is the same."""
    def layers():  # seeded initializers: the same model in both runs, whatever Keras' global seed state
        return [keras.layers.Dense(16, activation=activation, name=name,
                                   kernel_initializer=keras.initializers.GlorotUniform(seed=i))
                for i, (activation, name) in enumerate([("relu", "r0"), ("tanh", "t0")])]

    assert probes._chunk_size(64, 160 * 160 * 3) == 8 and probes._chunk_size(64, 64) == 64
    assert probes._chunk_size(7, 2**21) == 1  # one image over the limit still goes through, alone
    whole = probe(*layers(), x=X * 3)
    monkeypatch.setattr(probes, "PROBE_CHUNK_VALUES", 8 * 8)  # 8 samples of 8 values a chunk
    chunked = probe(*layers(), x=X * 3)
    assert whole["initial_loss"] == pytest.approx(chunked["initial_loss"], rel=1e-3)
    for a, b in zip(whole["epochs"], chunked["epochs"]):
        assert a["dead"] == b["dead"] and a["saturated"] == b["saturated"]
        assert a["probe_loss"] == pytest.approx(b["probe_loss"], rel=1e-3)
        for name in a["grad_norm"]:
            assert a["grad_norm"][name] == pytest.approx(b["grad_norm"][name], rel=1e-3)


def test_cause_flags_join_the_flags_and_never_become_primary():
    history = {"loss": [1.0, 0.5, 0.32, 0.3, 0.29], "val_loss": [1.0, 0.55, 0.38, 0.36, 0.35],
               "accuracy": [0.6, 0.85, 0.95, 0.96, 0.965], "val_accuracy": [0.6, 0.85, 0.95, 0.96, 0.965]}
    dead = {"samples": 64, "kernels": ["a", "b"], "units": [{"layer": "r", "activation": "relu", "size": 10}],
            "epochs": [{"epoch": 5, "grad_norm": {"a": 0.1, "b": 0.1}, "grad_mean_abs": {"a": 0.01, "b": math.nan},
                        "dead": {"r": 0.95}}]}
    result = diagnose(history, 3, probes=dead)
    assert result.label is Label.HEALTHY and set(result.flags) == {Label.DEAD_UNITS, Label.EXPLODING_GRADIENTS}
    assert {c["label"] for c in result.to_dict()["causes"]} == {"dead_units", "exploding_gradients"}
    assert diagnose(history, 3).to_dict().get("causes") is None and not diagnose(history, 3, probes={}).flags


@pytest.fixture(scope="module")
def digits_context(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    x, y = tiny_digits(n_per_class=40, classes=tuple(range(5)))
    np.savez(folder / "digits.npz", x=x, y=y)
    dataset = load_dataset("digits.npz", seed=0, validation_split=0.2, test_split=0.2, folder=folder)
    return dataset


@pytest.mark.slow
def test_a_healthy_digits_cnn_gets_no_cause_flag_and_trains_as_without_the_probe(digits_context):
    config = {**builtin_defaults(), "filters": 8, "dense_units": 32, "epochs": 6, "batch_size": 16,
              "learning_rate": 3e-3}
    results = {}
    for probed in (True, False):
        ctx = TrainingContext(digits_context, simple_cnn, 0, "val_accuracy", "max", prune=False, probe=probed)
        results[probed] = run_trial("t", 1, "probe", "c", config, ctx)
    probed, plain = results[True], results[False]
    assert probed.diagnosis["label"] == "healthy", probed.diagnosis
    assert not set(probed.diagnosis["flags"]) & {label.value for label in CAUSES}, probed.diagnosis
    assert probed.history == plain.history and not plain.probes  # inference-mode probing changes nothing
    stats = probed.probes
    assert len(stats["epochs"]) == 6 and "error" not in stats
    assert [u["activation"] for u in stats["units"]] == ["relu", "relu", "relu"]  # from the configs
    assert 0.5 < stats["initial_loss_ratio"] < 2  # an untrained softmax starts near ln C ...
    assert stats["first_epoch_loss_ratio"] < stats["initial_loss_ratio"]  # ... and one epoch of learning lowers it
    assert all(0 < ratio < 1 for ratio in stats["epochs"][-1]["update_ratio"].values())


DEAD_RELU_SPACE = """
import keras


def build(hp, input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(16, activation="relu", name="hidden",
                           bias_initializer=keras.initializers.Constant(-50.0))(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(hp["learning_rate"]), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


space = SearchSpace(name="dead", data="tiny.npz", model=build, stages=[Stage("learning_rate", [1e-3])],
                    epochs=3, batch_size=32)
"""


@pytest.mark.slow
def test_every_keras_tuner_trial_is_probed_and_its_cause_flags_reach_the_leaderboard(write_space, tiny_npz):
    import json

    import pandas as pd

    from gridsearch.cli import main

    space = write_space(DEAD_RELU_SPACE)
    results = space.parent / "results"
    assert main(["run", str(space), "--results-dir", str(results), "--quiet", "--no-prune"]) == 0
    board = pd.read_csv(results / "dead" / "leaderboard.csv")
    assert "dead_units" in board.loc[0, "flags"], board.loc[0].to_dict()
    [path] = (results / "dead" / "trials").glob("*.json")  # named by config id
    record = json.loads(path.read_text())
    assert record["probes"]["epochs"][-1]["dead"] == {"hidden": 1.0}
    [cause] = [c for c in record["diagnosis"]["causes"] if c["label"] == "dead_units"]
    assert "'hidden' (relu): 100% of 16 units never active" in cause["evidence"]
