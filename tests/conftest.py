"""Shared fixtures: small real data and space files written into a temporary folder."""
from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The second opinion's fitted forests, kept beside pytest's own cache rather than in the user's (second_opinion.py,
# _stored_forest): the test processes share them, and a later run reads them back
os.environ.setdefault("GRIDSEARCH_CACHE", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "gridsearch"))

import numpy as np
import pandas as pd
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


# A custom builder over tiny_npz where width 3 fails: a failed trial beside healthy ones (search, report).
FAILING_BUILDER = """
import keras
def build(hp, input_shape, num_classes):
    if hp["width"] == 3:
        raise ValueError("width 3 is broken on purpose")
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(hp["width"], activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.{optimizer}(hp["learning_rate"]), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model

space = SearchSpace(name="{name}", data="tiny.npz", model=build, defaults={{"width": 8, "learning_rate": 1e-2}},
                    stages=[Stage("width", {widths}), Stage("learning_rate", [1e-2, 1e-3])], epochs={epochs}, seed=0)
"""


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


@dataclass(frozen=True)
class TinyRun:
    """A finished, uninterrupted run of the tiny space (write_tiny_project), with --quiet."""

    space: Path  # space.py beside tiny.npz
    results: Path  # results/tiny
    out: str  # what the run printed


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> TinyRun:
    """The tiny space run once for the whole session: the reference of the resume and distributed tests and the
    read-only run of the search and plots tests. Read-only: copy it with `writable_copy` to write."""
    import contextlib
    import io

    from gridsearch.cli import main

    folder = tmp_path_factory.mktemp("tiny_run")
    space = write_tiny_project(folder)
    out = io.StringIO()  # capsys is function-scoped: a session fixture captures by hand
    with contextlib.redirect_stdout(out):
        assert main(["run", str(space), "--results-dir", str(folder / "results"), "--quiet"]) == 0
    return TinyRun(space, folder / "results" / "tiny", out.getvalue())


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


# Measured Keras histories: Dense(64, relu) + softmax on scikit-learn's digits (x / 16, 20% validation),
# Adam at four learning rates, 20 epochs (lr=3 was pruned after 9).
MEASURED = {
    "adam lr=3": {
        "loss": [200.09, 2.56, 2.547, 2.561, 2.546, 2.546, 2.554, 2.563, 2.57],
        "val_loss": [2.535, 2.418, 2.567, 2.608, 2.613, 2.603, 2.605, 2.607, 2.608],
        "accuracy": [0.113, 0.091, 0.104, 0.102, 0.102, 0.1, 0.1, 0.1, 0.1],
        "val_accuracy": [0.131, 0.075, 0.075, 0.075, 0.075, 0.089, 0.089, 0.089, 0.089],
    },
    "adam lr=0.3": {
        "loss": [3.455, 1.6, 1.509, 1.509, 1.503, 1.48, 1.524, 1.522, 1.481, 1.53, 1.474, 1.516, 1.543, 1.506, 1.553,
                 1.576, 1.531, 1.548, 1.504, 1.505],
        "val_loss": [1.696, 1.725, 1.753, 1.587, 1.597, 1.706, 1.613, 1.606, 1.676, 1.638, 1.842, 1.556, 2.314,
                     1.646, 1.704, 1.694, 1.643, 1.716, 1.665, 1.795],
        "accuracy": [0.301, 0.361, 0.383, 0.382, 0.386, 0.392, 0.377, 0.385, 0.38, 0.383, 0.386, 0.379, 0.377, 0.387,
                     0.376, 0.38, 0.39, 0.378, 0.383, 0.381],
        "val_accuracy": [0.353, 0.283, 0.317, 0.319, 0.328, 0.317, 0.322, 0.319, 0.328, 0.328, 0.272, 0.333, 0.333,
                         0.331, 0.339, 0.325, 0.331, 0.325, 0.331, 0.328],
    },
    "adam lr=3e-3": {
        "loss": [1.66, 0.685, 0.379, 0.271, 0.217, 0.182, 0.158, 0.14, 0.125, 0.112, 0.102, 0.093, 0.085, 0.079,
                 0.073, 0.067, 0.062, 0.058, 0.054, 0.05],
        "val_loss": [1.012, 0.464, 0.3, 0.228, 0.187, 0.161, 0.142, 0.127, 0.117, 0.108, 0.101, 0.095, 0.09, 0.086,
                     0.082, 0.079, 0.076, 0.073, 0.07, 0.067],
        "accuracy": [0.591, 0.881, 0.916, 0.934, 0.942, 0.951, 0.959, 0.967, 0.97, 0.974, 0.976, 0.978, 0.98, 0.981,
                     0.984, 0.987, 0.989, 0.99, 0.991, 0.992],
        "val_accuracy": [0.794, 0.919, 0.944, 0.95, 0.956, 0.964, 0.969, 0.975, 0.978, 0.978, 0.978, 0.975, 0.978,
                         0.978, 0.978, 0.978, 0.978, 0.978, 0.978, 0.981],
    },
    "adam lr=3e-5": {
        "loss": [2.344, 2.324, 2.304, 2.286, 2.267, 2.249, 2.23, 2.212, 2.193, 2.175, 2.156, 2.137, 2.118, 2.099,
                 2.08, 2.061, 2.042, 2.022, 2.002, 1.982],
        "val_loss": [2.313, 2.296, 2.279, 2.262, 2.246, 2.23, 2.213, 2.196, 2.179, 2.162, 2.145, 2.127, 2.109, 2.091,
                     2.073, 2.055, 2.036, 2.017, 1.997, 1.978],
        "accuracy": [0.089, 0.088, 0.093, 0.097, 0.114, 0.133, 0.151, 0.171, 0.195, 0.222, 0.25, 0.276, 0.3, 0.327,
                     0.358, 0.382, 0.406, 0.431, 0.456, 0.483],
        "val_accuracy": [0.083, 0.081, 0.094, 0.094, 0.1, 0.122, 0.142, 0.161, 0.208, 0.225, 0.253, 0.297, 0.317,
                         0.339, 0.386, 0.419, 0.444, 0.475, 0.497, 0.528],
    },
}


