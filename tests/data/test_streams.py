"""A user's tf.data pipelines and memory-mapped .npy files: checks, identity, split, training, memory."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_digits
from gridsearch import SpaceError
from gridsearch.backends.sklearn import check_fits_in_memory
from gridsearch.data import arrays
from gridsearch.data.dataset import load_dataset
from gridsearch.space.hyperparams import builtin_defaults
from gridsearch.training.fit import TrainingContext, retrain_and_test, run_trial
from gridsearch.training.models import simple_cnn

CONFIG = {**builtin_defaults(), "filters": 8, "dense_units": 16, "conv_blocks": 1, "epochs": 6, "batch_size": 16,
          "learning_rate": 1e-2}


def _load(source, folder: Path = Path("."), **kwargs):
    return load_dataset(source, seed=0, validation_split=0.25, test_split=0.2, folder=folder, where="space.py",
                        **kwargs)


def _pipelines(batch: int | None = None, labels=None, parts=(0, 72, 96, 120)):
    """tiny digits cut into train/validation/test pipelines, (h, w) images, unbatched or batched."""
    x, y = tiny_digits()
    order = np.random.default_rng(0).permutation(len(y))  # tiny_digits is sorted by class
    x, y = x[order], (y if labels is None else labels[y])[order]
    made = []
    for start, end in zip(parts, parts[1:]):
        part = tf.data.Dataset.from_tensor_slices((x[start:end].astype("float32"), y[start:end]))
        made.append(part if batch is None else part.batch(batch))
    return tuple(made)


def test_batched_and_unbatched_pipelines_are_read_alike_and_their_split_kept():
    unbatched, batched = _load(lambda: _pipelines()), _load(lambda: _pipelines(batch=16))
    assert unbatched.input_shape == batched.input_shape == (8, 8, 1) and unbatched.classes == [0, 1, 2]
    assert [len(unbatched.labels(p)) for p in ("train", "val", "test")] == [72, 24, 24]  # theirs, not ours
    assert unbatched.sha256 == batched.sha256
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(unbatched.labels(part), batched.labels(part))
    x, y = next(iter(batched.feed(CONFIG, ("train",), 8, shuffle_seed=0).x))
    assert x.shape == (8, 8, 8, 1) and x.dtype == tf.float32 and y.dtype == tf.int64


def test_string_labels_are_encoded_inside_the_pipeline():
    data = _load(lambda: _pipelines(labels=np.array(["zero", "one", "two"])))
    assert data.classes == ["one", "two", "zero"]
    x, y = data.sample(None, "val", 100, 0)
    np.testing.assert_array_equal(y, data.y_val)  # an unshuffled part: the labels read with the images
    streamed = np.concatenate([b[1].numpy() for b in data.feed(None, ("val",), 8).x])
    np.testing.assert_array_equal(streamed, data.y_val)


def test_without_a_test_pipeline_the_test_part_comes_out_of_the_training_one_stratified():
    data = _load(lambda: _pipelines(parts=(0, 96, 120)))
    assert len(data.y_val) == 24 and len(data.y_train) + len(data.y_test) == 96
    assert np.bincount(data.y_test).min() >= 6 and np.bincount(data.y_test).max() <= 7  # 20 % of ~32 per class
    streamed = np.concatenate([b[1].numpy() for b in data.feed(None, ("test",), 8).x])
    np.testing.assert_array_equal(streamed, data.y_test)
    again = _load(lambda: _pipelines(parts=(0, 96, 120)))
    assert again.sha256 == data.sha256 and (again.y_test == data.y_test).all()
    other = load_dataset(lambda: _pipelines(parts=(0, 96, 120)), seed=1, validation_split=0.25, test_split=0.2,
                         folder=Path("."))
    assert other.sha256 != data.sha256  # another test part: another identity


def test_the_identity_is_the_content():
    train, val, test = _pipelines()
    changed = train.map(lambda x, y: (x + tf.cast(tf.equal(y, 2), tf.float32), y))
    assert _load(lambda: (changed, val, test)).sha256 != _load(lambda: (train, val, test)).sha256


def test_a_shuffling_training_pipeline_still_gives_each_sampled_image_its_label():
    x = np.repeat(np.arange(3, dtype="float32"), 40)[:, None, None] * np.ones((1, 4, 4), dtype="float32")
    y = np.repeat(np.arange(3), 40)
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(120, seed=1, reshuffle_each_iteration=True)
    fixed = tf.data.Dataset.from_tensor_slices((x[::4], y[::4]))
    data = _load(lambda: (train, fixed, fixed))
    sample, labels = data.sample(None, "train", 50, 0)
    np.testing.assert_array_equal(sample.reshape(len(sample), -1)[:, 0], labels)


def _images(*shape):
    return np.zeros(shape, dtype="float32")


@pytest.mark.parametrize("loader, message", [
    (lambda: (tf.data.Dataset.from_tensor_slices(_images(6, 4, 4)), np.zeros(3)),
     r"returned \(_TensorSliceDataset, ndarray\): a loader of tf\.data\.Datasets must return \(train, validation\)"),
    (lambda: (tf.data.Dataset.from_tensor_slices(_images(6, 4, 4)),) * 2,
     r"field `data` of space\.py: the train tf\.data\.Dataset yields .*allowed: \(image, label\) pairs"),
    (lambda: (tf.data.Dataset.from_tensor_slices((_images(6, 4, 4), _images(6))),) * 2,
     r"the train tf\.data\.Dataset has float32 labels; allowed: integer class indices or strings"),
    (lambda: (tf.data.Dataset.from_tensor_slices((_images(6, 4, 4), np.arange(6) % 2)),
              tf.data.Dataset.from_tensor_slices((_images(6, 5, 4), np.arange(6) % 2))),
     r"the validation tf\.data\.Dataset yields \(5, 4, 1\) .* the train one \(4, 4, 1\) .* allowed: the same"),
    (lambda: (tf.data.Dataset.from_tensor_slices((_images(6, 4, 4), np.arange(6) % 2)).repeat(),) * 2,
     r"the train tf\.data\.Dataset is infinite"),
    (lambda: (tf.data.Dataset.from_tensor_slices((np.arange(6.0), np.arange(6) % 2)),) * 2,
     r"yields images \(\) of float64 \(unbatched.*allowed: numeric images \(h, w\) or \(h, w, c\)"),
    (lambda: (tf.data.Dataset.from_tensor_slices((np.random.default_rng(0).random((200, 4, 4)), np.arange(200) % 2)),
              tf.data.Dataset.from_tensor_slices((np.random.default_rng(1).random((200, 4, 4)), np.arange(200) % 2))
              .shuffle(200, reshuffle_each_iteration=True)),
     r"the validation tf\.data\.Dataset yields another order on each pass"),
])
def test_bad_pipelines_are_refused_naming_the_field(loader, message):
    with pytest.raises(SpaceError, match=message):
        _load(loader)


@pytest.mark.slow
def test_a_pipeline_trains_and_its_winner_is_tested_and_the_sklearn_backend_refuses_it():
    data = _load(lambda: _pipelines(batch=32))
    ctx = TrainingContext(data, simple_cnn, 0, "val_accuracy", "max", prune=False)
    result = run_trial("t", 1, "lr", "c", CONFIG, ctx)
    assert result.status.value == "ok" and result.metrics["val_accuracy"] > 0.8, (result.error, result.metrics)
    _, scores = retrain_and_test(CONFIG, ctx, epochs=result.best_epoch)
    assert np.trace(scores["test_confusion_matrix"]) / 24 == pytest.approx(scores["test_accuracy"])
    with pytest.raises(SpaceError, match=r"field `data` of space\.py gives tf\.data\.Datasets.*backend='keras_tuner'"):
        check_fits_in_memory(data, "space.py")


# --- .npy files read through memory maps ---------------------------------------------------------------

def _write_npy(folder: Path, n_per_class: int = 40) -> tuple[np.ndarray, np.ndarray]:
    x, y = tiny_digits(n_per_class)
    np.save(folder / "x.npy", x.astype("uint8"))
    np.save(folder / "y.npy", y)
    np.savez(folder / "d.npz", x=x.astype("uint8"), y=y)
    return x, y


def test_npy_files_are_memory_mapped_and_split_as_the_same_npz_is(tmp_path):
    _write_npy(tmp_path)
    mapped, held = _load(("x.npy", "y.npy"), tmp_path), _load("d.npz", tmp_path)
    assert isinstance(mapped.x, np.memmap) and mapped.input_shape == held.input_shape == (8, 8, 1)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(mapped.labels(part), held.labels(part))
    np.testing.assert_array_equal(mapped.sample(None, "val", 10**6, 0)[0], held.x_val)
    for method in ("scale", "standardize"):
        ours, theirs = mapped.normalizer({"normalize": method}), held.normalizer({"normalize": method})
        np.testing.assert_allclose(ours.offset, theirs.offset, atol=1e-4)
        np.testing.assert_allclose(ours.scale, theirs.scale, atol=1e-4)


@pytest.mark.slow
def test_a_memory_mapped_dataset_trains_like_the_npz(tmp_path):
    _write_npy(tmp_path)
    results = []
    for source in (("x.npy", "y.npy"), "d.npz"):
        ctx = TrainingContext(_load(source, tmp_path), simple_cnn, 0, "val_accuracy", "max", prune=False)
        results.append(run_trial("t", 1, "lr", "c", CONFIG, ctx))
    assert all(r.status.value == "ok" for r in results), [r.error for r in results]
    mapped, held = (r.metrics for r in results)
    # the shuffles differ (tf.data's seeded shuffle of the rows, Keras' shuffle of the arrays)
    assert abs(mapped["val_accuracy"] - held["val_accuracy"]) <= 3 / 24 and mapped["val_accuracy"] > 0.8


def _peak_numpy_bytes(folder: Path, n: int) -> int:
    """numpy's peak allocation while a memory-mapped file of n 32x32x3 images is loaded, hashed, its statistics
    fitted and an epoch of train+validation streamed."""
    np.save(folder / "x.npy", np.random.default_rng(0).integers(0, 255, (n, 32, 32, 3), dtype="uint8"))
    np.save(folder / "y.npy", np.arange(n) % 4)
    tracemalloc.start()
    try:
        data = _load(("x.npy", "y.npy"), folder)
        assert len(data.sha256) == 64
        batches = sum(1 for _ in data.feed({"normalize": "standardize"}, ("train", "val"), 64, shuffle_seed=0).x)
        assert batches == int(np.ceil(0.8 * n / 64))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_memory_mapped_file_is_read_chunk_by_chunk_never_copied_whole(tmp_path):
    """Four times the images, the same peak (a chunk's float64 statistics): 4,000 images are 12 MB as uint8,
    49 MB as float32."""
    small, large = _peak_numpy_bytes(tmp_path, 1000), _peak_numpy_bytes(tmp_path, 4000)
    assert large < 1.2 * small and large < 4000 * 32 * 32 * 3, (small, large)  # measured: 7.0 MB at both sizes


@pytest.mark.parametrize("source, message", [
    (("x.npy", "missing.npy"), r"data file .*missing\.npy named in field `data` of space\.py does not exist"),
    (("x.npy", "y.npz"), r"data=\('x\.npy', 'y\.npz'\) in space\.py is not allowed.*two \.npy files"),
    (("flat.npy", "y.npy"), r"holds float64 of shape \(120, 64\); allowed: numeric images \(n, height, width\)"),
])
def test_bad_npy_files_are_refused(tmp_path, source, message):
    _write_npy(tmp_path)
    np.save(tmp_path / "flat.npy", np.zeros((120, 64)))
    with pytest.raises(SpaceError, match=message):
        _load(source, tmp_path)


def test_a_too_large_npz_points_to_npy_files(tmp_path, monkeypatch):
    _write_npy(tmp_path)
    monkeypatch.setattr(arrays, "ARRAY_MEMORY_BUDGET", 1000)
    with pytest.raises(SpaceError, match=r"an \.npz cannot be memory-mapped; .*data=\('x\.npy', 'y\.npy'\)"):
        _load("d.npz", tmp_path)


# --- end to end -----------------------------------------------------------------------------------------

NPY_SPACE = """from gridsearch import SearchSpace, Stage
space = SearchSpace(name="mapped", data=("x.npy", "y.npy"),
                    defaults={"filters": 4, "dense_units": 8, "conv_blocks": 1},
                    stages=[Stage("learning_rate", [1e-2, 1e-3])], epochs=3, batch_size=16, seed=0)
"""


@pytest.mark.slow
def test_a_killed_search_on_npy_files_resumes_to_the_uninterrupted_leaderboard(tmp_path, capsys):
    from conftest import assert_killed_search_resumes

    for name in ("reference", "killed"):
        (tmp_path / name).mkdir()
        _write_npy(tmp_path / name)
        (tmp_path / name / "space.py").write_text(NPY_SPACE)
    assert_killed_search_resumes(tmp_path / "reference" / "space.py", tmp_path / "killed" / "space.py", "mapped",
                                 capsys)


PIPELINE_SPACE = """import numpy as np
import tensorflow as tf
from gridsearch import SearchSpace, Stage


def load():
    y = np.arange(150) % 3
    x = (np.random.default_rng(0).integers(0, 30, (150, 8, 8, 3)) + 100 * y[:, None, None, None]).astype("uint8")
    names = np.array(["a", "b", "c"])[y]
    return tuple(tf.data.Dataset.from_tensor_slices((x[a:b], names[a:b])).batch(10)
                 for a, b in ((0, 90), (90, 120), (120, 150)))


space = SearchSpace(name="piped", data=load, backend={backend!r},
                    defaults={{"filters": 4, "dense_units": 8, "conv_blocks": 1}},
                    stages=[Stage("learning_rate", [1e-2, 1e-3])], epochs=3, batch_size=16, seed=0)
"""


@pytest.mark.slow
def test_a_search_on_tf_data_pipelines_runs_and_the_sklearn_backend_refuses_it(tmp_path, capsys):
    import json

    import pandas as pd

    from gridsearch.cli import main

    space = tmp_path / "space.py"
    space.write_text(PIPELINE_SPACE.format(backend="keras_tuner"))
    assert main(["run", str(space), "--results-dir", str(tmp_path / "results"), "--quiet"]) == 0
    board = pd.read_csv(tmp_path / "results" / "piped" / "leaderboard.csv")
    assert len(board) == 2 and (board["status"] == "ok").all()
    best = json.loads((tmp_path / "results" / "piped" / "best_config.json").read_text())
    assert np.sum(best["metrics"]["test_confusion_matrix"]) == 30  # the winner scored on the test pipeline
    space.write_text(PIPELINE_SPACE.format(backend="sklearn"))
    capsys.readouterr()
    assert main(["run", str(space), "--results-dir", str(tmp_path / "sk"), "--quiet"]) == 2
    assert "backend='keras_tuner'" in capsys.readouterr().err
