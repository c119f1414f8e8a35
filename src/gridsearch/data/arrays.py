"""Array sources: the built-in digits, an .npz file, a callable returning arrays; checked and labelled."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from gridsearch.errors import SpaceError

# An .npz whose images would take more than this as float32 is refused with the alternatives (.npy files read
# through memory maps, an image folder streamed from disk): held in memory with its prepared copy it would take twice that.
ARRAY_MEMORY_BUDGET = 4 * 2**30


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target


def call_loader(source: Any, where: str) -> tuple[Any, ...]:
    try:
        result = source()
    except Exception as exc:
        raise SpaceError(f"data loader in {where} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(result, (tuple, list)):
        raise SpaceError(f"data loader in {where} must return (x, y) or (x_train, y_train, x_test, y_test), "
                         f"or tf.data.Datasets (train, validation[, test]), got {type(result).__name__}")
    return tuple(result)


def read_npz(path: Path, options: dict[str, Any], where: str) -> tuple[np.ndarray, ...]:
    if not path.is_file():
        raise SpaceError(f"data file {path} named in {where} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            x_key, y_key = options.get("x_key", "x"), options.get("y_key", "y")
            if {"x_train", "y_train", "x_test", "y_test"} <= keys and x_key not in keys:
                names = ("x_train", "y_train", "x_test", "y_test")
            else:
                missing = [k for k in (x_key, y_key) if k not in keys]
                if missing:
                    raise SpaceError(f"data file {path} named in {where} has no array {missing[0]!r} "
                                     f"(it has {sorted(keys)}); "
                                     f"name the keys with data_options={{'x_key': ..., 'y_key': ...}}")
                names = (x_key, y_key)
            _check_fits(path, npz, [n for n in names if n.startswith("x")], where)
            return tuple(npz[k] for k in names)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SpaceError(f"data file {path} named in {where} could not be read as .npz: {exc}") from None


def _check_fits(path: Path, npz: Any, image_keys: list[str], where: str) -> None:
    """Refuse, from the arrays' headers alone, images that would not fit the memory budget as float32."""
    elements = 0
    for key in image_keys:
        with npz.zip.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read_header(member)
        elements += int(np.prod(shape))
    if elements * 4 > ARRAY_MEMORY_BUDGET:
        raise SpaceError(f"data file {path} named in {where} holds {elements * 4 / 2**30:.1f} GB of images as "
                         f"float32, more than the {ARRAY_MEMORY_BUDGET / 2**30:.0f} GB an in-memory data set may "
                         f"take, and an .npz cannot be memory-mapped; save the arrays as .npy files (np.save) and "
                         f"name them as data=('x.npy', 'y.npy'): they are read through memory maps, batch by batch; "
                         f"or write the images to an image folder (one sub-folder per class) and name the folder")


def as_images(x: Any, where: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise SpaceError(f"data in {where}: images must be numeric arrays, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise SpaceError(f"data in {where}: images must be (n, height, width) or (n, height, width, channels), "
                         f"got shape {x.shape}")
    return x.astype("float32")


def as_labels(y: Any, n: int, where: str) -> np.ndarray:
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
