"""Data: read a source once, encode labels, split once, normalise per trial from training statistics.

The split is stratified and seeded and shared by every trial of a run; the test split
is only touched to score the final winner.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from gridsearch.errors import SpaceError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
IMAGE_SIZE = (64, 64)  # an image folder's images are resized to this unless data_options says otherwise


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[Any]  # original label values; index i is encoded label i
    source_order_y: np.ndarray | None = None  # encoded labels in the source's order, before the split (pre-flight)
    _normalized: dict[tuple[str, bool], tuple[np.ndarray, ...]] = field(default_factory=dict, repr=False)
    _normalizers: dict[tuple[str, bool], Normalizer] = field(default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @cached_property
    def sha256(self) -> str:
        """The split's content: trials trained on other data (a regenerated .npz, a changed image folder)
        are never reused for this data."""
        digest = hashlib.sha256(repr(self.classes).encode())
        for array in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            digest.update(repr((array.dtype.str, array.shape)).encode())
            digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()

    @property
    def majority_rate(self) -> float:
        return float(np.bincount(self.y_train, minlength=self.num_classes).max() / len(self.y_train))

    def normalizer(self, method: str, grayscale: bool = False) -> Normalizer:
        """The preparation a trial asks for, its statistics from the training split, fitted once per setting."""
        key = (method, grayscale)
        if key not in self._normalizers:
            self._normalizers[key] = Normalizer.fit(self.x_train, method, grayscale)
        return self._normalizers[key]

    def normalized(self, method: str, grayscale: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x_train, x_val, x_test) prepared the way a trial asks, computed once per setting."""
        key = (method, grayscale)
        if key not in self._normalized:
            normalizer = self.normalizer(method, grayscale)
            self._normalized[key] = tuple(normalizer(x) for x in (self.x_train, self.x_val, self.x_test))
        return self._normalized[key]


