"""The tf.data pipeline of an image folder: list once, decode and resize in parallel, batch, prefetch.

Images stay uint8 from the decoder to the batch (a 160x160 RGB image is 77 KB, four times less than as
float32); each batch is prepared (cast, grayscale, normalised) as the pipeline's last map, so no prepared
copy of the data set exists. The decoded images of train and validation are cached when the run asks
(`data_options['cache']`): in memory, in a file under results/<name>/, or not at all; the automatic
default caches in memory only what fits MEMORY_CACHE_BUDGET.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from gridsearch.data.preparation import Normalizer

CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
CACHE_CHOICES = ("auto", "memory", "file", "none")
# Decoded train+validation images up to this size are kept in memory by cache="auto": 4,500 images at
# 160x160 (276 MB) are, 20,000 at 224x224 (2.4 GB) are not (decoding them again each epoch costs about
# what the plain Keras pipeline pays every epoch).
MEMORY_CACHE_BUDGET = 512 * 2**20
SHUFFLE_BUFFER = 1024  # images, after a cache: a full shuffle would hold a second copy of the cache


def decode_image(data: tf.Tensor, image_size: Sequence[int], channels: int) -> tf.Tensor:
    """Like keras.utils.image_dataset_from_directory (decode_image, bilinear resize), then rounded to uint8:
    the one decoder of training and of `predict`, so a saved model sees new images as it saw its own."""
    image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    image = tf.image.resize(image, image_size, method="bilinear")
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def read_images(root: Path, paths: Sequence[str], image_size: Sequence[int], channels: int) -> np.ndarray:
    """Decode a few files into one uint8 array (samples, probes, the sklearn backend)."""
    files = tf.data.Dataset.from_tensor_slices([str(root / p) for p in paths])
    decoded = files.map(lambda f: decode_image(tf.io.read_file(f), image_size, channels),
                        num_parallel_calls=tf.data.AUTOTUNE)
    if not paths:
        return np.zeros((0, *image_size, channels), dtype="uint8")
    return np.stack(list(decoded.as_numpy_iterator()))


def cache_mode(choice: str, decoded_bytes: int) -> str:
    if choice != "auto":
        return choice
    return "memory" if decoded_bytes <= MEMORY_CACHE_BUDGET else "none"


class ImageStream:
    """One part of the split (train, validation or test) as decoded uint8 images, cached if asked."""

    def __init__(self, root: Path, paths: Sequence[str], labels: np.ndarray, image_size: Sequence[int],
                 channels: int, cache: str = "none", cache_file: Path | None = None) -> None:
        self.root, self.paths, self.labels = root, list(paths), np.asarray(labels)
        self.image_size, self.channels, self.cache = tuple(image_size), channels, cache
        self._files = tf.data.Dataset.from_tensor_slices(([str(root / p) for p in self.paths], self.labels))
        self._decoded = self._files.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE)
        if cache == "memory":  # kept by this object: every trial's epochs after the first read from it
            self._decoded = self._decoded.cache()
        elif cache == "file":
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            self._decoded = self._decoded.cache(str(cache_file))

    def _decode(self, file: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return decode_image(tf.io.read_file(file), self.image_size, self.channels), label

    def __len__(self) -> int:
        return len(self.paths)

    def images(self, shuffle_seed: int | None) -> tf.data.Dataset:
        """(uint8 image, label) pairs; shuffled every epoch when a seed is given."""
        if shuffle_seed is None:
            return self._decoded
        if self.cache == "none":  # shuffle the file names, not images: the whole list at no memory cost
            return self._files.shuffle(len(self), seed=shuffle_seed, reshuffle_each_iteration=True).map(
                self._decode, num_parallel_calls=tf.data.AUTOTUNE)
        return self._decoded.shuffle(min(len(self), SHUFFLE_BUFFER), seed=shuffle_seed, reshuffle_each_iteration=True)


def batches(streams: Sequence[ImageStream], batch_size: int, normalizer: Normalizer | None,
            shuffle_seed: int | None = None) -> tf.data.Dataset:
    """The batches a fit, evaluate or predict reads: prepared by `normalizer` (None: raw uint8), prefetched."""
    images = streams[0].images(shuffle_seed)
    for stream in streams[1:]:
        images = images.concatenate(stream.images(shuffle_seed))
    if len(streams) > 1 and shuffle_seed is not None:  # parts joined: mix them
        images = images.shuffle(min(sum(map(len, streams)), SHUFFLE_BUFFER), seed=shuffle_seed)
    images = images.batch(batch_size)
    if normalizer is not None:
        offset = tf.constant(np.asarray(normalizer.offset, dtype="float32"))
        scale = tf.constant(np.asarray(normalizer.scale, dtype="float32"))

        def prepare(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            x = tf.cast(x, tf.float32)
            if normalizer.grayscale:
                x = tf.reduce_mean(x, axis=-1, keepdims=True)
            return (x - offset) / scale, y

        images = images.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return images.prefetch(tf.data.AUTOTUNE)
