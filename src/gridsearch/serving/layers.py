"""Two small Keras layers that make a saved model self-contained: raw images in, calibrated probabilities out.

`InputPreparation` (defined in training/preparation.py, re-exported here) applies a trial's input preparation (grayscale, then `(x - offset) / scale` with the
training split's statistics) inside the model, so ensemble.keras and calibrated.keras take the raw
images a user has, and each member of an ensemble keeps its own preparation. `TemperatureScaling`
divides the log-probabilities by a fitted temperature and renormalises. Both are registered
serializable layers (no Python code in the saved file), so `keras.saving.load_model(path,
safe_mode=True)` loads them once this module is imported; `gridsearch.load_ensemble` does that.
"""
from __future__ import annotations

from typing import Any

import keras
from keras import ops

from gridsearch.serving.probabilities import PROBABILITY_FLOOR
from gridsearch.training.preparation import InputPreparation, prepared_model

__all__ = ["InputPreparation", "TemperatureScaling", "prepared_model", "with_temperature"]


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


def with_temperature(model: keras.Model, temperature: float, name: str = "calibrated") -> keras.Model:
    """`model` followed by its temperature: `predict` gives calibrated probabilities."""
    inputs = keras.Input(shape=model.input_shape[1:], name="images")
    return keras.Model(inputs, TemperatureScaling(temperature)(model(inputs)), name=name)
