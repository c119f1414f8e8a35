"""Pre-flight checks: one positive and one negative case per check, on small synthetic arrays."""
from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from gridsearch.search.preflight import (
    ERROR,
    OK,
    OVERFIT_MIN_PASSES,
    OVERFIT_PASSES,
    OVERFIT_SAMPLES,
    OVERFIT_SHORT_SAMPLES,
    WARNING,
    Finding,
    check_can_overfit,
    check_data,
    check_model,
    overfit_budget,
)

X = np.random.default_rng(0).uniform(0, 1, size=(60, 8)).astype("float32")
X_VAL = np.random.default_rng(1).uniform(0, 1, size=(15, 8)).astype("float32")
Y = np.random.default_rng(2).permutation(np.repeat([0, 1, 2], 20))
PIXELS = np.where(X == X.max(), 255, np.round(X * 255))  # 0-255 images, 255 included


def finding(findings: list[Finding], check: str) -> Finding:
    (match,) = [f for f in findings if f.check == check]
    return match


def clean() -> dict:
    return {"x_train": X, "y_train": Y, "x_val": X_VAL, "y_val": np.repeat([0, 1, 2], 5), "raw_order_y": Y}


def test_clean_data_passes_every_check():
    findings = check_data(**clean())
    assert {f.check for f in findings} == {"non_finite_inputs", "inputs_not_scaled", "constant_features",
                                           "label_format", "rare_class", "class_imbalance", "train_val_overlap",
                                           "val_classes", "labels_sorted"}
    assert all(f.severity == OK for f in findings), findings


def with_x(x: np.ndarray) -> dict:
    return {**clean(), "x_train": x}


def with_y(y: np.ndarray) -> dict:
    return {**clean(), "y_train": y, "y_val": None, "raw_order_y": None}


def x_with(value: float, where=(3, 2)) -> np.ndarray:
    x = X.copy()
    x[where] = value
    return x


def x_constant(columns) -> np.ndarray:
    x = X.copy()
    x[:, columns] = 0.0
    return x


def counts_y(*counts: int) -> np.ndarray:
    return np.random.default_rng(3).permutation(np.repeat(np.arange(len(counts)), counts))


DATA_CASES = [  # (id, check_data kwargs, check, severity, message pattern)
    ("nan in x_train", with_x(x_with(np.nan)), "non_finite_inputs", ERROR, r"1 in x_train"),
    ("inf in x_val", {**clean(), "x_val": np.full((5, 8), np.inf)}, "non_finite_inputs", ERROR, r"40 in x_val"),
    ("0-255 pixels", with_x(PIXELS), "inputs_not_scaled", WARNING, r"0 to 255: scale them to \[0, 1\]"),
    ("standardized inputs", with_x((X - 0.5) * 8), "inputs_not_scaled", OK, r"from -4"),
    ("two constant features", with_x(x_constant([0, 5])), "constant_features", WARNING, r"2 of 8 .* \(25%\)"),
    ("all features constant", with_x(np.ones_like(X)), "constant_features", ERROR, r"all 8 .* are constant"),
    ("one-hot labels", with_y(np.eye(3)[Y]), "label_format", OK, r"one-hot labels for 3 classes"),
    ("soft labels", with_y(np.full((60, 3), 1 / 3)), "label_format", ERROR, r"not one-hot"),
    ("regression targets", with_y(Y + 0.5), "label_format", ERROR, r"not whole numbers \(e\.g\. \d\.5\)"),
    ("string labels", with_y(np.array(["cat", "dog", "owl"])[Y]), "label_format", OK, r"3 classes of string labels"),
    ("a class of one sample", with_y(counts_y(30, 29, 1)), "rare_class", ERROR, r"class \(2\) has 1 samples"),
    ("a class of two samples", with_y(counts_y(30, 28, 2)), "rare_class", WARNING, r"has 2 samples: fewer than 3"),
    ("three per class is enough", with_y(counts_y(30, 27, 3)), "rare_class", OK, r"has 3 samples"),
    ("one-hot column nobody has", with_y(np.eye(4)[Y]), "rare_class", ERROR, r"class \(3\) has 0 samples"),
    ("imbalance 11:1", with_y(counts_y(55, 5)), "class_imbalance", WARNING, r"ratio 11\.0\).*92% accuracy"),
    ("imbalance 10:1", with_y(counts_y(50, 5, 5)), "class_imbalance", OK, r"ratio 10\.0"),
    ("validation copies training rows", {**clean(), "x_val": X[:15]}, "train_val_overlap", WARNING, r"15 of 15"),
    ("validation lacks a class", {**clean(), "y_val": np.repeat([0, 1], 8)[:15]}, "val_classes", WARNING,
     r"no samples of \[2\]"),
    ("validation has an unseen class", {**clean(), "y_val": np.repeat([0, 1, 2, 3], 4)[:15]}, "val_classes",
     WARNING, r"labels \[3\] never occur in training"),
    ("validation of another shape", {**clean(), "x_val": X[:15, :4]}, "train_val_overlap", ERROR, r"differ in shape"),
    ("labels sorted by class", {**clean(), "raw_order_y": np.sort(Y)}, "labels_sorted", WARNING,
     r"3 contiguous blocks for 3 classes.*class\(es\) \[2\] only.*shuffled and stratified"),
    ("two blocks per class", {**clean(), "raw_order_y": np.tile(np.repeat([0, 1, 2], 10), 2)}, "labels_sorted",
     WARNING, r"6 contiguous blocks.*class\(es\) \[1, 2\] only"),
    ("small blocks, every class at the end", {**clean(), "raw_order_y": np.tile(np.repeat([0, 1, 2], 4), 5)},
     "labels_sorted", OK, r"15 contiguous blocks"),
]