@dataclass(frozen=True)
class Normalizer:
    """Input preparation whose statistics come from the training split only."""

    method: str
    grayscale: bool
    offset: np.ndarray | float
    scale: np.ndarray | float

    @classmethod
    def fit(cls, x_train: np.ndarray, method: str, grayscale: bool = False) -> Normalizer:
        x = _to_gray(x_train) if grayscale else x_train
        if method == "scale":
            low, high = float(x.min()), float(x.max())
            return cls(method, grayscale, low, (high - low) or 1.0)
        if method == "standardize":
            std = x.std(axis=0)
            return cls(method, grayscale, x.mean(axis=0), np.where(std > 0, std, 1.0))
        if method == "mean_subtract":
            return cls(method, grayscale, x.mean(axis=0), 1.0)
        return cls(method, grayscale, 0.0, 1.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _to_gray(x) if self.grayscale else x
        return ((x - self.offset) / self.scale).astype("float32")

    def to_npz(self) -> bytes:
        """The statistics as .npz bytes (preparation.npz of a results folder), readable without pickle."""
        buffer = io.BytesIO()
        np.savez(buffer, method=np.array(self.method), grayscale=np.array(self.grayscale),
                 offset=np.asarray(self.offset, dtype="float32"), scale=np.asarray(self.scale, dtype="float32"))
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, path: Path) -> Normalizer:
        try:
            with np.load(path, allow_pickle=False) as npz:
                return cls(str(npz["method"]), bool(npz["grayscale"]), npz["offset"], npz["scale"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise SpaceError(f"input preparation {path} could not be read: {exc}") from None


def _to_gray(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=-1, keepdims=True)


def load_dataset(source: Any, *, seed: int, validation_split: float, test_split: float,
                 folder: Path, options: dict[str, Any] | None = None, where: str = "the space") -> Dataset:
    """Read the space's `data`, then split it once. Errors name the source and the reason."""
    arrays = _read(source, folder, options or {}, where)
    if len(arrays) == 2:
        x, y = arrays
        x, y = _as_images(x, where), _as_labels(y, len(x), where)
        classes, y_enc = _encode(y, where)
        source_order_y = y_enc
        x_rest, x_test, y_rest, y_test = _stratified_split(x, y_enc, test_split, seed, where, "test")
    elif len(arrays) == 4:
        x_rest, y_rest, x_test, y_test = arrays
        x_rest, x_test = _as_images(x_rest, where), _as_images(x_test, where)
        y_rest, y_test = _as_labels(y_rest, len(x_rest), where), _as_labels(y_test, len(x_test), where)
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
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, classes, source_order_y)


def _read(source: Any, folder: Path, options: dict[str, Any], where: str) -> tuple[np.ndarray, ...]:
    if callable(source):
        try:
            result = source()
        except Exception as exc:
            raise SpaceError(f"data loader in {where} raised {type(exc).__name__}: {exc}") from None
        if not isinstance(result, (tuple, list)):
            raise SpaceError(f"data loader in {where} must return (x, y) or (x_train, y_train, x_test, y_test), "
                             f"got {type(result).__name__}")
        return tuple(result)
    if source == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        return digits.images, digits.target
    if not isinstance(source, (str, Path)):
        raise SpaceError(f"data={source!r} in {where} is not allowed: use 'digits', a path to an .npz file "
                         f"or an image folder, or a callable returning arrays")
    path = Path(source)
    path = path if path.is_absolute() else folder / path
    if path.suffix == ".npz":
        return _read_npz(path, options, where)
    if path.is_dir():
        return _read_image_folder(path, options, where)
    if not path.exists():
        if not path.suffix:  # no .npz, so an image folder is what the path names
            raise SpaceError(f"image folder {path} named in {where} does not exist (expected a folder with one "
                             f"sub-folder of images per class; a relative path is read from the space file's folder)")
        raise SpaceError(f"data file {path} named in {where} does not exist")
    raise SpaceError(f"data {path} in {where} is neither an .npz file nor an image folder")


def _read_npz(path: Path, options: dict[str, Any], where: str) -> tuple[np.ndarray, ...]:
    if not path.is_file():
        raise SpaceError(f"data file {path} named in {where} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            x_key, y_key = options.get("x_key", "x"), options.get("y_key", "y")
            if {"x_train", "y_train", "x_test", "y_test"} <= keys and x_key not in keys:
                return tuple(npz[k] for k in ("x_train", "y_train", "x_test", "y_test"))
            missing = [k for k in (x_key, y_key) if k not in keys]
            if missing:
                raise SpaceError(f"data file {path} named in {where} has no array {missing[0]!r} "
                                 f"(it has {sorted(keys)}); "
                                 f"name the keys with data_options={{'x_key': ..., 'y_key': ...}}")
            return npz[x_key], npz[y_key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SpaceError(f"data file {path} named in {where} could not be read as .npz: {exc}") from None


def _read_image_folder(path: Path, options: dict[str, Any], where: str) -> tuple[np.ndarray, ...]:
    """Read with Keras' own loader, once per run, into arrays shared by every trial."""
    class_dirs = sorted(d for d in path.iterdir() if d.is_dir())
    if len(class_dirs) < 2:
        raise SpaceError(f"image folder {path} named in {where} needs one sub-folder per class (at least 2), "
                         f"found {len(class_dirs)}")
    if not any(f.suffix.lower() in IMAGE_SUFFIXES for d in class_dirs for f in d.iterdir()):
        raise SpaceError(f"image folder {path} named in {where} holds no images ({', '.join(IMAGE_SUFFIXES)}) "
                         f"in its class sub-folders")
    import keras

    size = tuple(options.get("image_size", IMAGE_SIZE))
    try:
        images = keras.utils.image_dataset_from_directory(
            path, image_size=size, color_mode=options.get("color_mode", "rgb"), batch_size=None,
            shuffle=False, label_mode="int")
        xs, ys = zip(*[(x.numpy(), int(y)) for x, y in images])
    except Exception as exc:  # a corrupt image surfaces here, from TensorFlow's decoder
        raise SpaceError(f"image folder {path} named in {where} could not be read: "
                         f"{type(exc).__name__}: {exc}") from None
    names = images.class_names
    return np.stack(xs), np.array([names[y] for y in ys])


def _as_images(x: Any, where: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise SpaceError(f"data in {where}: images must be numeric arrays, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise SpaceError(f"data in {where}: images must be (n, height, width) or (n, height, width, channels), "
                         f"got shape {x.shape}")
    return x.astype("float32")


def _as_labels(y: Any, n: int, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and set(np.unique(y)) <= {0, 1}:
        y = y.argmax(axis=1)  # one-hot labels
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or len(y) != n:
        raise SpaceError(f"data in {where}: {n} images but labels of shape {y.shape}")
    kinds = {type(v) for v in y.tolist()}
    if len(kinds) > 1 and not kinds <= {int, float}:
        raise SpaceError(f"data in {where}: labels mix types {sorted(k.__name__ for k in kinds)}; "
                         f"use all integers or all strings")
    return y


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


def trial_inputs(dataset: Dataset, config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (x_train, x_val, x_test) a trial with this config trains on."""
    return dataset.normalized(*_preparation(config))


def trial_normalizer(dataset: Dataset, config: dict[str, Any]) -> Normalizer:
    """The preparation behind `trial_inputs`, to put inside a saved model or apply to new images."""
    return dataset.normalizer(*_preparation(config))


def _preparation(config: dict[str, Any]) -> tuple[str, bool]:
    return config.get("normalize", "scale"), bool(config.get("grayscale", False))


def image_reading(source: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any] | None:
    """How an image-folder source was decoded (size, colour mode), so new images can be read the same way.

    None for array sources: their images were used at their own size, so new ones must match it.
    """
    if not isinstance(source, (str, Path)) or source == "digits":
        return None
    path = Path(source)
    if not (path if path.is_absolute() else folder / path).is_dir():
        return None
    return {"image_size": list(options.get("image_size", IMAGE_SIZE)), "color_mode": options.get("color_mode", "rgb")}