def assert_same_leaderboard(actual: pd.DataFrame, expected: pd.DataFrame, objective: str = "val_accuracy") -> None:
    """Same trials, same values (rtol 1e-3), same ranking; duration_s ignored, order free only among ties."""
    assert sorted(actual["trial_id"]) == sorted(expected["trial_id"])
    assert list(actual.columns) == list(expected.columns)
    a = actual.drop(columns="duration_s").set_index("trial_id").sort_index()
    e = expected.drop(columns="duration_s").set_index("trial_id").sort_index()
    floats = [c for c in a.columns if c != "rank" and pd.api.types.is_float_dtype(e[c])]
    np.testing.assert_allclose(a[floats].to_numpy(float), e[floats].to_numpy(float), rtol=1e-3, equal_nan=True)
    others = [c for c in a.columns if c not in floats and c != "rank"]
    pd.testing.assert_frame_equal(a[others], e[others], check_dtype=False)

    def tiers(board: pd.DataFrame) -> list[set[str]]:  # trial ids grouped by tied objective, in rank order
        groups: list[set[str]] = []
        previous = None
        for _, row in board.iterrows():
            value = (row["status"], round(float(row[objective]), 4) if pd.notna(row[objective]) else None)
            if value != previous:
                groups.append(set())
                previous = value
            groups[-1].add(row["trial_id"])
        return groups

    assert tiers(actual) == tiers(expected)


def assert_killed_search_resumes(reference: Path, killed: Path, name: str, capsys) -> None:
    """Run the space file `reference` whole, and `killed` (the same space in another folder) SIGKILLed after
    its first trial was saved, then resumed: one trial left to train, the same leaderboard. The killed run
    is a subprocess started first: the reference trains in-process meanwhile, not after it."""
    import signal
    import subprocess
    import sys
    import tempfile

    from gridsearch.cli import main

    results = killed.parent / "results" / name
    run = ["run", str(killed), "--results-dir", str(results.parent)]
    with tempfile.TemporaryFile("w+") as err:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "GRIDSEARCH_KILL_AT": "trial_saved:1"}
        stopped = subprocess.Popen([sys.executable, "-m", "gridsearch", *run], cwd=killed.parent,
                                   stdout=subprocess.DEVNULL, stderr=err, text=True, env=env)
        try:
            assert main(["run", str(reference), "--results-dir", str(reference.parent / "results")]) == 0
            stopped.wait(timeout=300)
        finally:
            if stopped.poll() is None:
                stopped.kill()
                stopped.wait()
        err.seek(0)
        assert stopped.returncode == -signal.SIGKILL, err.read()
    expected = pd.read_csv(reference.parent / "results" / name / "leaderboard.csv")
    assert len(list((results / "trials").glob("*.json"))) == 1
    capsys.readouterr()
    with pytest.warns(UserWarning, match="stale lock"):
        assert main(run) == 0
    assert "1 trained" in capsys.readouterr().out
    assert_same_leaderboard(pd.read_csv(results / "leaderboard.csv"), expected)
