"""Predictions of a tuned model on new images, prepared exactly as the training images were.

INPUT is an .npz (its array `x`, or its only array), one image file, or a folder of images (searched
recursively, in sorted order). Images from files are decoded the way the run read its image folder
(the training pipeline's decoder, `data.pipeline.decode_image`: resized bilinearly to the run's image size,
rounded to uint8, in the model's colour mode); when the run
read arrays, files are not resized and must have the training images' size. The normalisation is the
one computed on the training split, a layer inside every saved model; best_model.keras of a folder written
before (no data.model_input in best_config.json) takes prepared inputs, and gets preparation.npz in front.
Labels come back as the original label values.
"""
from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridsearch.data.folder import IMAGE_SUFFIXES
from gridsearch.data.preparation import Normalizer
from gridsearch.errors import SpaceError
from gridsearch.results.layout import MODEL_FILES, PREPARATION, read_best_config, takes_raw_images

COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}  # channels -> the colour mode Keras decodes to


def check_model_files(folder: str | Path, *, ensemble: bool = False, calibrated: bool = False) -> None:
    """Before anything loads: the model asked for is there, or the command that makes it is named."""
    folder = Path(folder)
    read_best_config(folder)
    path = folder / MODEL_FILES[ensemble, calibrated]
    if not path.is_file():
        making = {(True, False): f"python -m gridsearch ensemble {folder} --top K",
                  (False, True): f"python -m gridsearch calibrate {folder}",
                  (True, True): f"python -m gridsearch calibrate {folder} --ensemble"}
        raise SpaceError(f"no {path.name} in {folder}: "
                         + (f"run `{making[ensemble, calibrated]}` first" if (ensemble, calibrated) in making
                            else "the run did not finish"))
    if not (ensemble or calibrated or takes_raw_images(read_best_config(folder))) and not (folder / PREPARATION).is_file():
        raise SpaceError(f"no {PREPARATION} in {folder} (results of an older gridsearch): run the search "
                         f"again; finished trials are reused and only the winner is retrained")


def load_predictor(folder: str | Path, *, ensemble: bool = False, calibrated: bool = False):
    """The chosen saved model as a keras.Model of raw images."""
    folder = Path(folder)
    check_model_files(folder, ensemble=ensemble, calibrated=calibrated)
    if not (ensemble or calibrated):
        return load_winner(folder)
    import keras

    import gridsearch.serving.layers  # noqa: F401  registers the gridsearch layers the saved models use

    return keras.saving.load_model(folder / MODEL_FILES[ensemble, calibrated], safe_mode=True)


def load_winner(folder: str | Path, normalizer: Normalizer | None = None):
    """best_model.keras as a keras.Model of raw images: as saved, or, in a folder written before the saved
    winner had its preparation inside, behind `normalizer` (default: the folder's preparation.npz)."""
    import keras

    from gridsearch.serving.layers import prepared_model  # registers the gridsearch layers the saved models use

    folder = Path(folder)
    best = read_best_config(folder)
    model = keras.saving.load_model(folder / MODEL_FILES[False, False], safe_mode=True)
    if takes_raw_images(best):
        return model
    return prepared_model(model, normalizer or Normalizer.from_npz(folder / PREPARATION), tuple(best["data"]["image_shape"]))


def predict(folder: str | Path, source: str | Path, *, ensemble: bool = False,
            calibrated: bool = False) -> pd.DataFrame:
    """One row per image: `file` (or `row` for an .npz), `label`, then `p_<label>` for every class."""
    from gridsearch.serving.probabilities import class_probabilities

    best = read_best_config(folder)
    check_input(source)
    model = load_predictor(folder, ensemble=ensemble, calibrated=calibrated)
    names, x = read_inputs(source, tuple(model.input_shape[1:]), best["data"].get("images"))
    message = range_warning(x, best["data"].get("input_range"), source)
    if message:
        warnings.warn(message, InputRangeWarning, stacklevel=2)
    probs = class_probabilities(model.predict(x, verbose=0))
    classes = best["data"]["classes"]
    frame = pd.DataFrame({"row" if Path(source).suffix == ".npz" else "file": names,
                          "label": pd.Series([classes[i] for i in probs.argmax(axis=1)], dtype=object)})
    for index, name in enumerate(classes):
        frame[f"p_{name}"] = probs[:, index]
    return frame


