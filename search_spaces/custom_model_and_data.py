"""A space with its own model builder and its own data loader.

The builder receives every hyperparameter of the trial in `hp` (its own names are
declared in `defaults`, so they are validated like the built-in ones) and returns a
compiled model. The loader returns numpy arrays; here: the digits as a binary task,
"seven" vs "other", with string labels.
"""
import keras
import numpy as np
from sklearn.datasets import load_digits

from gridsearch import SearchSpace, Stage


def load_sevens():
    digits = load_digits()
    labels = np.where(digits.target == 7, "seven", "other")
    return digits.images, labels


def tiny_cnn(hp, input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(hp["width"], 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(hp["dropout"])(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)  # two classes: one sigmoid unit
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(hp["learning_rate"]),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


space = SearchSpace(
    name="sevens_custom",
    data=load_sevens,
    model=tiny_cnn,
    defaults={"width": 16, "learning_rate": 1e-2, "dropout": 0.0},
    stages=[
        Stage("learning_rate", [1e-2, 1e-3]),
        Stage({"width": [8, 16], "dropout": [0.0, 0.3]}),  # a joint grid: 4 points
    ],
    epochs=8,
    batch_size=64,
)
