"""Checks before the search: catch what makes every trial of a grid pointless, before it costs a grid.

These are TheDeepChecker's and UMLAUT's pre-training checks (data range, NaN, label balance,
initial loss vs ln C, overfitting a small batch; the model's output layer and loss are lint.py's)
plus the ones the research notes list as missing:
constant features, train/validation duplicates and labels stored sorted by class.
Every check returns a Finding, "ok" ones included, so a report can show what was checked.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from gridsearch.diagnosis.rules import BAD_INITIAL_LOSS_RATIO, INPUT_SCALE_LIMIT, chance_ceiling, is_bad_initial_loss
from gridsearch.training.fit import TrainingContext, build_model
from gridsearch.training.lint import ERROR, OK, WARNING, Finding, lint_model, predicted_classes

MIN_CLASS_SAMPLES = 3  # a stratified train/validation/test split needs one sample of each class in each part
MIN_CLASS_SAMPLES_TO_SPLIT = 2  # scikit-learn's stratified split refuses a class with fewer: an error
IMBALANCE_RATIO = 10.0  # judgment: at 10:1 plain accuracy mostly measures the majority class
VALIDATION_SPLIT = 0.2  # the share Keras' validation_split is usually given; it takes the *last* rows unshuffled
GROUPED_RUNS_PER_CLASS = 2  # judgment: <= 2 contiguous blocks per class is sorted/grouped (shuffled: ~n(1-sum p^2))
DUPLICATE_SHARE = 0.01  # judgment: a few coincidental duplicates are normal for small images; 1% inflates val acc
OVERFIT_BATCH = 16  # TheDeepChecker overfits one batch of 16
OVERFIT_MIN_ACCURACY = 0.95  # TheDeepChecker: error <= 5% on the batch it overfits


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


def _labels(y: np.ndarray) -> np.ndarray:
    """One label per sample: one-hot rows become their column index."""
    return y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)


def _class_ids(y: np.ndarray) -> np.ndarray:
    """Class index 0..C-1 per sample, from integer, string or one-hot labels."""
    return np.unique(_labels(y), return_inverse=True)[1]


def _class_counts(y: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """(class names, samples per class); a one-hot column nobody has is a class with 0 samples."""
    if y.ndim == 2 and y.shape[1] > 1:
        return list(range(y.shape[1])), y.sum(axis=0).astype(int)
    names, counts = np.unique(y.reshape(-1), return_counts=True)
    return names.tolist(), counts


def check_data(x_train: Any, y_train: Any, x_val: Any = None, y_val: Any = None, *,
               raw_order_y: Any = None, overlap_keys: tuple[list[bytes], list[bytes]] | None = None) -> list[Finding]:
    """Inputs and labels: NaN, scale, constant features, label format, class sizes and balance, split hygiene.

    `x_val`/`y_val` add the train/validation checks; `raw_order_y` is the labels in the file's original
    order, to see whether they are sorted by class. The inputs may be a sample: the labels are read for
    what they say themselves, and `overlap_keys` (one key per train and validation sample, e.g. file
    digests) lets the duplicate check see every sample.
    """
    x_train, y_train = np.asarray(x_train), np.asarray(y_train)
    inputs = [("x_train", x_train)] + ([("x_val", np.asarray(x_val))] if x_val is not None else [])
    names, counts = _class_counts(y_train)
    findings = [_non_finite(inputs), _scale(inputs), _constant_features(x_train), _label_format(y_train),
                _class_sizes(names, counts), _imbalance(counts)]
    if x_val is not None:
        findings.append(_overlap(x_train, np.asarray(x_val), overlap_keys))
    if y_val is not None:
        findings.append(_val_classes(y_train, np.asarray(y_val)))
    if raw_order_y is not None:
        findings.append(_label_order(np.asarray(raw_order_y)))
    return findings


def _non_finite(inputs: list[tuple[str, np.ndarray]]) -> Finding:
    bad = [(name, int(np.size(x) - np.isfinite(x).sum())) for name, x in inputs]
    bad = [(name, count) for name, count in bad if count]
    if bad:
        where = ", ".join(f"{count} in {name}" for name, count in bad)
        return Finding("non_finite_inputs", ERROR, f"NaN/inf input values ({where}): one of them makes the loss NaN; "
                       "impute or drop those samples before the search")
    return Finding("non_finite_inputs", OK, "no NaN/inf input values")


def _scale(inputs: list[tuple[str, np.ndarray]]) -> Finding:
    finite = np.concatenate([x[np.isfinite(x)].ravel() for _, x in inputs])
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    seen = f"inputs range from {low:.3g} to {high:.3g}"
    if max(abs(low), abs(high)) > INPUT_SCALE_LIMIT:
        return Finding("inputs_not_scaled", WARNING, f"{seen}: scale them to [0, 1] (e.g. x / {high:.3g}) or "
                       "standardize; gridsearch's normalize='scale' (the default) does it per trial, keep it on")
    return Finding("inputs_not_scaled", OK, seen)


def _constant_features(x: np.ndarray) -> Finding:
    flat = _flat(x)
    constant = int(np.sum(np.ptp(flat, axis=0) == 0))
    total = flat.shape[1]
    if constant == total:
        return Finding("constant_features", ERROR, f"all {total} input features are constant: nothing to learn from")
    if constant:
        return Finding("constant_features", WARNING, f"{constant} of {total} input features ({constant / total:.0%}) "
                       "never change: harmless for blank image borders, otherwise check the loader")
    return Finding("constant_features", OK, f"all {total} input features vary")


def _label_format(y: np.ndarray) -> Finding:
    if y.ndim == 2 and y.shape[1] > 1:
        one_hot = set(np.unique(y).tolist()) <= {0, 1} and bool(np.all(y.sum(axis=1) == 1))
        if not one_hot:
            return Finding("label_format", ERROR, f"labels of shape {y.shape} are not one-hot (one 1 per row): "
                           "multi-label or soft targets are not single-label classification")
        return Finding("label_format", OK, f"one-hot labels for {y.shape[1]} classes: gridsearch turns them into "
                       "integers (argmax); in your own code pair them with categorical_crossentropy")
    values = y.reshape(-1)
    fractional = values[values != np.round(values)] if np.issubdtype(values.dtype, np.floating) else values[:0]
    if fractional.size:
        return Finding("label_format", ERROR, f"labels are not whole numbers (e.g. {fractional[0]:g}): regression "
                       "targets cannot train a classifier")
    classes = np.unique(values)
    kind = "string" if values.dtype.kind in "US" else "integer"
    return Finding("label_format", OK, f"{len(classes)} classes of {kind} labels ({classes[0]} .. {classes[-1]}), "
                   f"encoded 0..{len(classes) - 1} for sparse_categorical_crossentropy")


def _class_sizes(names: list[Any], counts: np.ndarray) -> Finding:
    smallest = int(counts.argmin())
    seen = f"the smallest class ({names[smallest]!r}) has {counts[smallest]} samples"
    if counts[smallest] < MIN_CLASS_SAMPLES_TO_SPLIT:
        return Finding("rare_class", ERROR, f"{seen}: a stratified split needs at least {MIN_CLASS_SAMPLES_TO_SPLIT}; "
                       "collect more or drop the class")
    if counts[smallest] < MIN_CLASS_SAMPLES:
        return Finding("rare_class", WARNING, f"{seen}: fewer than {MIN_CLASS_SAMPLES} cannot appear in train, "
                       "validation and test alike; collect more or merge the class")
    return Finding("rare_class", OK, seen)


def _imbalance(counts: np.ndarray) -> Finding:
    ratio = counts.max() / max(counts.min(), 1)  # an empty class is rare_class's error
    seen = f"largest class {counts.max()} samples, smallest {counts.min()} (ratio {ratio:.1f})"
    if ratio > IMBALANCE_RATIO:
        return Finding("class_imbalance", WARNING, f"{seen}: predicting the majority already scores "
                       f"{counts.max() / counts.sum():.0%} accuracy; use class_weight='balanced' and watch per-class "
                       "recall")
    return Finding("class_imbalance", OK, seen)


def _overlap(x_train: np.ndarray, x_val: np.ndarray,
             keys: tuple[list[bytes], list[bytes]] | None = None) -> Finding:
    if keys is None:
        if x_train.shape[1:] != x_val.shape[1:]:
            return Finding("train_val_overlap", ERROR, f"train inputs {x_train.shape[1:]} and validation inputs "
                           f"{x_val.shape[1:]} differ in shape")
        keys = tuple([row.tobytes() for row in _flat(np.ascontiguousarray(x))] for x in (x_train, x_val))
    train_keys, val_keys = set(keys[0]), keys[1]
    shared = sum(key in train_keys for key in val_keys)
    seen = f"{shared} of {len(val_keys)} validation samples also appear in the training data"
    if shared / len(val_keys) >= DUPLICATE_SHARE:
        return Finding("train_val_overlap", WARNING, f"{seen} ({shared / len(val_keys):.1%}): validation scores are "
                       "inflated; remove the duplicates before splitting")
    return Finding("train_val_overlap", OK, seen)


def _val_classes(y_train: np.ndarray, y_val: np.ndarray) -> Finding:
    train, val = set(_labels(y_train).tolist()), set(_labels(y_val).tolist())
    if val - train:
        return Finding("val_classes", WARNING, f"validation labels {sorted(val - train)} never occur in training: "
                       "those samples are always wrong; split with stratification")
    if train - val:
        return Finding("val_classes", WARNING, f"validation has no samples of {sorted(train - val)}: their accuracy "
                       "is not measured; split with stratification")
    return Finding("val_classes", OK, f"validation holds all {len(train)} classes")


def _label_order(raw_y: np.ndarray) -> Finding:
    ids, labels = _class_ids(raw_y), _labels(raw_y)
    classes = int(ids.max()) + 1
    runs = 1 + int(np.sum(ids[1:] != ids[:-1]))
    tail = np.unique(labels[-max(1, int(len(ids) * VALIDATION_SPLIT)):]).tolist()
    seen = f"in the file's order the labels form {runs} contiguous blocks for {classes} classes"
    if runs <= GROUPED_RUNS_PER_CLASS * classes or len(tail) < classes:
        return Finding("labels_sorted", WARNING, f"{seen} (sorted/grouped by class): a plain Keras "
                       f"validation_split={VALIDATION_SPLIT} takes the last rows, and would validate on class(es) "
                       f"{tail} only, of {classes}. gridsearch's own split is shuffled and stratified; in your own "
                       "code shuffle before using validation_split")
    return Finding("labels_sorted", OK, f"{seen}: shuffled")


def check_model(model: keras.Model, x_batch: Any, y_batch: Any, num_classes: int) -> list[Finding]:
    """The untrained model: lint.py's rules on its output layer and loss, and its loss on a batch near ln C."""
    y_batch = np.asarray(y_batch)
    one_hot = y_batch.ndim == 2 and y_batch.shape[1] > 1
    return [*lint_model(model, num_classes, one_hot_labels=one_hot), _initial_loss(model, x_batch, y_batch, num_classes)]


