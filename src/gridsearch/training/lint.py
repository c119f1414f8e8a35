"""Model lint: output-layer and loss mistakes that no hyperparameter can fix, found before any training.

Built-in and user builders alike are read the same way: activations from the layers' configs and
the loss from the compiled loss (its function and its `from_logits`), never from names (UMLAUT
tested the layer name and missed `Dense(..., activation="softmax")`). Every rule returns a Finding,
"ok" ones included; an error names the layer and the fix and stops the run before training
(search.py), a doubtful case is a warning.

| rule | error | warning |
|---|---|---|
| output_units | output width is not C (or 1 or 2 for two classes) | |
| output_activation | softmax on 1 unit, sigmoid on several, relu/tanh/... as output | a custom function |
| activation_before_output | relu/relu6 (non-negative logits) or sigmoid/tanh/softsign (bounded logits) right before the softmax/sigmoid | any other non-linear activation, or a custom one |
| loss_output | a linear output with from_logits=False; softmax/sigmoid with from_logits=True | |
| loss_labels | a loss that does not fit the labels (one-hot vs integer) or the output width; a regression loss on integer labels and several outputs | a regression loss on one-hot labels or one unit |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

ERROR, WARNING, OK = "error", "warning", "ok"

PROBABILITY_OUTPUTS = ("softmax", "sigmoid")
# Right before the output activation, these make the logits non-negative (ReLU: a sigmoid output is then >= 0.5
# and negative logits die) or bounded (sigmoid/tanh: a 10-class softmax of logits in [-1, 1] is at most 0.45).
BROKEN_BEFORE_OUTPUT = ("relu", "relu6", "sigmoid", "tanh", "hard_sigmoid", "hard_tanh", "softsign")
INTEGER_LABEL_LOSSES = ("sparse_categorical_crossentropy",)
ONE_HOT_LOSSES = ("categorical_crossentropy", "categorical_focal_crossentropy", "kl_divergence", "categorical_hinge")
BINARY_LOSSES = ("binary_crossentropy", "binary_focal_crossentropy")
CROSS_ENTROPY = INTEGER_LABEL_LOSSES + ONE_HOT_LOSSES[:2] + BINARY_LOSSES  # the losses that take from_logits


@dataclass(frozen=True)
class Finding:
    check: str  # e.g. "inputs_not_scaled"
    severity: str  # ERROR (the search is pointless: stop) | WARNING | OK
    message: str  # what was seen, with numbers, and what to do


def activation_of(layer: keras.layers.Layer) -> str:
    """The layer's activation from its config: 'linear' when it has none, 'custom' for a user function."""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    config = layer.get_config()
    if isinstance(layer, keras.layers.ReLU):  # ReLU(negative_slope=0.1) is a leaky ReLU: it never dies
        return "relu" if not config.get("negative_slope") else "leaky_relu"
    if isinstance(layer, keras.layers.LeakyReLU):
        return "leaky_relu"
    activation = config.get("activation", "linear")
    return activation if isinstance(activation, str) else "custom"  # a user function serializes to a dict


def flat_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers in order, nested models opened up (a Sequential block inside a functional model)."""
    layers = []
    for layer in model.layers:
        layers.extend(flat_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return layers


_NOISE_LAYERS = (keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.AlphaDropout,
                 keras.layers.GaussianNoise)  # SpatialDropout* are Dropout subclasses


def training_only_layers(model: keras.Model) -> list[str]:
    """The layers that act only in training (dropout, noise, Random* augmentation), as "Dropout(0.2)": they make
    the train accuracy Keras logs lower than the val accuracy, which the diagnosis then need not call a fault."""
    found = []
    for layer in flat_layers(model):
        if isinstance(layer, _NOISE_LAYERS):
            strength = getattr(layer, "rate", getattr(layer, "stddev", None))
            if strength:
                found.append(f"{type(layer).__name__}({strength:g})")
        elif type(layer).__name__.startswith("Random"):  # Keras' augmentation layers: RandomFlip, RandomZoom ...
            found.append(type(layer).__name__)
    return found


def from_logits(model: keras.Model) -> bool:
    """Whether the compiled loss takes logits (a loss given as a string or a function never does)."""
    config = getattr(model.loss, "get_config", dict)()
    return bool(config.get("from_logits", False))


def predicted_classes(model: keras.Model, outputs: Any) -> np.ndarray:
    """Class ids from a model's outputs: one sigmoid unit (or one logit) thresholded, else the argmax."""
    outputs = np.asarray(outputs)
    if outputs.shape[-1] == 1:
        return (outputs[:, 0] > (0.0 if from_logits(model) else 0.5)).astype(int)
    return outputs.argmax(axis=1)


