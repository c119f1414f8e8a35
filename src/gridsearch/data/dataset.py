"""Data: read a source once, encode labels, split once; inputs prepared per trial from training statistics.

The split is stratified and seeded and shared by every trial of a run; the test split is only touched to
score the final winner. Arrays (digits, .npz, a callable) stay in memory, with one prepared copy at a time
(the setting the running trials use). An image folder is a file list, split as a list and streamed from
disk through tf.data (`pipeline.py`): memory is bounded by the pipeline, not by the data set. Two more
sources stream the same way (`streams.py`): .npy files through memory maps, split as lists of row indices,
and a user's own tf.data pipelines, whose split is theirs.
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

__all__ = ["EVALUATE_BATCH", "IMAGE_SUFFIXES", "ArrayDataset", "Dataset", "Feed", "FolderDataset", "MappedDataset",
           "PipelineDataset", "image_reading", "load_dataset"]

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


class StreamedDataset(Dataset):
    """Images read part by part through tf.data (`self._streams`, one per part), prepared batch by batch."""

    streams = True
    _streams: dict[str, Any]
    progress: Progress | None = None

    def _chunks(self, part: str, pick: np.ndarray) -> Iterator[np.ndarray]:
        """The raw images at the sorted positions `pick` of a part, CHUNK at a time."""
        raise NotImplementedError

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


class FolderDataset(StreamedDataset):
    """An image folder's files, split as a list; images are decoded by the tf.data pipeline as it runs."""

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

    def _chunks(self, part: str, pick: np.ndarray) -> Iterator[np.ndarray]:
        from gridsearch.data.pipeline import read_images

        paths = [self.files.paths[i] for i in self.parts[part][pick]]
        for start in range(0, len(paths), CHUNK):
            yield read_images(self.files.root, paths[start:start + CHUNK], self.image_size, self.input_shape[-1])

    def content_keys(self, part: str, other: str) -> tuple[list[bytes], list[bytes]]:
        return self.files.content_keys(self.parts[part], self.parts[other])


class MappedDataset(StreamedDataset):
    """Images of a memory-mapped .npy file: each part is a list of row indices, rows read batch by batch."""

    def __init__(self, x: np.ndarray, parts: dict[str, np.ndarray], labels: np.ndarray, classes: list[Any]) -> None:
        from gridsearch.data.streams import MappedStream

        super().__init__()
        self.x, self.parts, self.classes, self.source_order_y = x, parts, classes, labels
        self.y_train, self.y_val, self.y_test = (labels[parts[p]] for p in PARTS)
        self.input_shape = (*x.shape[1:], 1) if x.ndim == 3 else tuple(x.shape[1:])
        self.item_bytes = x.dtype.itemsize
        self._streams = {p: MappedStream(x, parts[p], labels[parts[p]]) for p in PARTS}

    @cached_property
    def sha256(self) -> str:
        """The rows' content, hashed CHUNK rows at a time (the file is never read whole), and the split."""
        digest = hashlib.sha256(repr((self.classes, self.x.dtype.str, self.x.shape)).encode())
        for chunk in self._streams["train"].chunks(np.arange(len(self.x))):
            digest.update(np.ascontiguousarray(chunk).data)
        digest.update(self.source_order_y.tobytes())
        for part in PARTS:
            digest.update(f"\n[{part}]\n".encode() + self.parts[part].tobytes())
        return digest.hexdigest()

    def _chunks(self, part: str, pick: np.ndarray) -> Iterator[np.ndarray]:
        return self._streams[part].chunks(self.parts[part][pick])

    def content_keys(self, part: str, other: str) -> tuple[list[bytes], list[bytes]]:
        return tuple([hashlib.sha1(row.tobytes()).digest() for chunk in self._chunks(p, np.arange(len(self.labels(p))))
                      for row in chunk] for p in (part, other))