def _initial_loss(model: keras.Model, x_batch: Any, y_batch: Any, num_classes: int) -> Finding:
    # One eager forward pass and the compiled loss: evaluate() would first trace a whole test step.
    outputs = model(np.asarray(x_batch), training=False)
    loss = float(model.compute_loss(x=x_batch, y=np.asarray(y_batch), y_pred=outputs, training=False))
    chance = math.log(num_classes)
    seen = f"untrained loss {loss:.3g} on a batch of {len(x_batch)} vs ln({num_classes}) = {chance:.3g}"
    if not math.isfinite(loss):
        return Finding("initial_loss", ERROR, f"{seen}: the model cannot even be evaluated; check the inputs for "
                       "NaN/inf and the output layer against the loss")
    if is_bad_initial_loss(loss, num_classes):
        return Finding("initial_loss", WARNING, f"{seen} ({loss / chance:.1f}x, limit {BAD_INITIAL_LOSS_RATIO:g}x): "
                       "initialisation or labels are off; check that labels are 0..C-1 for "
                       "sparse_categorical_crossentropy, scale the inputs, keep default initializers")
    return Finding("initial_loss", OK, seen)


def check_can_overfit(build: Callable[[], keras.Model], x: Any, y: Any, *, samples: int = 64,
                      epochs: int = 60, shortened: str = "") -> Finding:
    """Train a fresh model on a small subset: a model that cannot memorize it will not learn the full set.

    Error only when it stays at chance (model or labels broken); a partial fit is a warning,
    because a baseline learning rate too low for this short check still leaves the search useful.
    `shortened` says why the check ran fewer passes than usual (see `overfit_budget`): then a model still at
    chance may only be slow, a warning too.
    """
    x, y = np.asarray(x), np.asarray(y)
    pick = np.random.default_rng(0).permutation(len(x))[:samples]
    ids = _class_ids(y)[pick]
    model = build()
    if shortened:  # one batch, a few passes: `train_on_batch` steps without fit's setup (see OVERFIT_EPOCH_SHARE)
        for _ in range(epochs):
            model.train_on_batch(x[pick], y[pick])
    else:
        model.fit(_repeated(x[pick], y[pick], epochs), epochs=1, shuffle=False, verbose=0)  # shuffled by _repeated
    outputs = keras.ops.convert_to_numpy(model(x[pick], training=False))  # eager: 64 samples need no predict()
    predicted = predicted_classes(model, outputs)
    accuracy = float(np.mean(predicted == ids))
    chance = float(np.bincount(ids).max() / len(ids))
    seen = f"after {epochs} passes over {len(pick)} samples{f' ({shortened})' if shortened else ''}: " \
           f"training accuracy {accuracy:.2f}"
    if accuracy >= OVERFIT_MIN_ACCURACY:
        return Finding("can_overfit", OK, f"{seen}: the model can learn")
    if accuracy <= chance_ceiling(chance) and not shortened:
        return Finding("can_overfit", ERROR, f"{seen}, chance is {chance:.2f} (the largest class's share of these "
                       f"{len(pick)} samples: what always answering that class scores): the model learns nothing; check that "
                       "the labels belong to the inputs, the output layer and the loss, and that the learning rate "
                       "is not 0")
    if accuracy <= chance_ceiling(chance):
        return Finding("can_overfit", WARNING, f"{seen}, chance is {chance:.2f}: too short a check to tell a broken "
                       "model from a slow one; if the first trials stay at chance, check the labels, the output "
                       "layer and the loss")
    return Finding("can_overfit", WARNING, f"{seen} (< {OVERFIT_MIN_ACCURACY}): the learning rate may be too low for "
                   "this short check, the model too small or too regularized, or some labels contradict each other")


