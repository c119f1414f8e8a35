"""Model lint (lint.py): one case per rule and outcome, on tiny real models (built and compiled, never trained),
and end to end: a space whose custom builder puts a ReLU right before the softmax is refused with exit 2."""
from __future__ import annotations

import re

import keras
import pytest

from gridsearch.cli import EXIT_BAD_INPUT, main
from gridsearch.training.lint import ERROR, OK, WARNING, activation_of, lint_model, training_only_layers


def dense(*layers, loss="sparse_categorical_crossentropy") -> keras.Model:
    model = keras.Sequential([keras.Input((8,)), *layers])
    model.compile("adam", loss)
    return model


def softmax(units=3, **kwargs) -> keras.layers.Layer:
    return keras.layers.Dense(units, activation="softmax", name="out", **kwargs)


def own_softmax(logits):
    return keras.ops.softmax(logits)


def scce(**kwargs) -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy(**kwargs)


CASES = [  # (id, model factory, num_classes, one-hot labels, rule, severity, message pattern)
    # output_units
    ("3 units for 3 classes", lambda: dense(softmax()), 3, False, "output_units", OK, r"3 output unit\(s\) for 3"),
    ("3 units for 4 classes", lambda: dense(softmax()), 4, False, "output_units", ERROR,
     r"'out' gives 3 values per sample for 4 classes: give it 4 units"),
    ("1 or 2 units for 2 classes", lambda: dense(keras.layers.Dense(1, activation="sigmoid", name="out"),
                                                 loss="binary_crossentropy"), 2, False, "output_units", OK, r"1 output"),
    # output_activation
    ("softmax on 1 unit", lambda: dense(softmax(1), loss="binary_crossentropy"), 2, False, "output_activation", ERROR,
     r"'out' applies softmax to 1 unit, which is always 1\.0.*use sigmoid"),
    ("sigmoid on several units", lambda: dense(keras.layers.Dense(3, activation="sigmoid", name="out")), 3, False,
     "output_activation", ERROR, r"'out' applies sigmoid to 3 units.*use softmax"),
    ("relu output", lambda: dense(keras.layers.Dense(3, activation="relu", name="out")), 3, False,
     "output_activation", ERROR, r"'out' applies relu.*activation='softmax'"),
    ("custom output", lambda: dense(keras.layers.Dense(3, activation=own_softmax, name="out")), 3, False,
     "output_activation", WARNING, r"'out' has a custom activation"),
    # activation_before_output
    ("relu before softmax", lambda: dense(keras.layers.Dense(3, activation="relu", name="logits"),
                                          keras.layers.Dropout(0.1), keras.layers.Activation("softmax", name="out")),
     3, False, "activation_before_output", ERROR, r"'logits' applies relu right before the softmax of 'out'.*"
     r"non-negative.*remove it \(activation=None on 'logits'\)"),
    ("ReLU layer before sigmoid", lambda: dense(keras.layers.Dense(1, name="logits"), keras.layers.ReLU(name="r"),
                                                keras.layers.Activation("sigmoid", name="out"),
                                                loss="binary_crossentropy"),
     2, False, "activation_before_output", ERROR, r"'r' applies relu right before the sigmoid"),
    ("tanh before softmax", lambda: dense(keras.layers.Dense(3, activation="tanh", name="logits"),
                                          keras.layers.Softmax(name="out")), 3, False,
     "activation_before_output", ERROR, r"'logits' applies tanh .* bounded"),
    ("elu before softmax", lambda: dense(keras.layers.Dense(3, activation="elu", name="logits"),
                                         keras.layers.Softmax(name="out")), 3, False,
     "activation_before_output", WARNING, r"'logits' applies elu .* usually linear"),
    ("softmax, then Dropout", lambda: dense(softmax(), keras.layers.Dropout(0.1)), 3, False, "loss_output", OK,
     r"softmax output with sparse_categorical_crossentropy"),
    ("linear logits into a Softmax layer", lambda: dense(keras.layers.Dense(3, name="logits"),
                                                         keras.layers.Softmax(name="out")), 3, False,
     "activation_before_output", OK, r"linear logits from 'logits'"),
    # loss_output
    ("linear output, probability loss", lambda: dense(keras.layers.Dense(3, name="out")), 3, False, "loss_output",
     ERROR, r"'out' is linear \(logits\) but the loss sparse_categorical_crossentropy expects probabilities"),
    ("softmax with from_logits=True", lambda: dense(softmax(), loss=scce(from_logits=True)), 3, False,
     "loss_output", ERROR, r"applies softmax .* from_logits=True, so the softmax is applied twice"),
    ("logits with from_logits=True", lambda: dense(keras.layers.Dense(3, name="out"), loss=scce(from_logits=True)),
     3, False, "loss_output", OK, r"linear output with sparse_categorical_crossentropy\(from_logits=True\)"),
    ("renamed loss object is read by its function", lambda: dense(softmax(), loss=scce(from_logits=True, name="mine")),
     3, False, "loss_output", ERROR, r"applied twice"),
    # loss_labels
    ("categorical loss, integer labels", lambda: dense(softmax(), loss="categorical_crossentropy"), 3, False,
     "loss_labels", ERROR, r"categorical_crossentropy expects one-hot labels.*use sparse_categorical_crossentropy"),
    ("sparse loss, one-hot labels", lambda: dense(softmax()), 3, True, "loss_labels", ERROR,
     r"sparse_categorical_crossentropy expects integer labels.*use categorical_crossentropy"),
    ("sparse loss on 1 unit", lambda: dense(keras.layers.Dense(1, activation="sigmoid", name="out")), 2, False,
     "loss_labels", ERROR, r"on the 1 unit of 'out'.*binary_crossentropy"),
    ("binary loss for 3 classes", lambda: dense(softmax(), loss="binary_crossentropy"), 3, False, "loss_labels", ERROR,
     r"binary_crossentropy with 3 classes on 3 unit\(s\)"),
    ("regression loss on integer labels", lambda: dense(softmax(), loss="mse"), 3, False, "loss_labels", ERROR,
     r"mean_squared_error compares the class index \(0\.\.2\) with each of the 3 outputs of 'out'"),
    ("regression loss on one-hot labels", lambda: dense(softmax(), loss="mse"), 3, True, "loss_labels", WARNING,
     r"mean_squared_error is a regression loss"),
    ("regression loss on one sigmoid unit", lambda: dense(keras.layers.Dense(1, activation="sigmoid", name="out"),
                                                          loss="mse"), 2, False, "loss_labels", WARNING,
     r"mean_squared_error is a regression loss"),
    ("sparse loss, integer labels", lambda: dense(softmax()), 3, False, "loss_labels", OK,
     r"sparse_categorical_crossentropy fits integer labels 0\.\.2"),
]