def loss_name(model: keras.Model) -> str | None:
    """The compiled loss's function name (`keras.losses.get` resolves aliases such as 'mse'); None if not compiled."""
    loss = model.loss
    if loss is None:
        return None
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:
            return loss
    function = getattr(loss, "fn", loss)  # a Loss object wraps the function it computes
    return getattr(function, "__name__", type(loss).__name__)


@dataclass(frozen=True)
class _Head:
    """The output end of a model: the layer applying the output activation, and what feeds it."""

    width: int
    output: keras.layers.Layer  # the last layer that weighs or activates
    activation: str  # the output activation
    before: keras.layers.Layer | None  # the layer whose output the activation layer receives, if it is a layer of its own


def _head(model: keras.Model) -> _Head:
    # Dropout, Flatten, Reshape, noise ... neither weigh nor activate: look through them
    layers = [layer for layer in flat_layers(model) if layer.weights or activation_of(layer) != "linear"]
    layers = layers or flat_layers(model)[-1:]
    final = layers[-1]
    before = layers[-2] if not final.weights and len(layers) > 1 else None  # an Activation/Softmax layer of its own
    return _Head(int(model.output_shape[-1]), final, activation_of(final), before)


def lint_model(model: keras.Model, num_classes: int, *, one_hot_labels: bool = False) -> list[Finding]:
    """Every lint rule on a built, compiled model, before any training; `one_hot_labels` says what y will be
    (gridsearch itself always passes integer labels 0..C-1)."""
    if model.loss is None:
        return [Finding("compiled", ERROR, "the model is not compiled: the builder must call "
                        "model.compile(optimizer=..., loss=..., metrics=['accuracy']) before returning it")]
    head = _head(model)
    return [_output_units(head, num_classes), _output_activation(head, model), _activation_before_output(head),
            _loss_output(head, model), _loss_labels(head, model, num_classes, one_hot_labels)]


def _output_units(head: _Head, num_classes: int) -> Finding:
    allowed = (1, 2) if num_classes == 2 else (num_classes,)
    if head.width not in allowed:
        return Finding("output_units", ERROR, f"the output layer {head.output.name!r} gives {head.width} values per "
                       f"sample for {num_classes} classes: give it {' or '.join(map(str, allowed))} units")
    return Finding("output_units", OK, f"{head.width} output unit(s) for {num_classes} classes")


def _output_activation(head: _Head, model: keras.Model) -> Finding:
    name, activation = head.output.name, head.activation
    if activation == "softmax" and head.width == 1:
        return Finding("output_activation", ERROR, f"the output layer {name!r} applies softmax to 1 unit, which is "
                       "always 1.0: nothing can be learned; use sigmoid on 1 unit (binary_crossentropy) or softmax on "
                       "2 units")
    if activation == "sigmoid" and head.width > 1:
        return Finding("output_activation", ERROR, f"the output layer {name!r} applies sigmoid to {head.width} units: "
                       f"independent yes/no outputs that do not sum to 1, not one class of {head.width} (loss "
                       f"{loss_name(model)}); use softmax with sparse_categorical_crossentropy")
    if activation == "custom":  # a user function may be a softmax in disguise
        return Finding("output_activation", WARNING, f"the output layer {name!r} has a custom activation: make sure it "
                       "outputs class probabilities (softmax), or use a linear output with from_logits=True")
    if activation not in PROBABILITY_OUTPUTS + ("linear",):
        expected = "sigmoid" if head.width == 1 else "softmax"
        return Finding("output_activation", ERROR, f"the output layer {name!r} applies {activation}, which gives no "
                       f"class probabilities: use activation='{expected}' (or a linear output with from_logits=True)")
    return Finding("output_activation", OK, f"{activation} output on {head.width} unit(s)")


