"""Shared fixtures: small real data and space files written into a temporary folder."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def write_space(tmp_path):
    """Write a space module into tmp_path and return its path."""

    def write(body: str, name: str = "space.py") -> Path:
        path = tmp_path / name
        path.write_text("from gridsearch import SearchSpace, Stage\n" + textwrap.dedent(body))
        return path

    return write


def tiny_digits(n_per_class: int = 40, classes=(0, 1, 2), seed: int = 0):
    """A small, fast slice of the digits: (x, y) with n_per_class images of each class."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    picks = np.concatenate([rng.choice(np.flatnonzero(digits.target == c), n_per_class, replace=False)
                            for c in classes])
    return digits.images[picks], digits.target[picks]


def write_image_folder(root: Path, classes=("cat", "dog"), per_class: int = 6, size=(12, 10)) -> Path:
    """One sub-folder of generated PNGs per class; class 1 is brighter, so it is learnable."""
    import keras

    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 100, (*size, 3)) + 150 * c
            keras.utils.save_img(root / name / f"{i}.png", pixels.astype("uint8"))
    return root


@pytest.fixture
def tiny_npz(tmp_path) -> Path:
    x, y = tiny_digits()
    path = tmp_path / "tiny.npz"
    np.savez(path, x=x, y=y)
    return path


# A space over tiny_npz small enough to run in seconds: 2 + 2 = 4 trials, 3 distinct configs.
TINY_SPACE = """
space = SearchSpace(
    name="tiny",
    data="tiny.npz",
    defaults={{"filters": 8, "dense_units": 16, "conv_blocks": 1}},
    stages=[
        Stage("learning_rate", [{lr_values}]),
        Stage("batch_norm", [False, True]),
    ],
    epochs={epochs},
    batch_size=32,
    seed=0,
    backend="{backend}",
)
"""


def write_tiny_project(folder: Path, body: str | None = None) -> Path:
    """tiny.npz and space.py in `folder` (the tiny space below, or `body`, a whole module); returns the space file."""
    x, y = tiny_digits()
    np.savez(folder / "tiny.npz", x=x, y=y)
    space = folder / "space.py"
    space.write_text(body or "from gridsearch import SearchSpace, Stage\n"
                     + TINY_SPACE.format(lr_values="1e-2, 1e-3", epochs=3, backend="keras_tuner"))
    return space


@pytest.fixture
def tiny_space(write_space, tiny_npz):
    def make(lr_values: str = "1e-2, 1e-3", epochs: int = 3, backend: str = "keras_tuner") -> Path:
        return write_space(TINY_SPACE.format(lr_values=lr_values, epochs=epochs, backend=backend))

    return make


# A finished 10-class search with `ensemble=2` at its end: 2 trials, 2 distinct configs, 4 fits in all.
# Shared read-only by the ensemble, calibration and predict tests (copy it with `writable_copy` to write).
DIGITS_SEARCH_SPACE = """
space = SearchSpace(
    name="digits10",
    data="digits10.npz",
    defaults={"filters": 8, "dense_units": 32, "conv_blocks": 1},
    stages=[Stage("learning_rate", [1e-2, 3e-3])],
    epochs=8,
    batch_size=32,
    seed=0,
    ensemble=2,
)
"""

# A finished binary search on an image folder with string labels (one sigmoid unit), images resized.
PETS_SEARCH_SPACE = """
space = SearchSpace(
    name="pets",
    data="pets",
    data_options={"image_size": (8, 8)},
    defaults={"filters": 4, "dense_units": 8, "conv_blocks": 1, "learning_rate": 1e-2},
    stages=[Stage("batch_norm", [False])],
    epochs=4,
    batch_size=8,
    seed=0,
)
"""


def _finished_search(folder: Path, body: str, name: str) -> Path:
    from gridsearch.cli import main

    space = folder / "space.py"
    space.write_text("from gridsearch import SearchSpace, Stage\n" + body)
    assert main(["run", str(space), "--results-dir", str(folder / "results"), "--quiet"]) == 0
    return folder / "results" / name


@pytest.fixture(scope="session")
def digits_search(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("digits_search")
    x, y = tiny_digits(n_per_class=30, classes=tuple(range(10)))
    np.savez(folder / "digits10.npz", x=x, y=y)
    return _finished_search(folder, DIGITS_SEARCH_SPACE, "digits10")


@pytest.fixture(scope="session")
def pets_search(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pets_search")
    write_image_folder(folder / "pets", per_class=12)
    return _finished_search(folder, PETS_SEARCH_SPACE, "pets")


@pytest.fixture
def writable_copy(tmp_path):
    """A private copy of a shared results folder, for a test that writes into it."""
    import shutil

    def copy(results: Path) -> Path:
        return Path(shutil.copytree(results, tmp_path / results.name))

    return copy
