"""Two small Keras layers that make a saved model self-contained: raw images in, calibrated probabilities out.

`InputPreparation` applies a trial's input preparation (grayscale, then `(x - offset) / scale` with the
training split's statistics) inside the model, so ensemble.keras and calibrated.keras take the raw
images a user has, and each member of an ensemble keeps its own preparation. `TemperatureScaling`
divides the log-probabilities by a fitted temperature and renormalises. Both are registered
serializable layers (no Python code in the saved file), so `keras.saving.load_model(path,
safe_mode=True)` loads them once this module is imported; `gridsearch.load_ensemble` does that.
"""
from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from gridsearch.data.dataset import Normalizer
from gridsearch.serving.probabilities import PROBABILITY_FLOOR


@keras.saving.register_keras_serializable(package="gridsearch")
class InputPreparation(keras.layers.Layer):
    """`Normalizer.__call__` as a layer: the statistics are (non-trainable) weights of the saved model."""

    def __init__(self, grayscale: bool = False, offset_shape: tuple[int, ...] = (),
                 scale_shape: tuple[int, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.grayscale = bool(grayscale)
        self.offset_shape, self.scale_shape = tuple(offset_shape), tuple(scale_shape)
        self.offset = self.add_weight(shape=self.offset_shape, initializer="zeros", trainable=False, name="offset")
        self.scale = self.add_weight(shape=self.scale_shape, initializer="ones", trainable=False, name="scale")

    @classmethod
    def from_normalizer(cls, normalizer: Normalizer, **kwargs: Any) -> InputPreparation:
        offset, scale = (np.asarray(v, dtype="float32") for v in (normalizer.offset, normalizer.scale))
        layer = cls(normalizer.grayscale, offset.shape, scale.shape, **kwargs)
        layer.offset.assign(offset)
        layer.scale.assign(scale)
        return layer

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        if self.grayscale:
            x = ops.mean(x, axis=-1, keepdims=True)
        return (x - self.offset) / self.scale

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1) if self.grayscale else tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "grayscale": self.grayscale, "offset_shape": list(self.offset_shape),
                "scale_shape": list(self.scale_shape)}


@keras.saving.register_keras_serializable(package="gridsearch")
class TemperatureScaling(keras.layers.Layer):
    """Rescale a classifier's probabilities by a temperature T (Guo et al. 2017).

    Softmax outputs: softmax(log p / T). A single sigmoid unit: sigmoid(logit(p) / T), which is the
    same formula on the two columns (1 - p, p). T > 1 softens overconfident probabilities; the
    arg max, hence the accuracy, never changes.
    """

    def __init__(self, temperature: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.temperature = float(temperature)

    def call(self, inputs):
        if inputs.shape[-1] == 1:
            p = ops.clip(inputs, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
            return ops.sigmoid((ops.log(p) - ops.log(1.0 - p)) / self.temperature)
        return ops.softmax(ops.log(ops.maximum(inputs, PROBABILITY_FLOOR)) / self.temperature, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "temperature": self.temperature}


def prepared_model(model: keras.Model, normalizer: Normalizer, raw_shape: tuple[int, ...],
                   name: str = "prepared") -> keras.Model:
    """`model` (which takes prepared inputs) behind its input preparation: a model of raw images."""
    inputs = keras.Input(shape=raw_shape, name="images")
    return keras.Model(inputs, model(InputPreparation.from_normalizer(normalizer)(inputs)), name=name)


def with_temperature(model: keras.Model, temperature: float, name: str = "calibrated") -> keras.Model:
    """`model` followed by its temperature: `predict` gives calibrated probabilities."""
    inputs = keras.Input(shape=model.input_shape[1:], name="images")
    return keras.Model(inputs, TemperatureScaling(temperature)(model(inputs)), name=name)