def _activation_before_output(head: _Head) -> Finding:
    if head.before is None or head.activation not in PROBABILITY_OUTPUTS:
        return Finding("activation_before_output", OK, "no activation between the last layer and the output activation")
    name, activation = head.before.name, activation_of(head.before)
    fix = (f"remove it (activation=None on {name!r}), so that the {head.activation} gets unbounded logits")
    if activation in BROKEN_BEFORE_OUTPUT:
        why = "non-negative" if activation.startswith("relu") else "bounded"
        return Finding("activation_before_output", ERROR, f"layer {name!r} applies {activation} right before the "
                       f"{head.activation} of {head.output.name!r}: its logits are {why}, so the model cannot become "
                       f"confident (or learn at all); {fix}")
    if activation != "linear":
        return Finding("activation_before_output", WARNING, f"layer {name!r} applies {activation} right before the "
                       f"{head.activation} of {head.output.name!r}: logits are usually linear; {fix}")
    return Finding("activation_before_output", OK, f"linear logits from {name!r} into the {head.activation}")


def _loss_output(head: _Head, model: keras.Model) -> Finding:
    loss, logits = loss_name(model), from_logits(model)
    if loss not in CROSS_ENTROPY or head.activation == "custom":
        return Finding("loss_output", OK, f"loss {loss} with a {head.activation} output: not a from_logits question")
    if head.activation == "linear" and not logits:
        expected = "sigmoid" if head.width == 1 else "softmax"
        return Finding("loss_output", ERROR, f"the output layer {head.output.name!r} is linear (logits) but the loss "
                       f"{loss} expects probabilities: use activation='{expected}' on it, or the loss with "
                       "from_logits=True")
    if head.activation in PROBABILITY_OUTPUTS and logits:
        return Finding("loss_output", ERROR, f"the output layer {head.output.name!r} applies {head.activation} and the "
                       f"loss {loss} has from_logits=True, so the {head.activation} is applied twice and the model "
                       f"cannot become confident: drop from_logits=True, or make {head.output.name!r} linear")
    return Finding("loss_output", OK, f"{head.activation} output with {loss}(from_logits={logits})")


def _loss_labels(head: _Head, model: keras.Model, num_classes: int, one_hot: bool) -> Finding:
    loss = loss_name(model)
    labels = f"one-hot labels of {num_classes} columns" if one_hot else f"integer labels 0..{num_classes - 1}"
    if loss in INTEGER_LABEL_LOSSES:
        if one_hot:
            return Finding("loss_labels", ERROR, f"{loss} expects integer labels, the data has {labels}: use "
                           "categorical_crossentropy, or integer labels")
        if head.width == 1:
            return Finding("loss_labels", ERROR, f"{loss} on the 1 unit of {head.output.name!r}: it needs one unit "
                           "per class; use binary_crossentropy with one sigmoid unit, or 2 softmax units")
    elif loss in ONE_HOT_LOSSES:
        if not one_hot:
            return Finding("loss_labels", ERROR, f"{loss} expects one-hot labels, gridsearch passes {labels}: use "
                           "sparse_categorical_crossentropy")
    elif loss in BINARY_LOSSES:
        if num_classes > 2 or head.width > 1:
            return Finding("loss_labels", ERROR, f"{loss} with {num_classes} classes on {head.width} unit(s) of "
                           f"{head.output.name!r}: it is for two classes on one sigmoid unit; use "
                           "sparse_categorical_crossentropy with softmax on one unit per class")
    elif loss in {function.__name__ for function in (keras.losses.mean_squared_error,
                                                     keras.losses.mean_absolute_error, keras.losses.hinge,
                                                     keras.losses.squared_hinge, keras.losses.poisson,
                                                     keras.losses.huber, keras.losses.log_cosh)}:
        if not one_hot and head.width > 1:  # (n, 1) integer labels broadcast against the (n, C) outputs
            return Finding("loss_labels", ERROR, f"{loss} compares the class index (0..{num_classes - 1}) with each "
                           f"of the {head.width} outputs of {head.output.name!r}: no setting makes that learn the "
                           "classes; use sparse_categorical_crossentropy")
        return Finding("loss_labels", WARNING, f"{loss} is a regression loss, the labels are classes: use "
                       "sparse_categorical_crossentropy (binary_crossentropy for one sigmoid unit)")
    else:
        return Finding("loss_labels", OK, f"custom loss {loss}: not checked against the labels")
    return Finding("loss_labels", OK, f"{loss} fits {labels} on {head.width} unit(s)")