@pytest.mark.parametrize("factory, num_classes, one_hot, rule, severity, pattern", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_lint_rule(factory, num_classes, one_hot, rule, severity, pattern):
    findings = {f.check: f for f in lint_model(factory(), num_classes, one_hot_labels=one_hot)}
    assert findings[rule].severity == severity, findings[rule]
    assert re.search(pattern, findings[rule].message), findings[rule].message


def test_every_rule_has_an_error_case_and_a_clean_model_passes_all():
    rules = {c[4] for c in CASES}
    assert rules == {"output_units", "output_activation", "activation_before_output", "loss_output", "loss_labels"}
    assert all(any(c[4] == rule and c[5] == ERROR for c in CASES) for rule in rules)
    clean = dense(keras.layers.Dense(16, activation="relu"), softmax())
    assert {f.severity for f in lint_model(clean, 3)} == {OK}


def test_uncompiled_model_is_an_error():
    model = keras.Sequential([keras.Input((8,)), softmax()])
    [finding] = lint_model(model, 3)
    assert finding.severity == ERROR and "not compiled" in finding.message


def test_training_only_layers_are_found_in_nested_models_and_inactive_ones_skipped():
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomZoom(0.1)])
    model = keras.Sequential([keras.Input((8, 8, 1)), augment, keras.layers.GaussianNoise(0.1),
                              keras.layers.Conv2D(2, 3), keras.layers.SpatialDropout2D(0.3), keras.layers.Flatten(),
                              keras.layers.Dropout(0.0), keras.layers.Dropout(0.5), keras.layers.Dense(3)])
    assert training_only_layers(model) == ["RandomFlip", "RandomZoom", "GaussianNoise(0.1)", "SpatialDropout2D(0.3)",
                                           "Dropout(0.5)"]
    assert training_only_layers(keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])) == []


def test_activation_is_read_from_the_config_not_the_name():
    assert activation_of(keras.layers.Dense(3, activation="softmax", name="hidden_relu")) == "softmax"
    assert activation_of(keras.layers.Activation("relu", name="softmax")) == "relu"
    assert activation_of(keras.layers.ReLU(negative_slope=0.1)) == "leaky_relu"


RELU_BEFORE_SOFTMAX = """
import keras


def build(hp, input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(num_classes, activation="relu", name="class_scores")(x)
    outputs = keras.layers.Activation("softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(hp["learning_rate"]), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


space = SearchSpace(name="relu_softmax", data="tiny.npz", model=build, stages=[Stage("learning_rate", [1e-2])],
                    epochs=2, batch_size=32)
"""


def test_relu_before_softmax_in_a_custom_builder_is_refused_before_training(write_space, tiny_npz, capsys):
    space = write_space(RELU_BEFORE_SOFTMAX)
    results = space.parent / "results"
    assert main(["run", str(space), "--results-dir", str(results)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and str(space) in err
    assert "[activation_before_output]" in err and "'class_scores' applies relu right before the softmax" in err
    assert "activation=None on 'class_scores'" in err and "nothing was trained" in err
    assert not results.exists() or not any(results.rglob("*"))  # no trial record, no manifest