class PipelineDataset(StreamedDataset):
    """A user's tf.data pipelines, their split kept: (train, validation, test), or (train, validation) with the
    test part taken out of the training pipeline (stratified, seeded, by position)."""

    def __init__(self, elements: dict[str, Any], scans: dict[str, Any], keep: np.ndarray | None, spec: Any,
                 classes: list[Any], encoded: dict[str, np.ndarray], sha256: str,
                 progress: Progress | None = None) -> None:
        from gridsearch.data.streams import TensorStream, label_encoder

        super().__init__()
        self.classes, self.spec, self.sha256, self.progress = classes, spec, sha256, progress
        self.input_shape, self.item_bytes = spec.image_shape, spec.image_dtype.size
        self.source_order_y = encoded["train"]
        encode = label_encoder(classes, spec.label_dtype)
        self._keys = {p: scans[p].keys for p in scans}
        if keep is None:
            self.y_train, self.y_val, self.y_test = (encoded[p] for p in PARTS)
            self._streams = {p: TensorStream(elements[p], len(encoded[p]), encode) for p in PARTS}
        else:
            self.y_train, self.y_val, self.y_test = encoded["train"][keep], encoded["val"], encoded["train"][~keep]
            self._keys["test"] = [k for k, kept in zip(self._keys["train"], keep) if not kept]
            self._keys["train"] = [k for k, kept in zip(self._keys["train"], keep) if kept]
            self._streams = {"train": TensorStream(elements["train"], int(keep.sum()), encode, keep),
                             "val": TensorStream(elements["val"], len(self.y_val), encode),
                             "test": TensorStream(elements["train"], int((~keep).sum()), encode, ~keep)}

    def _picked(self, part: str, pick: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(images, labels) at the sorted positions `pick` of a part, read together in one pass that stops
        after the last: a training pipeline that shuffles itself still gives each image its own label."""
        if not len(pick):
            return
        start = 0
        for x, y in self._streams[part].images(None).batch(CHUNK).as_numpy_iterator():
            chosen = pick[(pick >= start) & (pick < start + len(x))] - start
            if len(chosen):
                yield x[chosen], y[chosen]
            start += len(x)
            if start > pick[-1]:
                return

    def _chunks(self, part: str, pick: np.ndarray) -> Iterator[np.ndarray]:
        return (x for x, _ in self._picked(part, pick))

    def sample(self, config: dict[str, Any] | None, part: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        pick = np.sort(np.random.default_rng(seed).permutation(len(self.labels(part)))[:n])
        pairs = list(self._picked(part, pick))
        x = np.concatenate([x for x, _ in pairs]) if pairs else np.zeros((0, *self.input_shape), dtype="float32")
        y = np.concatenate([y for _, y in pairs]) if pairs else np.zeros(0, dtype="int64")
        return (x if config is None else self.normalizer(config)(x)), y

    def content_keys(self, part: str, other: str) -> tuple[list[bytes], list[bytes]]:
        return self._keys[part], self._keys[other]


def load_dataset(source: Any, *, seed: int, validation_split: float, test_split: float,
                 folder: Path, options: dict[str, Any] | None = None, where: str = "the space",
                 cache_dir: Path | None = None, progress: Progress | None = None) -> Dataset:
    """Read the space's `data`, then split it once. Errors name the source and the reason.

    `cache_dir`: where `data_options['cache'] = 'file'` writes an image folder's cache (results/<name>/).
    `progress`: told how listing an image folder and its statistics go (a reporter's `data_progress`).
    """
    options = options or {}
    if _is_npy_pair(source):
        return _load_mapped(source, folder, seed, validation_split, test_split, where)
    path = _path(source, folder, where)
    if path is not None and path.is_dir():
        return _load_folder(path, seed, validation_split, test_split, options, where, cache_dir, progress)
    arrays = _read(source, path, options, where)
    from gridsearch.data.streams import is_pipeline

    if any(map(is_pipeline, arrays)):
        return _load_pipelines(arrays, seed, test_split, where, progress)
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
    parts = _split_positions(files.labels, seed, validation_split, test_split, where)
    return FolderDataset(files, parts, image_size, color_mode, cache, cache_dir, progress)


def _split_positions(labels: np.ndarray, seed: int, validation_split: float, test_split: float,
                     where: str) -> dict[str, np.ndarray]:
    """The split of a list (files, rows of a memory map) as positions into it, stratified by `labels`."""
    rest, test, y_rest, _ = _stratified_split(np.arange(len(labels)), labels, test_split, seed, where, "test")
    train, val, _, _ = _stratified_split(rest, y_rest, validation_split, seed, where, "validation")
    return {"train": train, "val": val, "test": test}


def _is_npy_pair(source: Any) -> bool:
    return (isinstance(source, (tuple, list)) and len(source) == 2
            and all(isinstance(s, (str, Path)) and Path(s).suffix == ".npy" for s in source))


def _load_mapped(source: tuple[Any, Any], folder: Path, seed: int, validation_split: float, test_split: float,
                 where: str) -> MappedDataset:
    from gridsearch.data.streams import read_npy

    x, y = (read_npy(Path(s) if Path(s).is_absolute() else folder / s, where) for s in source)
    if x.ndim not in (3, 4) or not np.issubdtype(x.dtype, np.number):
        raise SpaceError(f"data file {source[0]} named in field `data` of {where} holds {x.dtype} of shape {x.shape}; "
                         f"allowed: numeric images (n, height, width) or (n, height, width, channels)")
    classes, labels = _encode(as_labels(np.asarray(y), len(x), where), where)
    return MappedDataset(x, _split_positions(labels, seed, validation_split, test_split, where), labels, classes)


def _load_pipelines(datasets: tuple[Any, ...], seed: int, test_split: float, where: str,
                    progress: Progress | None) -> PipelineDataset:
    """Check the pipelines, read each once (labels, digests, identity); a fixed order where positions matter."""
    from gridsearch.data.streams import check_pipelines, check_same_order, scan

    elements, spec = check_pipelines(datasets, where)
    names = dict(zip(PARTS, ("train", "validation", "test")[: len(elements)]))
    elements = dict(zip(names, elements))
    scans = {p: scan(elements[p], f"reading the {what} tf.data.Dataset", progress) for p, what in names.items()}
    for part, what in names.items():
        if not len(scans[part].labels):
            raise SpaceError(f"field `data` of {where}: the {what} tf.data.Dataset is empty")
        if part != "train" or len(names) == 2:  # the test part is taken from the training pipeline by position
            check_same_order(elements[part], scans[part], what, where)
    classes, y_all = _encode(np.concatenate([scans[p].labels for p in names]), where)
    encoded = dict(zip(names, np.split(y_all, np.cumsum([len(scans[p].labels) for p in names])[:-1])))
    keep = None
    if len(names) == 2:
        keep = np.zeros(len(encoded["train"]), dtype=bool)
        keep[_stratified_split(np.arange(len(keep)), encoded["train"], test_split, seed, where, "test")[0]] = True
    digest = hashlib.sha256(repr((spec, classes)).encode())
    for part in names:
        digest.update(f"\n[{part}]\n{scans[part].sha256}".encode())
    digest.update(b"" if keep is None else keep.tobytes())
    return PipelineDataset(elements, scans, keep, spec, classes, encoded, digest.hexdigest(), progress)


def _path(source: Any, folder: Path, where: str) -> Path | None:
    if callable(source) or source == "digits":
        return None
    if not isinstance(source, (str, Path)):
        raise SpaceError(f"data={source!r} in {where} is not allowed: use 'digits', a path to an .npz file "
                         f"or an image folder, two .npy files ('x.npy', 'y.npy'), or a callable returning arrays "
                         f"or tf.data.Datasets")
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
