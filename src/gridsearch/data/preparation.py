"""Input preparation statistics (normalize, grayscale), computed from the training split only.

Arrays are prepared once per setting in numpy (the statistics of the whole training split); an image
folder's statistics come from one streaming pass over a seeded sample of its training images
(PREPARATION_SAMPLES), accumulated chunk by chunk so that no float copy of the sample exists.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridsearch.errors import SpaceError

# Enough images for per-pixel means and deviations within about 1/sqrt(1000) = 3 % of a deviation of the
# split's own, read in 2-4 s at 160x160 on 2 cores: a folder's statistics come from this seeded sample.
PREPARATION_SAMPLES = 1000


def preparation_key(config: dict[str, Any]) -> tuple[str, bool]:
    """(normalize, grayscale): the two hyperparameters that decide a trial's inputs."""
    return config.get("normalize", "scale"), bool(config.get("grayscale", False))


@dataclass(frozen=True)
class Normalizer:
    """Input preparation whose statistics come from the training split only."""

    method: str
    grayscale: bool
    offset: np.ndarray | float
    scale: np.ndarray | float

    @classmethod
    def fit(cls, x_train: np.ndarray, method: str, grayscale: bool = False) -> Normalizer:
        x = to_gray(x_train) if grayscale else x_train
        needs_moments = method in ("standardize", "mean_subtract")
        return cls._from_statistics(method, grayscale, float(x.min()), float(x.max()),
                                    x.mean(axis=0) if needs_moments else 0.0,
                                    x.std(axis=0) if method == "standardize" else 1.0)

    @classmethod
    def fit_stream(cls, chunks: Iterable[np.ndarray], method: str, grayscale: bool = False) -> Normalizer:
        """`fit` over chunks of raw images (any dtype), in one pass: per-pixel mean and variance are merged
        chunk by chunk (Chan et al.'s parallel formula), in float64, so memory is one chunk's."""
        count, mean, m2, low, high = 0, 0.0, 0.0, np.inf, -np.inf
        for chunk in chunks:
            x = chunk.astype("float64")
            x = to_gray(x) if grayscale else x
            n, chunk_mean = len(x), x.mean(axis=0)
            delta = chunk_mean - mean
            m2 = m2 + ((x - chunk_mean) ** 2).sum(axis=0) + delta ** 2 * count * n / (count + n)
            mean, count = mean + delta * n / (count + n), count + n
            low, high = min(low, float(x.min())), max(high, float(x.max()))
        return cls._from_statistics(method, grayscale, low, high, mean, np.sqrt(m2 / count))

    @classmethod
    def _from_statistics(cls, method: str, grayscale: bool, low: float, high: float, mean: np.ndarray | float,
                         std: np.ndarray | float) -> Normalizer:
        if method == "scale":
            return cls(method, grayscale, low, (high - low) or 1.0)
        if method == "standardize":
            return cls(method, grayscale, mean, np.where(std > 0, std, 1.0))
        if method == "mean_subtract":
            return cls(method, grayscale, mean, 1.0)
        return cls(method, grayscale, 0.0, 1.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = to_gray(x) if self.grayscale else x
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

    def prepared_shape(self, raw_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*raw_shape[:-1], 1) if self.grayscale else tuple(raw_shape)


def to_gray(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=-1, keepdims=True)
