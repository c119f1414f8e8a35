"""Two more streamed sources: a user's own tf.data pipelines, and .npy files read through memory maps.

Both are read the way an image folder is (`pipeline.batches` takes their streams): element by element,
prepared batch by batch, so no float copy of the data set exists. A pipeline is read once when loaded
(`scan`): its labels, a digest per element (the duplicate check) and a streaming sha256 of its content
(the identity reuse and resume key on), CHUNK elements at a time, never the whole set in memory.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from gridsearch.data.folder import Progress
from gridsearch.data.pipeline import SHUFFLE_BUFFER
from gridsearch.errors import SpaceError

CHUNK = 128  # elements per step of a pass: 10 MB at 160x160x3 uint8
PIPELINE_SHAPE = "(image, label) pairs, images (h, w) or (h, w, c) of a fixed size, integer or string labels"


def is_pipeline(value: Any) -> bool:
    return isinstance(value, tf.data.Dataset)


@dataclass(frozen=True)
class PipelineSpec:
    """What a user's pipeline yields once unbatched: one image's shape and dtype, the label's dtype."""

    image_shape: tuple[int, ...]  # with a channel axis
    image_dtype: tf.DType
    label_dtype: tf.DType


def check_pipelines(datasets: tuple[Any, ...], where: str) -> tuple[list[tf.data.Dataset], PipelineSpec]:
    """The datasets as unbatched (image (h, w, c), label) pairs; SpaceError naming `data` for anything else.

    A label of rank 0 means unbatched elements, of rank 1 batches (`.batch(n)` of the user's pipeline)."""
    names = ("train", "validation", "test")[: len(datasets)]
    if len(datasets) not in (2, 3) or not all(map(is_pipeline, datasets)):
        kinds = ", ".join(type(d).__name__ for d in datasets)
        raise SpaceError(f"data loader in {where} returned ({kinds}): a loader of tf.data.Datasets must return "
                         f"(train, validation) or (train, validation, test), each a tf.data.Dataset of {PIPELINE_SHAPE}")
    elements, specs = [], []
    for name, dataset in zip(names, datasets):
        spec = dataset.element_spec
        field = f"field `data` of {where}: the {name} tf.data.Dataset"
        if not (isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(s, tf.TensorSpec) for s in spec)):
            raise SpaceError(f"{field} yields {spec}; allowed: {PIPELINE_SHAPE} (map a dict to a tuple)")
        image, label = spec
        if label.dtype != tf.string and not label.dtype.is_integer:
            raise SpaceError(f"{field} has {label.dtype.name} labels; allowed: integer class indices or strings "
                             f"(one-hot labels: tf.argmax them in your pipeline)")
        if label.shape.rank not in (0, 1):
            raise SpaceError(f"{field} has labels of shape {label.shape}; allowed: one label per image "
                             f"(shape () unbatched, (batch,) batched)")
        batched = label.shape.rank == 1
        shape = image.shape[1:] if batched else image.shape
        if shape.rank not in (2, 3) or not shape.is_fully_defined() or not (image.dtype.is_integer or image.dtype.is_floating):
            raise SpaceError(f"{field} yields images {image.shape} of {image.dtype.name} "
                             f"({'batched' if batched else 'unbatched'}, from the labels' shape {label.shape}); "
                             f"allowed: numeric images (h, w) or (h, w, c) of one fixed size (resize in the pipeline)")
        if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise SpaceError(f"{field} is infinite (a .repeat()); allowed: a finite dataset, one pass per epoch")
        unbatched = dataset.unbatch() if batched else dataset
        if shape.rank == 2:
            unbatched = unbatched.map(lambda x, y: (x[..., tf.newaxis], y))
        elements.append(unbatched)
        specs.append(PipelineSpec((*shape.as_list(), 1) if shape.rank == 2 else tuple(shape.as_list()),
                                  image.dtype, label.dtype))
    def kind(spec: PipelineSpec) -> tuple[Any, ...]:  # int32 and int64 labels, uint8 and float images go together
        return spec.image_shape, spec.label_dtype == tf.string

    for name, spec in zip(names[1:], specs[1:]):
        if kind(spec) != kind(specs[0]):
            raise SpaceError(f"field `data` of {where}: the {name} tf.data.Dataset yields {spec.image_shape} "
                             f"{spec.image_dtype.name} images with {spec.label_dtype.name} labels, the train one "
                             f"{specs[0].image_shape} {specs[0].image_dtype.name} with {specs[0].label_dtype.name}; "
                             f"allowed: the same for every part")
    return elements, specs[0]


@dataclass
class Scan:
    """One pass over a pipeline: labels in its order, a digest per element, the digest of the whole."""

    labels: np.ndarray
    keys: list[bytes]
    sha256: str


