"""`python -m gridsearch predict`: raw inputs in, the training preparation applied, original labels out."""
from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from gridsearch import predict
from gridsearch.cli import main
from gridsearch.results.reopen import reopen
from gridsearch.serving.predict import load_predictor


@pytest.fixture(scope="module")
def digits_test_split(digits_search, tmp_path_factory):
    """The run's own test split, raw, as an .npz a user could pass to predict."""
    data = reopen(digits_search).dataset
    path = tmp_path_factory.mktemp("predict_input") / "test_split.npz"
    np.savez(path, x=data.x_test[..., 0])  # (n, 8, 8): the shape the digits come in
    return path, data


@pytest.mark.slow
@pytest.mark.parametrize("flags, accuracy_of", [([], "best_config"), (["--ensemble"], "ensemble")])
def test_predictions_on_the_test_split_reproduce_the_reported_accuracy(flags, accuracy_of, digits_search,
                                                                       digits_test_split, tmp_path, capsys):
    path, data = digits_test_split
    output = tmp_path / "predictions.csv"
    assert main(["predict", str(digits_search), str(path), "--output", str(output), *flags]) == 0
    assert f"predictions for {len(data.y_test)} images" in capsys.readouterr().out
    frame = pd.read_csv(output)
    best = json.loads((digits_search / "best_config.json").read_text())
    assert list(frame.columns) == ["row", "label", *[f"p_{c}" for c in best["data"]["classes"]]]
    np.testing.assert_allclose(frame.filter(like="p_").sum(axis=1), 1.0, atol=1e-5)
    truth = np.array(best["data"]["classes"])[data.y_test]
    expected = best["metrics"]["test_accuracy"] if accuracy_of == "best_config" else best["ensemble"]["test_accuracy"]
    assert np.mean(frame["label"].to_numpy() == truth) == pytest.approx(expected)


@pytest.mark.slow
def test_string_labels_come_back_as_strings_and_images_are_read_as_in_training(pets_search):
    frame = predict(pets_search, pets_search.parents[1] / "pets")
    assert len(frame) == 24 and set(frame["label"]) <= {"cat", "dog"}
    assert all(isinstance(label, str) for label in frame["label"])
    assert list(frame.columns) == ["file", "label", "p_cat", "p_dog"]
    assert frame["file"].iloc[0] == "cat/0.png"
    # the run decoded the folder with its pipeline's decoder (resized to 8x8, uint8): the same arrays give the
    # same numbers
    from gridsearch.data.pipeline import read_images

    root = pets_search.parents[1] / "pets"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    expected = load_predictor(pets_search).predict(read_images(root, files, (8, 8), 3), verbose=0)[:, 0]
    order = np.arange(len(files))  # predict lists files in sorted order too
    np.testing.assert_allclose(frame["p_dog"].to_numpy(), expected[order], atol=1e-5)


