"""Data: read a source once, encode labels, split once; inputs prepared per trial from training statistics.

The split is stratified and seeded and shared by every trial of a run; the test split is only touched to
score the final winner. Arrays (digits, .npz, a callable) stay in memory, with one prepared copy at a time
(the setting the running trials use). An image folder is a file list, split as a list and streamed from
disk through tf.data (`pipeline.py`): memory is bounded by the pipeline, not by the data set.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from gridsearch.data.arrays import as_images, as_labels, call_loader, read_digits, read_npz
from gridsearch.data.folder import IMAGE_SUFFIXES, ImageFiles, Progress, folder_options, list_image_folder
from gridsearch.data.preparation import PREPARATION_SAMPLES, Normalizer, preparation_key
from gridsearch.errors import SpaceError

__all__ = ["EVALUATE_BATCH", "IMAGE_SUFFIXES", "ArrayDataset", "Dataset", "Feed", "image_reading", "load_dataset"]

PARTS = ("train", "val", "test")
EVALUATE_BATCH = 32  # Keras' default batch size of evaluate and predict
RANGE_SAMPLE = 1000  # training images read for the value range of a stream: its extremes, not statistics
CHUNK = 128  # images decoded at once for a sample or the statistics: 10 MB at 160x160


@dataclass
class Feed:
    """What one fit, evaluate or predict call reads: arrays and a batch size, or a tf.data pipeline of batches."""

    x: Any
    y: np.ndarray | None = None
    batch_size: int | None = None

    def fit_kwargs(self, shuffle: bool | None = None) -> dict[str, Any]:
        """`shuffle`: for `fit`, whether Keras shuffles arrays (a pipeline shuffles itself: Keras would warn)."""
        if self.y is None:
            return {"x": self.x} if shuffle is None else {"x": self.x, "shuffle": False}
        kwargs = {"x": self.x, "y": self.y, "batch_size": self.batch_size}
        return kwargs if shuffle is None else {**kwargs, "shuffle": shuffle}

    def validation_data(self) -> Any:
        return self.x if self.y is None else (self.x, self.y)


class Dataset:
    """The split: labels of each part, the raw images' shape, the data's identity, and each trial's inputs."""

    classes: list[Any]  # original label values; index i is encoded label i
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, ...]  # one raw image, before any preparation
    source_order_y: np.ndarray | None = None  # encoded labels in the source's order, before the split (pre-flight)
    streams = False  # True: the images are read from disk batch by batch
    item_bytes = 4  # of one raw pixel value as held
    sha256: str  # the data's identity: what reuse and resume key on

    def __init__(self) -> None:
        self._normalizers: dict[tuple[str, bool], Normalizer] = {}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def majority_rate(self) -> float:
        return float(np.bincount(self.y_train, minlength=self.num_classes).max() / len(self.y_train))

    def labels(self, part: str) -> np.ndarray:
        return {"train": self.y_train, "val": self.y_val, "test": self.y_test}[part]

    def normalizer(self, config: dict[str, Any]) -> Normalizer:
        """The preparation a trial asks for, its statistics from the training split, fitted once per setting."""
        key = preparation_key(config)
        if key not in self._normalizers:
            self._normalizers[key] = self._fit_normalizer(*key)
        return self._normalizers[key]

    def prepared_shape(self, config: dict[str, Any]) -> tuple[int, ...]:
        """The shape of one input as the model gets it (one channel after grayscale)."""
        return self.normalizer(config).prepared_shape(self.input_shape)

    def sample(self, config: dict[str, Any] | None, part: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """A seeded draw of at most n images of a part (in their order in the part), prepared for `config`
        (None: raw): probes and pre-flight checks read this, never the whole data set."""
        y = self.labels(part)
        pick = np.sort(np.random.default_rng(seed).permutation(len(y))[:n])
        x = self._raw(part, pick)
        return (x if config is None else self.normalizer(config)(x)), y[pick]

    def value_range(self) -> tuple[float, float]:
        """The raw training images' smallest and largest value (from the bounded sample for a stream), kept
        with the winner so that `predict` can warn about inputs scaled otherwise."""
        x, _ = self.sample(None, "train", RANGE_SAMPLE, 0)
        return float(x.min()), float(x.max())

    def _fit_normalizer(self, method: str, grayscale: bool) -> Normalizer:
        raise NotImplementedError

    def _raw(self, part: str, pick: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def feed(self, config: dict[str, Any] | None, parts: tuple[str, ...], batch_size: int,
             shuffle_seed: int | None = None) -> Feed:
        """The parts' images prepared for `config` (None: raw), as a fit, evaluate or predict call reads them;
        a stream is shuffled every epoch when `shuffle_seed` is given (arrays are shuffled by `fit`)."""
        raise NotImplementedError

    def predict_kwargs(self, part: str) -> dict[str, Any]:
        """A part's raw images as `predict` of a model with its preparation inside takes them."""
        feed = self.feed(None, (part,), EVALUATE_BATCH)
        return {"x": feed.x, "batch_size": feed.batch_size}

    def content_keys(self, part: str, other: str) -> tuple[list[bytes], list[bytes]]:
        """One key per sample of each part, equal for identical images (the duplicate check)."""
        raise NotImplementedError

    def decoded_bytes(self, parts: tuple[str, ...] = ("train", "val")) -> int:
        """Memory the parts' raw images take as arrays (the sklearn backend's budget)."""
        return int(sum(len(self.labels(p)) for p in parts) * np.prod(self.input_shape) * self.item_bytes)


class ArrayDataset(Dataset):
    """Images held in memory as float32 arrays."""

    def __init__(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                 x_test: np.ndarray, y_test: np.ndarray, classes: list[Any],
                 source_order_y: np.ndarray | None = None) -> None:
        super().__init__()
        self.x_train, self.x_val, self.x_test = x_train, x_val, x_test
        self.y_train, self.y_val, self.y_test = y_train, y_val, y_test
        self.classes, self.source_order_y = classes, source_order_y
        self.input_shape = tuple(x_train.shape[1:])
        self._prepared: tuple[tuple[str, bool], dict[str, np.ndarray]] | None = None

    @cached_property
    def sha256(self) -> str:
        """The split's content: trials trained on other data (a regenerated .npz) are never reused for this data."""
        digest = hashlib.sha256(repr(self.classes).encode())
        for array in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            digest.update(repr((array.dtype.str, array.shape)).encode())
            digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()

    def images(self, part: str) -> np.ndarray:
        return {"train": self.x_train, "val": self.x_val, "test": self.x_test}[part]

    def prepared(self, config: dict[str, Any], part: str) -> np.ndarray:
        """A part prepared for `config`; only the latest setting's copy is kept (stages tune one at a time)."""
        key = preparation_key(config)
        if self._prepared is None or self._prepared[0] != key:
            self._prepared = None  # the old copy goes before the new one is made
            normalizer = self.normalizer(config)
            self._prepared = (key, {p: normalizer(self.images(p)) for p in PARTS})
        return self._prepared[1][part]

    def prepared_split(self, config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x_train, x_val, x_test) prepared for `config` (benchmarks and tests that fit Keras themselves)."""
        return tuple(self.prepared(config, part) for part in PARTS)

    def _fit_normalizer(self, method: str, grayscale: bool) -> Normalizer:
        return Normalizer.fit(self.x_train, method, grayscale)

    def _raw(self, part: str, pick: np.ndarray) -> np.ndarray:
        return self.images(part)[pick]

    def value_range(self) -> tuple[float, float]:
        return float(self.x_train.min()), float(self.x_train.max())  # in memory already: all of it

    def sample(self, config: dict[str, Any] | None, part: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        if config is None or n < len(self.labels(part)):
            return super().sample(config, part, n, seed)
        return self.prepared(config, part), self.labels(part)  # all of it: the copy there is

    def feed(self, config: dict[str, Any] | None, parts: tuple[str, ...], batch_size: int,
             shuffle_seed: int | None = None) -> Feed:
        xs = [self.images(p) if config is None else self.prepared(config, p) for p in parts]
        ys = [self.labels(p) for p in parts]
        if len(parts) == 1:
            return Feed(xs[0], ys[0], batch_size)
        return Feed(np.concatenate(xs), np.concatenate(ys), batch_size)

    def content_keys(self, part: str, other: str) -> tuple[list[bytes], list[bytes]]:
        return tuple([row.tobytes() for row in np.ascontiguousarray(self.images(p)).reshape(len(self.labels(p)), -1)]
                     for p in (part, other))


class FolderDataset(Dataset):
    """An image folder's files, split as a list; images are decoded by the tf.data pipeline as it runs."""

    streams = True
    item_bytes = 1  # uint8 until inside the model

    def __init__(self, files: ImageFiles, parts: dict[str, np.ndarray], image_size: tuple[int, int],
                 color_mode: str, cache: str, cache_dir: Path | None, progress: Progress | None = None) -> None:
        from gridsearch.data.pipeline import CHANNELS, ImageStream, cache_mode

        super().__init__()
        self.files, self.parts, self.progress = files, parts, progress
        self.classes = list(files.classes)
        self.y_train, self.y_val, self.y_test = (files.labels[parts[p]] for p in PARTS)
        self.image_size, self.color_mode = image_size, color_mode
        self.input_shape = (*image_size, CHANNELS[color_mode])
        self.cache = cache_mode(cache, self.decoded_bytes())
        self._streams = {
            p: ImageStream(files.root, [files.paths[i] for i in parts[p]], files.labels[parts[p]], image_size,
                           self.input_shape[-1], self.cache if p != "test" else "none",
                           (cache_dir or files.root) / f"{self.sha256[:16]}-{p}.cache")
            for p in PARTS}

    @cached_property
    def sha256(self) -> str:
        """The file list, not the pixels: paths, sizes and modification times of each part, and how they are read."""
        digest = hashlib.sha256(repr((self.classes, self.image_size, self.color_mode)).encode())
        for part in PARTS:
            digest.update(f"\n[{part}]\n".encode())
            digest.update(self.files.identity(self.parts[part]))
        return digest.hexdigest()

    def _chunks(self, part: str, pick: np.ndarray):
        from gridsearch.data.pipeline import read_images

        paths = [self.files.paths[i] for i in self.parts[part][pick]]
        for start in range(0, len(paths), CHUNK):
            yield read_images(self.files.root, paths[start:start + CHUNK], self.image_size, self.input_shape[-1])

    def _raw(self, part: str, pick: np.ndarray) -> np.ndarray:
        chunks = list(self._chunks(part, pick))
        return np.concatenate(chunks) if chunks else np.zeros((0, *self.input_shape), dtype="uint8")

    def _fit_normalizer(self, method: str, grayscale: bool) -> Normalizer:
        """One pass over a seeded sample of PREPARATION_SAMPLES training images (all of a smaller split)."""
        pick = np.sort(np.random.default_rng(0).permutation(len(self.y_train))[:PREPARATION_SAMPLES])
        return Normalizer.fit_stream(self._reported(self._chunks("train", pick), len(pick),
                                                    f"input statistics ({method}) of training images"),
                                     method, grayscale)

    def _reported(self, chunks: Iterator[np.ndarray], total: int, step: str) -> Iterator[np.ndarray]:
        done = 0
        for chunk in chunks:
            yield chunk
            done += len(chunk)
            if self.progress is not None:
                self.progress(step, done, total)

    def feed(self, config: dict[str, Any] | None, parts: tuple[str, ...], batch_size: int,
             shuffle_seed: int | None = None) -> Feed:
        from gridsearch.data.pipeline import batches

        normalizer = None if config is None else self.normalizer(config)
        return Feed(batches([self._streams[p] for p in parts], batch_size, normalizer, shuffle_seed))

    def content_keys(self, part: str, other: str) -> tuple[list[bytes], list[bytes]]:
        return self.files.content_keys(self.parts[part], self.parts[other])


def load_dataset(source: Any, *, seed: int, validation_split: float, test_split: float,
                 folder: Path, options: dict[str, Any] | None = None, where: str = "the space",
                 cache_dir: Path | None = None, progress: Progress | None = None) -> Dataset:
    """Read the space's `data`, then split it once. Errors name the source and the reason.

    `cache_dir`: where `data_options['cache'] = 'file'` writes an image folder's cache (results/<name>/).
    `progress`: told how listing an image folder and its statistics go (a reporter's `data_progress`).
    """
    options = options or {}
    path = _path(source, folder, where)
    if path is not None and path.is_dir():
        return _load_folder(path, seed, validation_split, test_split, options, where, cache_dir, progress)
    arrays = _read(source, path, options, where)
    if len(arrays) == 2:
        x, y = arrays
        x, y = as_images(x, where), as_labels(y, len(x), where)
        classes, y_enc = _encode(y, where)
        source_order_y = y_enc
        x_rest, x_test, y_rest, y_test = _stratified_split(x, y_enc, test_split, seed, where, "test")
    elif len(arrays) == 4:
        x_rest, y_rest, x_test, y_test = arrays
        x_rest, x_test = as_images(x_rest, where), as_images(x_test, where)
        y_rest, y_test = as_labels(y_rest, len(x_rest), where), as_labels(y_test, len(x_test), where)
        classes, y_all = _encode(np.concatenate([y_rest, y_test]), where)
        y_rest, y_test = y_all[: len(y_rest)], y_all[len(y_rest):]
        source_order_y = y_all
        if x_rest.shape[1:] != x_test.shape[1:]:
            raise SpaceError(f"data in {where}: train images {x_rest.shape[1:]} and test images "
                             f"{x_test.shape[1:]} differ in shape")
    else:
        raise SpaceError(f"data in {where} must give (x, y) or (x_train, y_train, x_test, y_test), "
                         f"got {len(arrays)} arrays")
    x_train, x_val, y_train, y_val = _stratified_split(x_rest, y_rest, validation_split, seed, where, "validation")
    return ArrayDataset(x_train, y_train, x_val, y_val, x_test, y_test, classes, source_order_y)


def _load_folder(path: Path, seed: int, validation_split: float, test_split: float, options: dict[str, Any],
                 where: str, cache_dir: Path | None, progress: Progress | None) -> FolderDataset:
    from gridsearch.data.pipeline import CACHE_CHOICES

    image_size, color_mode = folder_options(options)
    cache = options.get("cache", "auto")
    if cache not in CACHE_CHOICES:
        raise SpaceError(f"data_options['cache']={cache!r} in {where} is not allowed "
                         f"(allowed: {', '.join(map(repr, CACHE_CHOICES))})")
    files = list_image_folder(path, color_mode, where, progress)
    _encode(np.array(files.classes)[files.labels], where)  # at least two classes
    every = np.arange(len(files.paths))
    rest, test, y_rest, _ = _stratified_split(every, files.labels, test_split, seed, where, "test")
    train, val, _, _ = _stratified_split(rest, y_rest, validation_split, seed, where, "validation")
    return FolderDataset(files, {"train": train, "val": val, "test": test}, image_size, color_mode, cache, cache_dir,
                         progress)


def _path(source: Any, folder: Path, where: str) -> Path | None:
    if callable(source) or source == "digits":
        return None
    if not isinstance(source, (str, Path)):
        raise SpaceError(f"data={source!r} in {where} is not allowed: use 'digits', a path to an .npz file "
                         f"or an image folder, or a callable returning arrays")
    path = Path(source)
    return path if path.is_absolute() else folder / path


def _read(source: Any, path: Path | None, options: dict[str, Any], where: str) -> tuple[np.ndarray, ...]:
    if callable(source):
        return call_loader(source, where)
    if path is None:
        return read_digits()
    if path.suffix == ".npz":
        return read_npz(path, options, where)
    if not path.exists():
        if not path.suffix:  # no .npz, so an image folder is what the path names
            raise SpaceError(f"image folder {path} named in {where} does not exist (expected a folder with one "
                             f"sub-folder of images per class; a relative path is read from the space file's folder)")
        raise SpaceError(f"data file {path} named in {where} does not exist")
    raise SpaceError(f"data {path} in {where} is neither an .npz file nor an image folder")


def _encode(y: np.ndarray, where: str) -> tuple[list[Any], np.ndarray]:
    classes, encoded = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise SpaceError(f"data in {where} has {len(classes)} class; a classifier needs at least 2")
    return classes.tolist(), encoded.astype("int64")


def _stratified_split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int, where: str, what: str):
    try:
        return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=y, shuffle=True)
    except ValueError as exc:
        raise SpaceError(f"data in {where} cannot be split into a stratified {what} part: {exc} "
                         f"(every class needs a few samples)") from None


def image_reading(source: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any] | None:
    """How an image-folder source was decoded (size, colour mode), so new images can be read the same way.

    None for array sources: their images were used at their own size, so new ones must match it.
    """
    if not isinstance(source, (str, Path)) or source == "digits":
        return None
    path = Path(source)
    if not (path if path.is_absolute() else folder / path).is_dir():
        return None
    image_size, color_mode = folder_options(options)
    return {"image_size": list(image_size), "color_mode": color_mode}