class InputRangeWarning(UserWarning):
    """New inputs outside the range the model was trained on (the CLI prints it as one line)."""


RANGE_TOLERANCE = 0.1  # of the training range's width: new images of the same kind stray a little beyond it


def range_warning(x: np.ndarray, trained: list[float] | None, source: str | Path) -> str | None:
    """The warning for inputs outside the training split's raw range, or None.

    A model trained on the digits' 0-16 fed PNGs saved as 0-255 answers probabilities of exactly 0 and 1,
    with nothing to tell that anything is wrong; the training range lives in best_config.json (data).
    """
    if not trained or x.size == 0:
        return None
    low, high = trained
    seen_low, seen_high = float(x.min()), float(x.max())
    margin = RANGE_TOLERANCE * ((high - low) or 1.0)
    if low - margin <= seen_low and seen_high <= high + margin:
        return None
    fix = (f"save the images in the training data's scale (here x * {high / seen_high:.3g} would map "
           f"{seen_high:g} to {high:g})" if seen_high > high + margin and seen_high > 0
           else "prepare the images the way the training images were")
    return (f"input {source} has values {seen_low:g} to {seen_high:g}, but the model was trained on {low:g} to "
            f"{high:g}: its predictions on inputs so far outside are not to be trusted. Likely fix: {fix}, or train "
            f"on images stored the way these are")


def check_input(source: str | Path) -> None:
    path = Path(source)
    if not path.exists():
        raise SpaceError(f"input {path} does not exist")
    if path.is_file() and path.suffix.lower() not in (".npz", *IMAGE_SUFFIXES):
        raise SpaceError(f"input {path} is neither an .npz file, an image ({', '.join(IMAGE_SUFFIXES)}) "
                         f"nor a folder of images")


def read_inputs(source: str | Path, raw_shape: tuple[int, ...],
                images: dict[str, Any] | None) -> tuple[list[Any], np.ndarray]:
    """(names, raw images of `raw_shape`); SpaceError naming the file for anything that does not fit."""
    path = Path(source)
    check_input(path)
    if path.suffix == ".npz":
        return _read_npz(path, raw_shape)
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SpaceError(f"input folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    names = [f.name if f == path else f.relative_to(path).as_posix() for f in files]
    return names, np.stack([_read_image(f, raw_shape, images) for f in files])


def _read_npz(path: Path, raw_shape: tuple[int, ...]) -> tuple[list[int], np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            if "x" not in keys and len(keys) != 1:
                raise SpaceError(f"input {path} has arrays {keys}: name the images `x` (or keep only one array)")
            x = npz["x" if "x" in keys else keys[0]]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SpaceError(f"input {path} could not be read as .npz: {exc}") from None
    if not np.issubdtype(x.dtype, np.number):
        raise SpaceError(f"input {path}: images must be numeric, got dtype {x.dtype}")
    if x.ndim == len(raw_shape) and raw_shape[-1] == 1:
        x = x[..., np.newaxis]  # (n, height, width) for one channel, as the training data may be given
    if x.shape[1:] != raw_shape:
        raise SpaceError(f"input {path}: images of shape {tuple(x.shape[1:])}, but the model takes "
                         f"{raw_shape} (height, width, channels of the training images)")
    return list(range(len(x))), x.astype("float32")


def _read_image(path: Path, raw_shape: tuple[int, ...], images: dict[str, Any] | None) -> np.ndarray:
    """Decode like keras.utils.image_dataset_from_directory: decode_image, then a bilinear resize."""
    import tensorflow as tf

    from gridsearch.data.pipeline import decode_image

    height, width, channels = raw_shape
    if channels not in COLOR_MODES:
        raise SpaceError(f"image {path}: the model takes {channels}-channel images, which no image file holds")
    try:
        data = tf.io.read_file(str(path))
        if images is not None:  # the training pipeline's own decoder: uint8, resized as the run's images were
            return decode_image(data, images["image_size"], channels).numpy()
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    except Exception as exc:  # TensorFlow's decoder says what is wrong with the bytes
        raise SpaceError(f"image {path} could not be read: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'not a decodable image'}") from None
    if tuple(image.shape[:2]) != (height, width):
        raise SpaceError(f"image {path} is {image.shape[0]}x{image.shape[1]} (height x width), but the model "
                         f"takes {height}x{width} images; resize it to the training images' size")
    return image.numpy().astype("float32")
