"""Data sources, the split and input normalisation, on small files the tests write themselves."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_digits, write_image_folder
from gridsearch import SpaceError
from gridsearch.data.dataset import load_dataset
from gridsearch.data.preparation import Normalizer


def _load(source, folder: Path = Path("."), **options):
    return load_dataset(source, seed=0, validation_split=0.2, test_split=0.2, folder=folder, options=options,
                        where="space.py")


def test_digits_is_built_in_and_split_three_ways_stratified():
    data = _load("digits")
    assert data.input_shape == (8, 8, 1) and data.num_classes == 10
    sizes = [len(data.x_train), len(data.x_val), len(data.x_test)]
    assert sum(sizes) == 1797 and sizes[2] == pytest.approx(0.2 * 1797, abs=1)
    for y in (data.y_train, data.y_val, data.y_test):  # every class in every part, in proportion
        share = np.bincount(y, minlength=10) / len(y)
        assert share.min() > 0.08 and share.max() < 0.12


def test_the_split_is_seeded_and_the_same_every_time():
    a, b = _load("digits"), _load("digits")
    np.testing.assert_array_equal(a.x_val, b.x_val)
    c = load_dataset("digits", seed=1, validation_split=0.2, test_split=0.2, folder=Path("."))
    assert not np.array_equal(a.x_val, c.x_val)


def test_npz_with_x_and_y(tmp_path):
    x, y = tiny_digits()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = _load("d.npz", tmp_path)
    assert data.num_classes == 3 and len(data.x_train) + len(data.x_val) + len(data.x_test) == len(x)


def test_npz_with_named_keys_and_a_user_split(tmp_path):
    x, y = tiny_digits()
    np.savez(tmp_path / "named.npz", images=x, labels=y)
    assert _load("named.npz", tmp_path, x_key="images", y_key="labels").num_classes == 3
    np.savez(tmp_path / "split.npz", x_train=x[:100], y_train=y[:100], x_test=x[100:], y_test=y[100:])
    data = _load("split.npz", tmp_path)
    assert len(data.x_test) == 20  # the user's test split is respected
    with pytest.raises(SpaceError, match=r"has no array 'x' .*x_key"):
        _load("named.npz", tmp_path)


def test_image_folder_is_read_with_keras_at_the_given_size(tmp_path):
    folder = write_image_folder(tmp_path / "images")
    data = _load(folder, image_size=(8, 6), color_mode="grayscale")
    assert data.input_shape == (8, 6, 1) and data.classes == ["cat", "dog"]
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 12


def test_callable_returning_two_or_four_arrays_with_string_labels():
    x, y = tiny_digits()
    names = np.array(["zero", "one", "two"])[y]
    data = _load(lambda: (x, names))
    assert data.classes == ["one", "two", "zero"]
    assert set(np.array(data.classes)[data.y_test]) == {"zero", "one", "two"}
    four = _load(lambda: (x[:100], y[:100], x[100:], y[100:]))
    assert len(four.x_test) == 20


@pytest.mark.parametrize("source, message", [
    ("missing.npz", r"data file .*missing\.npz named in space\.py does not exist"),
    ("nowhere", r"image folder .*nowhere named in space\.py does not exist \(expected a folder with one sub-folder"),
    ("nowhere.png", r"data file .*nowhere\.png named in space\.py does not exist"),
    (42, r"data=42 in space\.py is not allowed"),
    (lambda: (np.zeros((4, 8, 8)), np.array([0, "a", 1, "b"], dtype=object)), r"labels mix types"),
    (lambda: (np.zeros((6, 8, 8)), np.zeros(6)), r"has 1 class"),
    (lambda: (np.zeros((6, 8)), np.arange(6) % 2), r"images must be \(n, height, width\)"),
    (lambda: (np.zeros((6, 8, 8)), np.arange(5) % 2), r"6 images but labels of shape \(5,\)"),
    (lambda: 1 / 0, r"data loader in space\.py raised ZeroDivisionError"),
])
def test_unreadable_data_is_refused_with_the_reason(tmp_path, source, message):
    with pytest.raises(SpaceError, match=message):
        _load(source, tmp_path)


def test_image_folder_errors(tmp_path):
    (tmp_path / "one" / "only").mkdir(parents=True)
    with pytest.raises(SpaceError, match="one sub-folder per class"):
        _load(tmp_path / "one")
    for name in ("a", "b"):
        (tmp_path / "empty" / name).mkdir(parents=True)
    with pytest.raises(SpaceError, match="'a', 'b' hold no readable image"):
        _load(tmp_path / "empty")
    corrupt = write_image_folder(tmp_path / "corrupt")
    (corrupt / "cat" / "0.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match=r"skipped 1 file\(s\) .* \(broken or truncated\): cat/0.png"):
        assert len(_load(corrupt).files.paths) == 11


@pytest.mark.parametrize("method", ["scale", "standardize", "mean_subtract", "none"])
def test_normalisation_statistics_come_from_the_training_split_only(method):
    train = np.array([[0.0, 10.0], [16.0, 30.0]]).reshape(2, 1, 2, 1)
    other = np.array([[100.0, 100.0]]).reshape(1, 1, 2, 1)
    norm = Normalizer.fit(train, method)
    prepared = norm(train)
    if method == "scale":
        assert prepared.min() == 0 and prepared.max() == 1
    elif method == "standardize":
        np.testing.assert_allclose(prepared.mean(axis=0), 0, atol=1e-6)
        np.testing.assert_allclose(prepared.std(axis=0), 1, atol=1e-6)
    elif method == "mean_subtract":
        np.testing.assert_allclose(prepared.mean(axis=0), 0, atol=1e-6)
    else:
        np.testing.assert_array_equal(prepared, train)
    assert norm(other).shape == other.shape  # applied as is to other splits, no refit


def test_grayscale_averages_channels():
    rgb = np.stack([np.zeros((2, 4, 4)), np.ones((2, 4, 4)) * 3, np.ones((2, 4, 4)) * 6], axis=-1)
    assert Normalizer.fit(rgb, "none", grayscale=True)(rgb).shape == (2, 4, 4, 1)
