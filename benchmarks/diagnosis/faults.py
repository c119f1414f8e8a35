"""The fault corpus: small Keras 3 CNNs on 8x8 images, each fault one edit of a healthy config.

A run is a flat config dict read by `build_model` and `prepare_data`. A fault is an edit of the
healthy base config; its twin is the base config itself (same seed, same data, fault removed),
so whether a fault really hurt is decided by the twin's score, never by the rules under test.
A remedy is the config edit that a label's advice asks for, so advice efficacy can be measured
by rerunning the faulty config with the remedy applied.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from gridsearch.data.dataset import ArrayDataset as Dataset
from gridsearch.data.dataset import load_dataset

BASE: dict[str, Any] = {
    "dataset": "digits", "epochs": 15, "batch_size": 32, "optimizer": "adam", "learning_rate": 1e-3,
    "clipnorm": None, "lr_schedule": "none", "filters": 8, "conv_blocks": 2, "dense_layers": 1, "dense_units": 32,
    "activation": "relu", "batch_norm": False, "dropout": 0.0, "l2": 0.0, "init_std": None, "bias_init": 0.0,
    "head": "softmax", "loss": "sparse_categorical_crossentropy", "bad_op": False, "normalize": "scale",
    "input_scale": 1.0, "train_size": None, "shuffle_labels": False,
}
DATASETS = ("digits", "shapes")  # even seeds train on sklearn's digits, odd seeds on generated shapes
SHAPES_CLASSES = 4
SHAPES_SAMPLES = 800  # 200 per class: about as many per class as digits has (180)
SHAPES_NOISE = 2.0  # pixel noise on the 0-16 scale digits uses, so a twin is healthy but not trivially perfect
TINY_TRAIN = 60  # judgment: 6 images per digit class, few enough for a 2x512 dense head to memorise
TINY_EPOCHS = 40  # 2 steps an epoch: memorising 60 images takes more epochs than learning 1150 (measured: 15 is short)
# (A first twin, the same 60 images with dropout 0.5 and L2, underfitted in 40 epochs and lost to the fault.)


@dataclass(frozen=True)
class Fault:
    name: str
    what: str  # how it is injected, for the table
    labels: tuple[str, ...]  # labels that count as a correct detection, the expected one first
    edit: dict[str, Any]  # config changes that inject the fault
    twin_edit: dict[str, Any] | None = None  # changes kept in the twin (the condition, not the fault), e.g. tiny data
    confirm_by_loss: bool = False  # overfitting costs little accuracy: confirmed by a val_loss rise over the twin


FAULTS: tuple[Fault, ...] = (
    Fault("lr_too_high", "Adam learning rate 1.0 (1000x the default)",
          ("diverging", "nan", "oscillating", "stuck_at_chance"), {"learning_rate": 1.0}),
    Fault("lr_too_low", "Adam learning rate 1e-4 (1/10 of the default)", ("too_slow", "plateau"),
          {"learning_rate": 1e-4}),
    Fault("unscaled_inputs", "inputs x255 with normalize='none' (pixels 0-4080)",
          ("bad_initial_loss", "stuck_at_chance", "diverging", "oscillating", "nan"),
          {"normalize": "none", "input_scale": 255.0}),
    Fault("relu_before_softmax", "Dense(C, relu) then softmax", ("stuck_at_chance", "plateau", "too_slow"),
          {"head": "relu_softmax"}),
    Fault("wrong_loss", "mean_squared_error between the class index 0..C-1 and the softmax",
          ("bad_initial_loss", "stuck_at_chance", "diverging", "plateau"), {"loss": "mean_squared_error"}),
    Fault("shuffled_labels", "training labels permuted (validation labels intact)",
          ("stuck_at_chance", "data_suspect", "overfitting", "plateau"), {"shuffle_labels": True}),
    Fault("tiny_wide_overfit", f"{TINY_TRAIN} training images for 32 filters and a 2x512 dense head, "
          f"{TINY_EPOCHS} epochs (twin: all training images)", ("overfitting",), {"train_size": TINY_TRAIN},
          twin_edit={"filters": 32, "dense_layers": 2, "dense_units": 512, "epochs": TINY_EPOCHS},
          confirm_by_loss=True),
    Fault("huge_init", "kernels drawn from N(0, 10^2)",
          ("bad_initial_loss", "diverging", "nan", "oscillating", "stuck_at_chance"), {"init_std": 10.0}),
    Fault("dead_relu", "every conv/dense bias starts at -5 (all ReLUs dead)", ("stuck_at_chance", "plateau"),
          {"bias_init": -5.0}),
    Fault("vanishing_sigmoid", "8 sigmoid dense layers, SGD momentum lr 0.05 (twin: the same with ReLU)",
          ("plateau", "stuck_at_chance", "too_slow"), {"activation": "sigmoid"},
          twin_edit={"optimizer": "sgd_momentum", "learning_rate": 0.05, "dense_layers": 8}),
    Fault("nan_bad_op", "log() of the raw pixels (log 0 = -inf)", ("nan",), {"bad_op": True}),
)
FAULTS_BY_NAME = {fault.name: fault for fault in FAULTS}

# The healthy controls: other sound settings. Like every twin, one counts as a healthy run only when it reaches
# its seed's base twin, so health is confirmed by a twin as well. They widen the false-alarm sample.
HEALTHY_VARIANTS: dict[str, dict[str, Any]] = {
    "batch_norm": {"batch_norm": True},
    "dropout_l2": {"dropout": 0.2, "l2": 1e-4},
    "sgd_momentum": {"optimizer": "sgd_momentum", "learning_rate": 0.05},
}


def fault_config(fault: Fault, seed: int, epochs: int) -> dict[str, Any]:
    return {**twin_config(fault, seed, epochs), **fault.edit}


def twin_config(fault: Fault | None, seed: int, epochs: int) -> dict[str, Any]:
    twin = fault.twin_edit if fault and fault.twin_edit else {}
    return {**BASE, "dataset": DATASETS[seed % len(DATASETS)], "epochs": epochs, **twin}


# --- remedies: the advice as gridsearch applies it, in this corpus' knobs --------------------------------------
# Fixes outside the search: what lint's error or warning, or a cause's advice, tells the user to change.
FIXES: dict[str, dict[str, Any]] = {
    "activation_before_output": {"head": "softmax"},  # lint: no ReLU right before the softmax
    "loss_labels": {"loss": BASE["loss"]},  # lint: a loss that fits integer labels
    "loss_output": {"loss": BASE["loss"]},
    "check_labels": {"shuffle_labels": False},  # cause no_signal: the labels do not belong to the inputs
    "fix_inputs_or_ops": {"bad_op": False},  # cause untrained_nan: guard the op
}
_INITIALIZERS = {"glorot_uniform", "he_normal", "lecun_normal"}


def _as_hyperparameters(cfg: dict[str, Any]) -> dict[str, Any]:
    """A corpus config under gridsearch's hyperparameter names, for the doctor's stage grids."""
    return {"learning_rate": cfg["learning_rate"], "batch_norm": cfg["batch_norm"], "optimizer": cfg["optimizer"],
            "normalize": cfg["normalize"] if cfg["input_scale"] == 1 else "none", "l2": cfg["l2"],
            "dropout": cfg["dropout"], "epochs": cfg["epochs"], "batch_size": cfg["batch_size"],
            "lr_schedule": cfg["lr_schedule"], "lr_step_epochs": cfg["epochs"],  # no step schedule in the corpus
            "kernel_initializer": "glorot_uniform" if cfg["init_std"] is None else "random_normal",
            "noise": None}  # no input noise and no augmentation in the corpus' models


def _in_corpus_knobs(name: str, value: Any) -> dict[str, Any] | None:
    """A hyperparameter value as the corpus' config change, or None where the corpus' models have no such knob."""
    if name == "normalize":
        return {"normalize": value, "input_scale": 1.0} if value in ("scale", "standardize") else None
    if name == "kernel_initializer":
        return {"init_std": None} if value in _INITIALIZERS else None
    if name == "lr_schedule":
        return {"lr_schedule": value} if value == "reduce_on_plateau" else None
    if name in ("learning_rate", "batch_norm", "optimizer", "l2", "dropout", "epochs", "batch_size"):
        return {name: value}
    return None


def remedy_configs(remedy: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The configs a remedy trains next to `cfg`: a fix outside the search as one config, a tuning remedy as the new
    points of the doctor's own stage grid (doctor.REMEDY_STAGES); [] where the corpus cannot express it."""
    from gridsearch.plans.doctor import REMEDY_STAGES

    if remedy in FIXES:
        fixed = {**cfg, **FIXES[remedy]}
        return [fixed] if fixed != cfg else []
    if remedy not in REMEDY_STAGES:
        return []
    configs = []
    try:
        grid = REMEDY_STAGES[remedy].grid(_as_hyperparameters(cfg))
    except (TypeError, KeyError):  # a ladder over a knob the corpus does not have (noise, augmentation)
        return []
    for name, values in grid.items():
        for value in values[1:]:
            change = _in_corpus_knobs(name, value)
            if change is not None and {**cfg, **change} != cfg and {**cfg, **change} not in configs:
                configs.append({**cfg, **change})
    return configs