@pytest.mark.parametrize("kwargs, check, severity, pattern", [c[1:] for c in DATA_CASES],
                         ids=[c[0] for c in DATA_CASES])
def test_data_check(kwargs, check, severity, pattern):
    result = finding(check_data(**kwargs), check)
    assert result.severity == severity, result
    assert re.search(pattern, result.message), result.message


def dense(*layers: keras.layers.Layer, loss="sparse_categorical_crossentropy", lr: float = 0.05) -> keras.Model:
    model = keras.Sequential([keras.Input((8,)), *layers])
    model.compile(keras.optimizers.Adam(lr), loss)
    return model


def softmax_model(**kwargs) -> keras.Model:
    return dense(keras.layers.Dense(32, activation="relu"), keras.layers.Dense(3, activation="softmax"), **kwargs)


def huge_weights() -> keras.Model:
    init = keras.initializers.RandomNormal(stddev=30.0, seed=0)
    return dense(keras.layers.Dense(3, activation="softmax", kernel_initializer=init))


MODEL_CASES = [  # (id, model factory, num_classes, check, severity, message pattern); lint rules: test_lint.py
    ("the output layer is linted", lambda: dense(keras.layers.Dense(3)), 3, "loss_output", ERROR,
     r"'dense(_\d+)?' is linear \(logits\)"),
    ("normal initial loss", softmax_model, 3, "initial_loss", OK, r"untrained loss .* vs ln\(3\) = 1\.1"),
    ("huge initial weights", huge_weights, 3, "initial_loss", WARNING, r"limit 2x\): initialisation or labels"),
]


@pytest.mark.parametrize("factory, num_classes, check, severity, pattern", [c[1:] for c in MODEL_CASES],
                         ids=[c[0] for c in MODEL_CASES])
def test_model_check(factory, num_classes, check, severity, pattern):
    y = Y if num_classes != 2 else (Y > 0).astype("int64")
    result = finding(check_model(factory(), X[:32], y[:32], num_classes), check)
    assert result.severity == severity, result
    assert re.search(pattern, result.message), result.message


def test_non_finite_initial_loss_is_an_error():
    result = finding(check_model(softmax_model(), x_with(np.inf, (slice(None), 0))[:32], Y[:32], 3), "initial_loss")
    assert result.severity == ERROR and "untrained loss nan" in result.message


# Inputs the labels follow: class = which third of feature 0 the sample is in.
X_LEARN = np.random.default_rng(4).uniform(0, 1, size=(64, 8)).astype("float32")
Y_LEARN = np.digitize(X_LEARN[:, 0], [1 / 3, 2 / 3])
# Every input twice, with two different labels: at most half can be fitted (chance is about 1/3).
X_CONTRADICTING = np.concatenate([X_LEARN[:32], X_LEARN[:32]])
Y_CONTRADICTING = np.concatenate([Y_LEARN[:32], (Y_LEARN[:32] + 1) % 3])


OVERFIT_CASES = [  # (id, learning rate, x, y, epochs, severity, pattern)
    ("a working model", 0.05, X_LEARN, Y_LEARN, 60, OK, r"60 passes over 64 samples: .* 1\.00"),
    ("learning rate 0", 0.0, X_LEARN, Y_LEARN, 3, ERROR, r"chance is 0\.\d\d \(the largest class's share of these \d+ samples: .*\): the model learns nothing"),
    ("contradicting labels", 0.05, X_CONTRADICTING, Y_CONTRADICTING, 30, WARNING, r"contradict"),
]


@pytest.mark.parametrize("lr, x, y, epochs, severity, pattern", [c[1:] for c in OVERFIT_CASES],
                         ids=[c[0] for c in OVERFIT_CASES])
def test_can_overfit(lr, x, y, epochs, severity, pattern):
    keras.utils.set_random_seed(0)
    result = check_can_overfit(lambda: softmax_model(lr=lr), x, y, samples=64, epochs=epochs)
    assert result.check == "can_overfit" and result.severity == severity, result
    assert re.search(pattern, result.message), result.message


def test_the_overfit_check_is_full_on_small_inputs_and_one_short_batch_on_large_ones():
    assert overfit_budget(1257, 64) == (OVERFIT_SAMPLES, OVERFIT_PASSES, "")  # digits: 8x8 inputs
    samples, passes, why = overfit_budget(3240, 160 * 160 * 3)  # the scale benchmark's 4,500-image folder
    assert (samples, passes) == (OVERFIT_SHORT_SAMPLES, OVERFIT_MIN_PASSES) and "2.5% of an epoch" in why
    assert overfit_budget(100_000, 160 * 160 * 3)[1] == OVERFIT_PASSES  # capped at the full check's passes


def test_a_shortened_check_on_one_small_batch_still_sees_a_model_that_learns_nothing():
    keras.utils.set_random_seed(0)
    result = check_can_overfit(lambda: softmax_model(lr=0.0), X_LEARN, Y_LEARN, samples=OVERFIT_SHORT_SAMPLES,
                               epochs=OVERFIT_MIN_PASSES, shortened="for the test")
    assert result.severity == WARNING and "too short a check to tell a broken model" in result.message, result
    assert "10 passes over 8 samples (for the test)" in result.message