def _repeated(x: np.ndarray, y: np.ndarray, passes: int) -> tf.data.Dataset:
    """The subset `passes` times over, shuffled as one epoch (the same updates as `passes` epochs without their
    per-epoch overhead), gathered batch by batch: the repeated array (1.2 GB for 64 images of 160x160x3 60
    times) never exists."""
    order = np.random.default_rng(0).permutation(np.tile(np.arange(len(x)), passes))
    images, labels = tf.constant(x), tf.constant(y)
    return tf.data.Dataset.from_tensor_slices(order).batch(OVERFIT_BATCH).map(
        lambda i: (tf.gather(images, i), tf.gather(labels, i)))


def overfit_budget(train_samples: int, sample_values: int) -> tuple[int, int, str]:
    """(samples, passes, why shortened or ''): the overfit check's size for this data.

    The full check (OVERFIT_SAMPLES x OVERFIT_PASSES) stays wherever its input is small (digits read 2**18
    values: its cost is the fixed tracing) or it is a small share of an epoch. At 160x160x3 it cost 1.3
    epochs of a 3,240-image training split; there it gets at most OVERFIT_EPOCH_SHARE of an epoch's samples, as
    passes over one batch of OVERFIT_SHORT_SAMPLES, and never fewer than OVERFIT_MIN_PASSES.
    """
    full = OVERFIT_SAMPLES * OVERFIT_PASSES
    budget = int(OVERFIT_EPOCH_SHARE * train_samples)
    if full * sample_values <= OVERFIT_FREE_VALUES or budget >= full:
        return OVERFIT_SAMPLES, OVERFIT_PASSES, ""
    passes = min(OVERFIT_PASSES, max(OVERFIT_MIN_PASSES, budget // OVERFIT_SHORT_SAMPLES))
    return OVERFIT_SHORT_SAMPLES, passes, (f"shortened for large inputs to about {OVERFIT_EPOCH_SHARE:.1%} of an epoch; "
                                   f"{OVERFIT_SAMPLES} samples x {OVERFIT_PASSES} passes where inputs are small")


# --- the pre-flight of a search: the checks above on the run's own split and baseline model ---------------

PREFLIGHT_BATCH = 32  # the untrained loss is read on one batch of Keras' default batch size
OVERFIT_SAMPLES = 64  # the "tiny subset": 4 of TheDeepChecker's batches of 16
OVERFIT_PASSES = 60
# Input values (samples x passes x values per sample) the full overfit check reads whatever the epoch: about a
# second of compute on 2 cores, 16x what digits read. Beyond it, see `overfit_budget`.
OVERFIT_FREE_VALUES = 2**22
# The shortened check (see `overfit_budget`): passes over one batch of OVERFIT_SHORT_SAMPLES within this share of
# an epoch's samples. Measured at 160x160x3 on 2 cores, tracing included: 8 samples x 10 passes took 1.09 s as
# traced `train_on_batch` steps, 1.4-1.5 s through `fit` (eager or traced), 16 x 10 through fit 2.2-2.6 s; each
# reached training accuracy 1.00. A quarter of the pre-flight's 10 % (issue 17).
OVERFIT_EPOCH_SHARE = 0.025
OVERFIT_SHORT_SAMPLES = 8
OVERFIT_MIN_PASSES = 10  # fewer passes over one batch than this tell nothing
# Settings a stage can change that rescue a model which could not overfit the subset at the defaults' values:
# a learning rate too low for the short check would otherwise stop the very search that is about to raise it.
OVERFIT_RESCUERS = ("learning_rate", "optimizer")
# The pixel checks read a seeded sample of at most this many images of each part, and at most
# PREFLIGHT_SAMPLE_BYTES of them prepared (as float32): 109 images at 160x160 RGB. Reading all 4,500 images
# of a 160x160 folder made the pre-flight 4x as long as the trial it guarded (46.6 s against 11.3 s); 416
# images of each part (128 MB) still took 3.4 s of decoding and 1.4 s of checks, a tenth of a 2,250-image epoch.
PREFLIGHT_SAMPLES = 2000
# checks that read labels or file digests of every sample, not the pixels of the sample
SEES_EVERY_SAMPLE = ("label_format", "rare_class", "class_imbalance", "train_val_overlap", "val_classes",
                     "labels_sorted")
PREFLIGHT_SAMPLE_BYTES = 32 * 2**20


@dataclass
class PreflightReport:
    findings: list[Finding]
    seconds: float
    reused: tuple[str, ...] = ()  # checks read back from an earlier run's preflight.json instead of run again
    statistics_seconds: float = 0.0  # the baseline's input statistics, fitted first (not in `seconds`)

    def for_plan(self, tuned: Collection[str]) -> PreflightReport:
        """What a stage of the plan may fix does not block the run, so it is no error: the one such finding
        (see OVERFIT_RESCUERS) becomes a warning that says why the run goes on."""
        rescuers = [name for name in OVERFIT_RESCUERS if name in tuned]
        if not rescuers:
            return self
        why = (f" (does not stop the run: a stage tunes {' and '.join(rescuers)}, and a baseline learning rate too "
               f"low for this short check is what that stage is about to fix)")
        findings = [dataclasses.replace(f, severity=WARNING, message=f.message + why)
                    if f.check == "can_overfit" and f.severity == ERROR else f for f in self.findings]
        return dataclasses.replace(self, findings=findings)

    def blocking(self, tuned: Collection[str]) -> list[Finding]:
        """The errors that make the search pointless."""
        return [f for f in self.for_plan(tuned).findings if f.severity == ERROR]

    def to_json(self, space_sha256: str) -> dict[str, Any]:
        """What preflight.json holds: report.py reads `findings`, a resumed run reads the hash and `can_overfit`."""
        return {"space_sha256": space_sha256, "seconds": self.seconds, "statistics_seconds": self.statistics_seconds,
                "reused": list(self.reused),
                "findings": [dataclasses.asdict(f) for f in self.findings]}


def preflight_search(ctx: TrainingContext, config: dict[str, Any], *,
                     earlier: dict[str, Any] | None = None) -> PreflightReport:
    """Every check once, on the inputs the baseline config trains on and on its untrained model.

    `earlier` is the preflight.json of an earlier run of the same space file: its overfit check, the only
    costly one, is taken from there unless it was an error. A builder that raises is one warning: the trials report the error.
    """
    started = time.perf_counter()
    dataset = ctx.dataset
    # The baseline's input statistics (1.6 s for a 160x160 folder's 1,000-image sample): every trial of that
    # preparation needs them, pre-flight or not, so they are timed apart from the checks.
    dataset.normalizer(config)
    start = time.perf_counter()
    image_bytes = 4 * int(np.prod(dataset.prepared_shape(config)))
    n = min(PREFLIGHT_SAMPLES, max(OVERFIT_SAMPLES, PREFLIGHT_SAMPLE_BYTES // image_bytes))
    x_train, y_train = dataset.sample(config, "train", n, ctx.seed)
    x_val, _ = dataset.sample(config, "val", n, ctx.seed)
    findings = check_data(x_train, dataset.y_train, x_val, dataset.y_val, raw_order_y=dataset.source_order_y,
                          overlap_keys=dataset.content_keys("train", "val"))
    if len(x_train) < len(dataset.y_train) or len(x_val) < len(dataset.y_val):
        sampled = (f"on a seeded sample of {len(x_train)} of {len(dataset.y_train)} training and {len(x_val)} of "
                   f"{len(dataset.y_val)} validation images")
        findings = [f if f.check in SEES_EVERY_SAMPLE else replace(f, message=f"{f.message} ({sampled})")
                    for f in findings]
    # an error is checked again: it stopped that run, and the data or the builder may have been fixed since
    kept = [Finding(**f) for f in (earlier or {}).get("findings", [])
            if f.get("check") == "can_overfit" and f.get("severity") != ERROR]
    try:
        model = build_model(config, ctx)
        findings += check_model(model, x_train[:PREFLIGHT_BATCH], y_train[:PREFLIGHT_BATCH], dataset.num_classes)
        # the same model, still untrained (check_model only ran it forward): one build less
        samples, passes, shortened = overfit_budget(len(dataset.y_train), int(np.prod(x_train.shape[1:])))
        findings += kept or [check_can_overfit(lambda: model, x_train, y_train, samples=samples, epochs=passes,
                                               shortened=shortened)]
    except Exception as exc:  # the user's builder or loss: every trial will say so too, with its traceback
        findings.append(Finding("model_checks", WARNING, f"the model of the defaults could not be checked: "
                                f"{type(exc).__name__}: {exc}".strip().replace("\n", " ")))
        kept = []
    return PreflightReport(findings, round(time.perf_counter() - start, 2), ("can_overfit",) if kept else (),
                           statistics_seconds=round(start - started, 2))
