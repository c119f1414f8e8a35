"""The built-in simple CNN, the optimizer and schedule factories, and builder lookup.

A builder has the signature `build(hp, input_shape, num_classes) -> compiled keras.Model`;
`hp` is the trial's full config, so user builders see every value too.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

Builder = Callable[[dict[str, Any], tuple[int, ...], int], keras.Model]


def make_optimizer(hp: dict[str, Any]) -> keras.optimizers.Optimizer:
    name, lr = hp.get("optimizer", "adam"), hp.get("learning_rate", 1e-3)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr)
    if name == "sgd_momentum":
        return keras.optimizers.SGD(learning_rate=lr, momentum=hp.get("momentum", 0.9))
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def head_and_loss(num_classes: int, binary_head: str = "sigmoid") -> tuple[int, str, str]:
    """Binary tasks: one sigmoid unit with binary cross-entropy (or, asked for, a 2-unit softmax);
    else softmax with sparse categorical cross-entropy."""
    if num_classes == 2 and binary_head == "sigmoid":
        return 1, "sigmoid", "binary_crossentropy"
    return num_classes, "softmax", "sparse_categorical_crossentropy"


def _activation(name: str) -> keras.layers.Layer:
    return keras.layers.LeakyReLU() if name == "leaky_relu" else keras.layers.Activation(name)


def _augmentation(hp: dict[str, Any]) -> list[keras.layers.Layer]:
    """Preprocessing layers that Keras runs in training only."""
    layers: list[keras.layers.Layer] = []
    if hp.get("augment_flip", "none") != "none":
        layers.append(keras.layers.RandomFlip(hp["augment_flip"]))
    if hp.get("augment_rotation", 0):
        layers.append(keras.layers.RandomRotation(hp["augment_rotation"]))
    if hp.get("augment_zoom", 0):
        layers.append(keras.layers.RandomZoom(hp["augment_zoom"]))
    if hp.get("augment_translation", 0):
        t = hp["augment_translation"]
        layers.append(keras.layers.RandomTranslation(t, t))
    return layers


def simple_cnn(hp: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """Conv blocks (conv [+BN] + activation + pool [+dropout]), then dense head; compiled."""
    regularizer = keras.regularizers.L2(hp["l2"]) if hp.get("l2", 0) else None
    init = hp.get("kernel_initializer", "glorot_uniform")
    if init == "truncated_normal":
        init = keras.initializers.TruncatedNormal(stddev=0.05)
    batch_norm, placement = hp.get("batch_norm", False), hp.get("batch_norm_placement", "each_conv")
    noise, noise_position = hp.get("noise", 0.0), hp.get("noise_position", "input")
    dropout = hp.get("dropout", 0.0)

    inputs = keras.Input(shape=input_shape)
    x = inputs
    for layer in _augmentation(hp):
        x = layer(x)
    if noise and noise_position == "input":
        x = keras.layers.GaussianNoise(noise)(x)
    size = min(input_shape[0], input_shape[1])
    for block in range(hp.get("conv_blocks", 2)):
        x = keras.layers.Conv2D(hp.get("filters", 32) * 2 ** block, hp.get("kernel_size", 3), padding="same",
                                kernel_initializer=init, kernel_regularizer=regularizer,
                                use_bias=not (batch_norm and placement == "each_conv"))(x)
        if batch_norm and placement == "each_conv":
            x = keras.layers.BatchNormalization()(x)
        x = _activation(hp.get("activation", "relu"))(x)
        if size >= 2:  # small inputs (8x8 digits) run out of room to pool: stop pooling, keep convolving
            x = keras.layers.MaxPooling2D()(x)
            size //= 2
        if batch_norm and placement == "first_pool" and block == 0:
            x = keras.layers.BatchNormalization()(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Flatten()(x)
    if hp.get("dense_units", 64):
        x = keras.layers.Dense(hp["dense_units"], kernel_initializer=init, kernel_regularizer=regularizer)(x)
        x = _activation(hp.get("activation", "relu"))(x)
    if noise and noise_position == "head":
        x = keras.layers.GaussianNoise(noise)(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    units, activation, loss = head_and_loss(num_classes, hp.get("binary_head", "sigmoid"))
    # float32 under a mixed_float16 policy too: a float16 softmax and loss lose the small probabilities
    outputs = keras.layers.Dense(units, activation=activation, kernel_regularizer=regularizer, dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="simple_cnn")
    model.compile(optimizer=make_optimizer(hp), loss=loss, metrics=["accuracy"])
    return model


BUILTIN_BUILDERS: dict[str, Builder] = {"simple_cnn": simple_cnn}


def resolve_builder(model: str | Builder) -> Builder:
    return model if callable(model) else BUILTIN_BUILDERS[model]
