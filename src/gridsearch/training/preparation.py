"""`InputPreparation`: a trial's input preparation as a Keras layer, so a saved model takes raw images.

It applies grayscale, then `(x - offset) / scale` with the training split's statistics (a
`data.preparation.Normalizer`); the statistics are non-trainable weights of the saved model. Registered as
`gridsearch>InputPreparation` (no Python code in the saved file), so models saved before this module moved
here from serving/layers.py still load with `keras.saving.load_model(path, safe_mode=True)`.
"""
from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from gridsearch.data.preparation import Normalizer


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


def prepared_model(model: keras.Model, normalizer: Normalizer, raw_shape: tuple[int, ...],
                   name: str = "prepared") -> keras.Model:
    """`model` (which takes prepared inputs) behind its input preparation: a model of raw images."""
    inputs = keras.Input(shape=raw_shape, name="images")
    return keras.Model(inputs, model(InputPreparation.from_normalizer(normalizer)(inputs)), name=name)


def raw_image_model(model: keras.Model, normalizer: Normalizer, raw_shape: tuple[int, ...]) -> keras.Model:
    """The trained `model` behind its input preparation, compiled as `model` was: the saved winner, which
    takes raw images (what a user's own `predict` or `evaluate` gives it)."""
    wrapped = prepared_model(model, normalizer, raw_shape, name="winner")
    if model.compiled:
        wrapped.compile_from_config(model.get_compile_config())
    return wrapped
