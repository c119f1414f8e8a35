"""Signals beyond the epoch curves, measured on one fixed probe batch at the end of every epoch.

AUTOTRAINER and DeepDiagnosis look at the gradients, weights and activations of one fixed
batch (the first `batch_size` training rows); here the batch is a seeded random draw of
PROBE_SAMPLES training samples, chosen once per trial. Per epoch and per layer it records:
- the gradient of the loss w.r.t. each trainable kernel (L2 norm and mean |g|);
- the update-to-weight ratio ||W_now - W_before|| / ||W_before|| over the epoch;
- for ReLU layers the share of units that never activate (output <= 0 for every sample and
  position); for sigmoid/tanh layers the share of units saturated (output at an asymptote for
  nearly every sample and position). The activation is read from the layer's config, never its name;
- the untrained loss on the probe batch and the first epoch's loss, against ln C.
The forward pass runs with training=False: no dropout, no noise, no batch-norm statistics or
random state are touched, so a probed trial trains exactly as an unprobed one.
The stats are compact (a few numbers per layer and epoch) and plain JSON: `diagnosis` judges them.
"""
from __future__ import annotations

import math
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from gridsearch.training.lint import activation_of, flat_layers

PROBE_SAMPLES = 64  # AUTOTRAINER and DeepDiagnosis probe one batch; 64 keeps the overhead under 5 % (measured)
PROBE_SEED = 0  # the probe batch is the same for every trial of a run, so trials compare at the same epoch
SATURATION_PREACTIVATION = 5.0  # DeepDiagnosis: a sigmoid/tanh input with |x| >= 5 is saturated
SATURATED_SAMPLE_SHARE = 0.95  # "nearly every sample": TheDeepChecker judges a unit by its 95th percentile
# Input values the probe passes through its tape at once: digits' whole batch (64 x 64), 8 images of 160x160x3
# (about 0.1 GB of activations for the built-in CNN).
PROBE_CHUNK_VALUES = 2**20
ROUND_DIGITS = 4  # significant digits kept: the rules compare orders of magnitude

RELU_FAMILY = ("relu", "relu6")  # output exactly 0 for every negative input: these units can die
# Output range of the saturating activations: a unit is saturated near either end.
SATURATING = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "hard_sigmoid": (0.0, 1.0), "hard_tanh": (-1.0, 1.0)}


def _kernel_layers(model: keras.Model) -> list[tuple[str, Any]]:
    """(layer name, kernel variable) of every layer with a trainable kernel (Dense, Conv, ...), in order."""
    found = []
    for layer in flat_layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and getattr(kernel, "trainable", False):
            found.append((layer.name, kernel))
    return found


def _unit_layers(model: keras.Model) -> list[tuple[keras.layers.Layer, str]]:
    """Hidden layers whose units can die (ReLU) or saturate (sigmoid/tanh); the output layer is left out,
    since a confident sigmoid output is the goal, not a fault."""
    output_layers = {id(layer) for layer in model.layers[-1:]}
    picked = []
    for layer in model.layers:
        if id(layer) in output_layers:
            continue
        activation = activation_of(layer)
        if activation in RELU_FAMILY or activation in SATURATING:
            picked.append((layer, activation))
    return picked


def _chunk_size(samples: int, sample_values: int) -> int:
    """The largest divisor of `samples` whose chunk holds at most PROBE_CHUNK_VALUES input values (at least 1):
    equal chunks, so the traced step is traced once."""
    return max(d for d in range(1, samples + 1) if samples % d == 0 and (d == 1 or d * sample_values <= PROBE_CHUNK_VALUES))


def _sig(value: float) -> float:
    """Rounded to ROUND_DIGITS significant digits; non-finite values stay as they are (JSON NaN/Infinity)."""
    return float(f"{value:.{ROUND_DIGITS}g}") if math.isfinite(value) else float(value)


def _saturation_band(activation: str) -> tuple[float, float]:
    """Outputs at or below the first number, or at or above the second, come from |pre-activation| >= 5."""
    if activation == "sigmoid":
        edge = 1 / (1 + math.exp(SATURATION_PREACTIVATION))
        return edge, 1 - edge
    if activation == "tanh":
        edge = math.tanh(SATURATION_PREACTIVATION)
        return -edge, edge
    return SATURATING[activation]  # the hard variants reach their ends exactly