@pytest.mark.slow
def test_one_image_file_and_the_printed_csv(pets_search, capsys):
    image = pets_search.parents[1] / "pets" / "dog" / "3.png"
    assert main(["predict", str(pets_search), str(image)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "file,label,p_cat,p_dog" and lines[1].startswith("3.png,")


def _write(path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize("make_input, message", [
    (lambda tmp: str(tmp / "missing.npz"), "does not exist"),
    (lambda tmp: _write(tmp / "notes.txt", b"hello"), "neither an .npz file"),
    (lambda tmp: _write(tmp / "broken.png", b"not a png at all"), "broken.png could not be read"),
    (lambda tmp: _write(tmp / "broken.npz", b"PK garbage"), "broken.npz could not be read as .npz"),
])
@pytest.mark.slow
def test_unreadable_inputs_exit_2_naming_the_file(make_input, message, digits_search, tmp_path, capsys):
    assert main(["predict", str(digits_search), make_input(tmp_path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_inputs_that_do_not_fit_the_model_exit_2_naming_the_file(digits_search, tmp_path, capsys):
    np.savez(tmp_path / "wrong_shape.npz", x=np.zeros((3, 28, 28)))
    assert main(["predict", str(digits_search), str(tmp_path / "wrong_shape.npz")]) == 2
    err = capsys.readouterr().err
    assert "wrong_shape.npz: images of shape (28, 28, 1), but the model takes (8, 8, 1)" in err
    np.savez(tmp_path / "two.npz", a=np.zeros((3, 8, 8)), b=np.zeros(3))
    assert main(["predict", str(digits_search), str(tmp_path / "two.npz")]) == 2
    assert "two.npz has arrays ['a', 'b']" in capsys.readouterr().err
    keras.utils.save_img(tmp_path / "big.png", np.zeros((28, 28, 1), dtype="uint8"))  # digits were arrays: no resize
    assert main(["predict", str(digits_search), str(tmp_path / "big.png")]) == 2
    assert "big.png is 28x28 (height x width), but the model takes 8x8 images" in capsys.readouterr().err


@pytest.mark.slow
def test_a_model_that_was_not_made_yet_is_named_with_its_command(digits_search, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 8, 8)))
    assert main(["predict", str(digits_search), str(tmp_path / "x.npz"), "--calibrated"]) == 2
    assert f"run `python -m gridsearch calibrate {digits_search}` first" in capsys.readouterr().err


@pytest.mark.slow
def test_inputs_outside_the_training_range_are_predicted_with_a_warning(digits_search, digits_test_split, tmp_path,
                                                                         capsys):
    path, data = digits_test_split
    best = json.loads((digits_search / "best_config.json").read_text())
    assert best["data"]["input_range"] == [0.0, 16.0]  # the digits' own scale, kept beside the preparation
    assert main(["predict", str(digits_search), str(path)]) == 0
    assert "warning" not in capsys.readouterr().err  # the training data's own scale: nothing to say
    image = (data.x_test[0] * 255 / 16).astype("uint8")  # the same digit, saved as an 8-bit PNG
    keras.utils.save_img(tmp_path / "digit.png", image)
    assert main(["predict", str(digits_search), str(tmp_path / "digit.png")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("file,label")
    assert err.startswith(f"warning: input {tmp_path / 'digit.png'} has values 0 to 255, but the model was trained "
                          f"on 0 to 16") and "x * 0.0627 would map 255 to 16" in err


@pytest.mark.parametrize("x, warned", [
    (np.array([0.0, 16.0]), False),
    (np.array([-1.0, 17.5]), False),  # within 10% of the range: new images of the same kind
    (np.array([0.0, 255.0]), True),
    (np.array([-20.0, 5.0]), True),
])
def test_range_warning(x, warned):
    from gridsearch.serving.predict import range_warning

    assert bool(range_warning(x, [0.0, 16.0], "in.npz")) == warned
    assert range_warning(x, None, "in.npz") is None  # a results folder from before the range was kept


def _old_layout(folder):
    """Turn a results folder into one written before the saved winner had its preparation inside:
    best_model.keras takes prepared inputs, preparation.npz beside it, no data.model_input."""
    from gridsearch.data.preparation import Normalizer
    from gridsearch.serving.layers import InputPreparation

    winner = keras.saving.load_model(folder / "best_model.keras", safe_mode=True)
    inner = next(layer for layer in winner.layers if isinstance(layer, keras.Model))
    preparation = next(layer for layer in winner.layers if isinstance(layer, InputPreparation))
    inner.save(folder / "best_model.keras")
    normalizer = Normalizer("scale", preparation.grayscale, keras.ops.convert_to_numpy(preparation.offset),
                            keras.ops.convert_to_numpy(preparation.scale))
    (folder / "preparation.npz").write_bytes(normalizer.to_npz())
    best = json.loads((folder / "best_config.json").read_text())
    del best["data"]["model_input"]
    (folder / "best_config.json").write_text(json.dumps(best))


@pytest.mark.slow
def test_the_saved_winner_takes_raw_image_files_and_an_older_folder_still_predicts(pets_search, writable_copy):
    from gridsearch.data.pipeline import read_images

    root = pets_search.parents[1] / "pets"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    raw = read_images(root, files, (8, 8), 3)  # uint8, as the run's pipeline decodes them
    assert json.loads((pets_search / "best_config.json").read_text())["data"]["model_input"] == "raw images"
    assert not (pets_search / "preparation.npz").exists()
    import gridsearch.serving.layers  # noqa: F401  the gridsearch layers, for safe_mode loading

    saved = keras.saving.load_model(pets_search / "best_model.keras", safe_mode=True)  # plain Keras, no wrapper
    expected = saved.predict(raw, verbose=0)[:, 0]
    assert saved.compiled and saved.evaluate(raw, (expected > 0.5).astype(int), verbose=0)[0] >= 0
    np.testing.assert_allclose(predict(pets_search, root)["p_dog"].to_numpy(), expected, atol=1e-5)

    old = writable_copy(pets_search)
    _old_layout(old)
    assert keras.saving.load_model(old / "best_model.keras").input_shape[1:] == (8, 8, 3)
    np.testing.assert_allclose(predict(old, root)["p_dog"].to_numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(load_predictor(old).predict(raw, verbose=0)[:, 0], expected, atol=1e-5)
