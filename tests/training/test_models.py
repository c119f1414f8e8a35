"""The built-in CNN: every tunable family really changes the model, and each variant trains an epoch."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from gridsearch.space.hyperparams import builtin_defaults
from gridsearch.training.fit import class_weights
from gridsearch.training.models import simple_cnn

X = np.random.default_rng(0).random((32, 8, 8, 1)).astype("float32")
Y = np.arange(32) % 4


def _build(num_classes: int = 4, **overrides) -> keras.Model:
    keras.backend.clear_session()
    return simple_cnn({**builtin_defaults(), **overrides}, (8, 8, 1), num_classes)


def _layers(model: keras.Model, kind: type) -> list:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def _trains(model: keras.Model, y=Y) -> None:
    history = model.fit(X, y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("name, cls, extra", [
    ("adam", keras.optimizers.Adam, {}),
    ("rmsprop", keras.optimizers.RMSprop, {}),
    ("sgd", keras.optimizers.SGD, {}),
    ("adagrad", keras.optimizers.Adagrad, {}),
])
def test_optimizer_and_learning_rate(name, cls, extra):
    model = _build(optimizer=name, learning_rate=0.05)
    assert type(model.optimizer) is cls
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    _trains(model)


def test_sgd_momentum_takes_its_momentum():
    model = _build(optimizer="sgd_momentum", momentum=0.7)
    assert isinstance(model.optimizer, keras.optimizers.SGD) and model.optimizer.momentum == pytest.approx(0.7)
    assert _build(optimizer="sgd").optimizer.momentum == 0


@pytest.mark.parametrize("placement, expected", [("each_conv", 2), ("first_pool", 1)])
def test_batch_norm_placement(placement, expected):
    assert len(_layers(_build(batch_norm=True, batch_norm_placement=placement), keras.layers.BatchNormalization)) == expected
    assert not _layers(_build(batch_norm=False), keras.layers.BatchNormalization)
    _trains(_build(batch_norm=True, batch_norm_placement=placement))


def test_l2_regularizes_conv_and_dense_kernels():
    model = _build(l2=1e-3)
    kernels = _layers(model, keras.layers.Conv2D) + _layers(model, keras.layers.Dense)
    assert kernels and all(layer.kernel_regularizer.l2 == pytest.approx(1e-3) for layer in kernels)
    assert all(layer.kernel_regularizer is None for layer in _layers(_build(l2=0.0), keras.layers.Dense))
    _trains(model)


def test_dropout_after_each_block_and_before_the_head():
    model = _build(dropout=0.3, conv_blocks=2)
    rates = [layer.rate for layer in _layers(model, keras.layers.Dropout)]
    assert rates == [0.3, 0.3, 0.3]
    _trains(model)


@pytest.mark.parametrize("position", ["input", "head"])
def test_gaussian_noise_position(position):
    model = _build(noise=0.2, noise_position=position)
    noise = _layers(model, keras.layers.GaussianNoise)
    assert len(noise) == 1 and noise[0].stddev == pytest.approx(0.2)
    first_conv = model.layers.index(_layers(model, keras.layers.Conv2D)[0])
    assert (model.layers.index(noise[0]) < first_conv) == (position == "input")


def test_architecture_knobs():
    model = _build(filters=4, conv_blocks=3, kernel_size=5, dense_units=12)
    convs = _layers(model, keras.layers.Conv2D)
    assert [c.filters for c in convs] == [4, 8, 16] and convs[0].kernel_size == (5, 5)
    assert _layers(model, keras.layers.Dense)[0].units == 12
    assert len(_layers(_build(dense_units=0), keras.layers.Dense)) == 1  # only the head
    _trains(model)


@pytest.mark.parametrize("activation", ["relu", "elu", "tanh", "leaky_relu"])
def test_activation(activation):
    model = _build(activation=activation)
    if activation == "leaky_relu":
        assert _layers(model, keras.layers.LeakyReLU)
    else:
        assert any(getattr(layer, "activation", None) is keras.activations.get(activation)
                   for layer in _layers(model, keras.layers.Activation))


@pytest.mark.parametrize("name, cls", [("he_normal", keras.initializers.HeNormal),
                                       ("he_uniform", keras.initializers.HeUniform),
                                       ("glorot_uniform", keras.initializers.GlorotUniform),
                                       ("truncated_normal", keras.initializers.TruncatedNormal)])
def test_kernel_initializer(name, cls):
    assert isinstance(_layers(_build(kernel_initializer=name), keras.layers.Conv2D)[0].kernel_initializer, cls)


def test_augmentation_layers_are_present_and_inactive_at_inference():
    model = _build(augment_flip="horizontal", augment_rotation=0.1, augment_zoom=0.1, augment_translation=0.1)
    kinds = {type(layer) for layer in model.layers}
    assert {keras.layers.RandomFlip, keras.layers.RandomRotation, keras.layers.RandomZoom,
            keras.layers.RandomTranslation} <= kinds
    np.testing.assert_allclose(model(X[:4], training=False), model(X[:4], training=False))
    _trains(model)


def test_binary_task_uses_one_sigmoid_unit_and_binary_crossentropy():
    model = _build(num_classes=2)
    head = model.layers[-1]
    assert head.units == 1 and head.activation is keras.activations.sigmoid
    assert model.loss == "binary_crossentropy"
    _trains(model, y=Y % 2)
    multi = _build(num_classes=4)
    assert multi.layers[-1].units == 4 and multi.loss == "sparse_categorical_crossentropy"


def test_binary_head_can_be_overridden_to_a_two_unit_softmax():
    model = _build(num_classes=2, binary_head="softmax")
    head = model.layers[-1]
    assert head.units == 2 and head.activation is keras.activations.softmax
    assert model.loss == "sparse_categorical_crossentropy"
    _trains(model, y=Y % 2)
    assert _build(num_classes=4, binary_head="softmax").layers[-1].units == 4  # only 2-class tasks change


def test_balanced_class_weights():
    y = np.array([0] * 30 + [1] * 10)
    weights = class_weights({"class_weight": "balanced"}, y)
    assert weights[1] == pytest.approx(3 * weights[0])
    assert class_weights({"class_weight": "none"}, y) is None