class ProbeCallback(keras.callbacks.Callback):
    """At each epoch end, gradients, updates and unit activity on one fixed batch; `stats()` returns them."""

    def __init__(self, x: np.ndarray, y: np.ndarray, num_classes: int, *, samples: int = PROBE_SAMPLES,
                 seed: int = PROBE_SEED) -> None:
        super().__init__()
        pick = np.sort(np.random.default_rng(seed).permutation(len(x))[:samples])
        self.x, self.y = np.asarray(x)[pick], np.asarray(y)[pick]
        self.num_classes = num_classes
        self._epochs: list[dict[str, Any]] = []
        self._initial_loss = math.nan
        self._error = ""
        self._seconds = 0.0  # time spent probing: the overhead, measured where it is spent

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._epochs, self._error, self._seconds = [], "", 0.0
        start = time.perf_counter()
        try:
            self._prepare()
        except Exception as exc:  # a model the probe cannot read (custom train_step, several inputs) trains unprobed
            self._error = f"{type(exc).__name__}: {exc}"
        self._seconds += time.perf_counter() - start

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._error:
            return
        start = time.perf_counter()
        try:
            self._epochs.append(self._probe(epoch + 1))
        except Exception as exc:  # the probe is a measurement: it never fails a trial
            self._error = f"{type(exc).__name__}: {exc}"
        self._seconds += time.perf_counter() - start

    def _prepare(self) -> None:
        self._kernels = _kernel_layers(self.model)
        self._units, self._probe_model = [], None
        units = _unit_layers(self.model)
        if units:
            try:  # a functional or Sequential model: one forward pass gives the hidden outputs and the prediction
                inputs = self.model.inputs  # a Sequential model has no `.input` until it is called
                self._probe_model = keras.Model(inputs[0] if len(inputs) == 1 else inputs,
                                                [layer.output for layer, _ in units] + list(self.model.outputs))
                self._units = [(layer.name, activation, int(layer.output.shape[-1])) for layer, activation in units]
            except (AttributeError, ValueError):  # subclassed model, shared layer: gradients and updates only
                self._probe_model = None
        self._before = [keras.ops.convert_to_numpy(kernel) for _, kernel in self._kernels]
        # Traced once per trial: a graph call costs a quarter of the eager one (measured, digits CNN, 2 CPUs)
        self._step = tf.function(self._gradients)
        self._x, self._y = tf.constant(self.x), tf.constant(self.y)
        self._chunk = _chunk_size(len(self.x), int(np.prod(self.x.shape[1:])))
        self._initial_loss, _, _ = self._measure()

    def _probe(self, epoch: int) -> dict[str, Any]:
        loss, gradients, activity = self._measure()
        row: dict[str, Any] = {"epoch": epoch, "probe_loss": _sig(loss)}
        now = [keras.ops.convert_to_numpy(kernel) for _, kernel in self._kernels]
        for (name, _), grad, before, after in zip(self._kernels, gradients, self._before, now):
            weight_norm = float(np.linalg.norm(before))
            row.setdefault("grad_norm", {})[name] = _sig(float(np.linalg.norm(grad)))
            row.setdefault("grad_mean_abs", {})[name] = _sig(float(np.mean(np.abs(grad))))
            row.setdefault("update_ratio", {})[name] = _sig(float(np.linalg.norm(after - before)) / weight_norm
                                                            if weight_norm else math.inf)
        self._before = now
        for (name, activation, _), share in zip(self._units, activity):
            if activation in RELU_FAMILY:  # share of sample-positions where the unit is active
                row.setdefault("dead", {})[name] = _sig(float(np.mean(share == 0)))
            else:  # share of sample-positions at an asymptote
                row.setdefault("saturated", {})[name] = _sig(float(np.mean(share >= SATURATED_SAMPLE_SHARE)))
        return row

    def _measure(self) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """Loss, kernel gradients and, per unit layer, each unit's share of sample-positions that are active
        (ReLU) or at an asymptote (sigmoid, tanh), on the probe batch in inference mode.

        The batch goes through in equal chunks of at most PROBE_CHUNK_VALUES input values and the chunks'
        results are averaged: the same numbers as one pass (inference mode treats samples independently, and
        the loss is a mean), but the tape holds one chunk's activations. 64 images of 160x160x3 in one pass
        took 0.85 GB above the fit's own peak.
        """
        totals = None
        for start in range(0, len(self.x), self._chunk):
            loss, gradients, activity = self._step(self._x[start:start + self._chunk], self._y[start:start + self._chunk])
            values = [loss, *[np.zeros(kernel.shape) if g is None else g for (_, kernel), g in
                              zip(self._kernels, gradients)], *activity]
            values = [keras.ops.convert_to_numpy(v) for v in values]
            totals = values if totals is None else [t + v for t, v in zip(totals, values)]
        chunks = len(self.x) // self._chunk
        totals = [t / chunks for t in totals] if chunks > 1 else totals
        kernels = len(self._kernels)
        return float(totals[0]), totals[1:1 + kernels], totals[1 + kernels:]

    def _gradients(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor | None], list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            if self._probe_model is not None:
                *hidden, prediction = self._probe_model(x, training=False)
            else:
                hidden, prediction = [], self.model(x, training=False)
            loss = self.model.compute_loss(x=x, y=y, y_pred=prediction, training=False)
        activity = []
        for (_, activation, size), output in zip(self._units, hidden):
            units = tf.reshape(output, (-1, size))  # channels last: a conv unit is a channel
            if activation in RELU_FAMILY:
                active = units > 0
            else:
                low, high = _saturation_band(activation)
                active = (units <= low) | (units >= high)
            activity.append(tf.reduce_mean(tf.cast(active, tf.float32), axis=0))
        return loss, tape.gradient(loss, [kernel for _, kernel in self._kernels]), activity

    def stats(self) -> dict[str, Any]:
        """The compact per-epoch record `diagnosis.diagnose(probes=...)` reads (plain JSON)."""
        if not self._epochs:
            return {"error": self._error} if self._error else {}
        chance = math.log(self.num_classes)
        return {"samples": int(len(self.x)), "num_classes": self.num_classes,
                "kernels": [name for name, _ in self._kernels],
                "units": [{"layer": name, "activation": activation, "size": size} for name, activation, size in self._units],
                "initial_loss": _sig(self._initial_loss), "initial_loss_ratio": _sig(self._initial_loss / chance),
                # the inputs as fit() gets them (a Rescaling layer inside the model is not seen)
                "input_max_abs": _sig(float(np.max(np.abs(self.x)))) if np.issubdtype(self.x.dtype, np.number) else None,
                "first_epoch_loss_ratio": _sig(self._epochs[0]["probe_loss"] / chance),
                "seconds": round(self._seconds, 3), "epochs": self._epochs, **({"error": self._error} if self._error else {})}