def scan(elements: tf.data.Dataset, step: str, progress: Progress | None = None) -> Scan:
    labels, keys, digest = [], [], hashlib.sha256()
    for x, y in elements.batch(CHUNK).as_numpy_iterator():
        digest.update(x.tobytes())
        y = np.array([v.decode() for v in y]) if y.dtype == object else y
        digest.update("\0".join(map(str, y.tolist())).encode())
        keys += [hashlib.sha1(row.tobytes()).digest() for row in x]
        labels.append(y)
        if progress is not None:
            progress(step, len(keys), len(keys))
    return Scan(np.concatenate(labels) if labels else np.zeros(0, dtype="int64"), keys, digest.hexdigest())


def check_same_order(elements: tf.data.Dataset, first: Scan, what: str, where: str) -> None:
    """Refuse a part that yields another order on its next pass: predictions are paired with labels by place."""
    again = next(elements.batch(CHUNK).as_numpy_iterator(), (np.zeros(0),))[0]
    if [hashlib.sha1(row.tobytes()).digest() for row in again] != first.keys[:len(again)]:
        raise SpaceError(f"field `data` of {where}: the {what} tf.data.Dataset yields another order on each pass "
                         f"(a shuffle); allowed: a fixed order there (gridsearch pairs predictions with labels by "
                         f"place, and shuffles the training part itself every epoch)")


class TensorStream:
    """One part of the split read from a user's pipeline: its elements, or those at the `keep` positions."""

    def __init__(self, elements: tf.data.Dataset, size: int, encode: Callable[[tf.Tensor], tf.Tensor],
                 keep: np.ndarray | None = None) -> None:
        self.elements, self.size, self.encode, self.keep = elements, size, encode, keep

    def __len__(self) -> int:
        return self.size

    def images(self, shuffle_seed: int | None) -> tf.data.Dataset:
        """(image, encoded label) pairs, in the pipeline's order or shuffled every epoch when a seed is given."""
        elements = self.elements
        if self.keep is not None:
            keep = tf.constant(self.keep)
            elements = elements.enumerate().filter(lambda i, _: tf.gather(keep, i)).map(lambda _, pair: pair)
        elements = elements.map(lambda x, y: (x, self.encode(y)), num_parallel_calls=tf.data.AUTOTUNE)
        # the length known, Keras counts the steps and does not warn "Your input ran out of data" at the end of
        # each first epoch, as it does for a dataset of unknown length (keras-team/keras#23360)
        elements = elements.apply(tf.data.experimental.assert_cardinality(self.size))
        if shuffle_seed is None:
            return elements
        return elements.shuffle(min(self.size, SHUFFLE_BUFFER), seed=shuffle_seed, reshuffle_each_iteration=True)


def label_encoder(classes: list[Any], dtype: tf.DType) -> Callable[[tf.Tensor], tf.Tensor]:
    """Original label -> index into `classes` (their sorted order), as a lookup inside the pipeline."""
    strings = dtype == tf.string
    keys = tf.constant(classes, dtype=tf.string if strings else tf.int64)
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, tf.range(len(classes), dtype=tf.int64)),
                                      default_value=-1)
    return lambda y: table.lookup(y if strings else tf.cast(y, tf.int64))


def read_npy(path: Path, where: str) -> np.ndarray:
    """An .npy file memory-mapped (`np.load(mmap_mode="r")`): its pages are read when a batch needs them."""
    if path.suffix != ".npy":
        raise SpaceError(f"data file {path} named in field `data` of {where} is not an .npy file; allowed: "
                         f"data=('x.npy', 'y.npy')")
    if not path.is_file():
        raise SpaceError(f"data file {path} named in field `data` of {where} does not exist")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SpaceError(f"data file {path} named in field `data` of {where} could not be memory-mapped as .npy: "
                         f"{exc}") from None


class MappedStream:
    """One part of the split of a memory-mapped array: its indices are shuffled, the rows read batch by batch."""

    def __init__(self, x: np.ndarray, indices: np.ndarray, labels: np.ndarray) -> None:
        self.x, self.indices, self.labels = x, indices, labels

    def __len__(self) -> int:
        return len(self.indices)

    def rows(self, indices: np.ndarray) -> np.ndarray:
        rows = np.asarray(self.x[np.asarray(indices)])
        return rows[..., np.newaxis] if rows.ndim == 3 else rows

    def chunks(self, indices: np.ndarray) -> Iterator[np.ndarray]:
        for start in range(0, len(indices), CHUNK):
            yield self.rows(indices[start:start + CHUNK])

    def images(self, shuffle_seed: int | None) -> tf.data.Dataset:
        pairs = tf.data.Dataset.from_tensor_slices((self.indices, self.labels))
        if shuffle_seed is not None:  # the indices, not the images: the whole part at no memory cost
            pairs = pairs.shuffle(len(self), seed=shuffle_seed, reshuffle_each_iteration=True)
        shape = (None, *self.rows(self.indices[:1]).shape[1:])

        def read(i: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            x = tf.numpy_function(self.rows, [i], tf.as_dtype(self.x.dtype), stateful=False)
            return tf.ensure_shape(x, shape), y

        rows = pairs.batch(CHUNK).map(read, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        return rows.apply(tf.data.experimental.assert_cardinality(len(self)))  # as above (keras-team/keras#23360)