# --- data --------------------------------------------------------------------------------------------------------
def make_shapes(seed: int = 0, n: int = SHAPES_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """8x8 images of a horizontal bar, a vertical bar, a diagonal or a hollow square, at random places, noisy."""
    rng = np.random.default_rng(1000 + seed)
    y = np.arange(n) % SHAPES_CLASSES
    x = np.zeros((n, 8, 8), dtype="float32")
    for i, label in enumerate(y):
        r, c, size = rng.integers(0, 4), rng.integers(0, 4), rng.integers(3, 5)
        if label == 0:
            x[i, r + 2, c:c + size] = 16
        elif label == 1:
            x[i, r:r + size, c + 2] = 16
        elif label == 2:
            x[i, np.arange(size) + r, np.arange(size) + c] = 16
        else:
            x[i, r:r + size, [c, c + size - 1]] = 16
            x[i, [r, r + size - 1], c:c + size] = 16
    x = np.clip(x + rng.normal(0, SHAPES_NOISE, x.shape), 0, 16).astype("float32")
    return x, y


def load(name: str, seed: int) -> Dataset:
    source = "digits" if name == "digits" else (lambda: make_shapes(seed))
    return load_dataset(source, seed=seed, validation_split=0.2, test_split=0.2, folder=Path(__file__).parent)


def prepare_data(cfg: dict[str, Any], data: Dataset, seed: int) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_val, y_val) as the config asks: scaling, a training subset, permuted labels."""
    x_train, x_val, _ = data.prepared_split(cfg)
    x_train, x_val = x_train * cfg["input_scale"], x_val * cfg["input_scale"]
    y_train = data.y_train[:, None]  # a label column: a regression loss broadcasts it against the C outputs
    rng = np.random.default_rng(seed)
    if cfg["train_size"]:
        keep = rng.permutation(len(y_train))[: cfg["train_size"]]
        x_train, y_train = x_train[keep], y_train[keep]
    if cfg["shuffle_labels"]:
        y_train = rng.permutation(y_train)
    return x_train, y_train, x_val, data.y_val[:, None]


# --- model -------------------------------------------------------------------------------------------------------
_OPTIMIZERS = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD,
               "sgd_momentum": lambda **kw: keras.optimizers.SGD(momentum=0.9, **kw)}


def build_model(cfg: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """Conv blocks and a dense stack; every fault is one of these knobs. Accuracy is always the sparse one, so
    a wrong loss cannot change what "accuracy" means."""
    init = keras.initializers.RandomNormal(stddev=cfg["init_std"]) if cfg["init_std"] else "glorot_uniform"
    bias = keras.initializers.Constant(cfg["bias_init"])
    reg = keras.regularizers.L2(cfg["l2"]) if cfg["l2"] else None
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Lambda(keras.ops.log, name="log_pixels")(inputs) if cfg["bad_op"] else inputs

    def block(layer: keras.layers.Layer, x: Any) -> Any:
        x = layer(x)
        if cfg["batch_norm"]:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(cfg["activation"])(x)
        return keras.layers.Dropout(cfg["dropout"])(x) if cfg["dropout"] else x

    for i in range(cfg["conv_blocks"]):
        x = block(keras.layers.Conv2D(cfg["filters"] * 2 ** i, 3, padding="same", kernel_initializer=init,
                                      bias_initializer=bias, kernel_regularizer=reg,
                                      use_bias=not cfg["batch_norm"]), x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    for _ in range(cfg["dense_layers"]):
        x = block(keras.layers.Dense(cfg["dense_units"], kernel_initializer=init, bias_initializer=bias,
                                     kernel_regularizer=reg, use_bias=not cfg["batch_norm"]), x)
    x = keras.layers.Dense(num_classes, activation="relu" if cfg["head"] == "relu_softmax" else None,
                           kernel_initializer=init, kernel_regularizer=reg)(x)
    outputs = keras.layers.Softmax()(x)
    model = keras.Model(inputs, outputs)
    optimizer = _OPTIMIZERS[cfg["optimizer"]](learning_rate=cfg["learning_rate"], clipnorm=cfg["clipnorm"])
    model.compile(optimizer=optimizer, loss=cfg["loss"],
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def model_facts(model: keras.Model, cfg: dict[str, Any]) -> dict[str, Any]:
    """What AUTOTRAINER's static loss/output checks read: the loss name, output width, last activation."""
    return {"loss": cfg["loss"], "output_units": int(model.output.shape[-1]),
            "last_activation": model.layers[-1].get_config().get("activation", model.layers[-1].name.split("_")[0])}
