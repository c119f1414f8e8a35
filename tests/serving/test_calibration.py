"""Temperature scaling: the pure functions on synthetic probabilities, then real runs through `calibrate`."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from gridsearch.cli import main
from gridsearch.results.reopen import reopen
from gridsearch.serving.calibration import fit_temperature, temperature_scale
from gridsearch.serving.layers import TemperatureScaling
from gridsearch.serving.probabilities import class_probabilities, expected_calibration_error, log_loss, reliability

pytestmark = pytest.mark.slow  # real searches end to end


def calibrated_sample(n: int = 20000, classes: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels drawn from them: calibrated by construction."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(classes, 0.5), size=n)
    labels = np.array([rng.choice(classes, p=p) for p in probs])
    return probs, labels


def test_a_calibrated_model_keeps_a_temperature_close_to_1():
    probs, y = calibrated_sample()
    assert fit_temperature(probs, y) == pytest.approx(1.0, abs=0.05)
    assert expected_calibration_error(probs, y) < 0.02


def test_sharpened_probabilities_get_their_temperature_back():
    probs, y = calibrated_sample()
    overconfident = temperature_scale(probs, 0.5)  # logits doubled
    temperature = fit_temperature(overconfident, y)
    assert temperature == pytest.approx(2.0, rel=0.05)
    after = temperature_scale(overconfident, temperature)
    assert expected_calibration_error(after, y) < expected_calibration_error(overconfident, y) / 3
    assert log_loss(after, y) < log_loss(overconfident, y)
    assert (after.argmax(axis=1) == overconfident.argmax(axis=1)).all()  # accuracy is untouched


def test_expected_calibration_error_by_hand():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])
    # bins of 1/15: the two 0.9s (half right), 0.6 (right), 0.7 (right)
    assert expected_calibration_error(probs, y) == pytest.approx(2 / 4 * 0.4 + 1 / 4 * 0.4 + 1 / 4 * 0.3)
    bins = reliability(probs, y)
    assert bins.count.sum() == 4 and bins.count[13] == 2 and bins.accuracy[13] == 0.5


@pytest.mark.parametrize("outputs", [
    np.array([[0.7, 0.2, 0.1], [0.05, 0.9, 0.05], [1.0, 0.0, 0.0]], dtype="float32"),  # softmax, an exact 0
    np.array([[0.8], [0.1], [0.5], [1.0]], dtype="float32"),  # one sigmoid unit
])
def test_the_layer_computes_what_the_fit_assumed(outputs):
    layer = TemperatureScaling(1.7)
    scaled = keras.ops.convert_to_numpy(layer(outputs))
    assert scaled.shape == outputs.shape
    np.testing.assert_allclose(class_probabilities(scaled), temperature_scale(class_probabilities(outputs), 1.7),
                               atol=1e-5)


OVERCONFIDENT_SPACE = """
from gridsearch import SearchSpace, Stage

space = SearchSpace(
    name="overconfident",
    data="noisy_digits.npz",
    defaults={"filters": 8, "dense_units": 64, "conv_blocks": 1, "l2": 0.0, "dropout": 0.0},
    stages=[Stage("learning_rate", [1e-2])],
    epochs=30,
    batch_size=16,
    objective="loss",
    seed=0,
)
"""
# A share of labels replaced by random ones: a model trained long without regularisation learns them by
# heart and is then sure of itself on images whose label it cannot know, the textbook overconfidence.
NOISY_LABEL_SHARE = 0.3


@pytest.fixture(scope="module")
def overconfident_run(tmp_path_factory):
    """Trained long without regularisation on noisy labels; objective 'loss' (training loss) keeps the last
    epoch, so the retrained winner trains for all 30 epochs too."""
    import conftest

    folder = tmp_path_factory.mktemp("overconfident")
    x, y = conftest.tiny_digits(n_per_class=20, classes=tuple(range(10)))
    rng = np.random.default_rng(0)
    noisy = rng.random(len(y)) < NOISY_LABEL_SHARE
    y = np.where(noisy, rng.integers(0, 10, len(y)), y)
    np.savez(folder / "noisy_digits.npz", x=x, y=y)
    (folder / "space.py").write_text(OVERCONFIDENT_SPACE)
    assert main(["run", str(folder / "space.py"), "--results-dir", str(folder / "results"), "--quiet"]) == 0
    return folder / "results" / "overconfident"


def test_an_overconfident_model_gets_t_above_1_and_a_lower_test_ece(overconfident_run, capsys):
    assert main(["calibrate", str(overconfident_run)]) == 0
    out = capsys.readouterr().out
    report = json.loads((overconfident_run / "calibration.json").read_text())["winner"]
    assert report["temperature"] > 1.0
    assert report["test"]["ece_after"] < report["test"]["ece_before"]
    assert report["test"]["log_loss_after"] < report["test"]["log_loss_before"]
    assert report["validation_log_loss"]["after"] < report["validation_log_loss"]["before"]
    assert f"T={report['temperature']:.3f}" in out and "ECE (15 bins)" in out
    assert (overconfident_run / report["reliability_diagram"]).stat().st_size > 0
    best = json.loads((overconfident_run / "best_config.json").read_text())
    assert best["calibration"]["winner"]["temperature"] == report["temperature"]
    assert report["test"]["accuracy"] == pytest.approx(best["metrics"]["test_accuracy"])


def test_the_calibrated_model_rescales_inside_itself(overconfident_run):
    """calibrated.keras (safe mode) gives temperature_scale(winner's probabilities) from raw images."""
    if not (overconfident_run / "calibrated.keras").is_file():
        assert main(["calibrate", str(overconfident_run)]) == 0
    temperature = json.loads((overconfident_run / "calibration.json").read_text())["winner"]["temperature"]
    ctx = reopen(overconfident_run)

    winner = keras.saving.load_model(overconfident_run / "best_model.keras")
    before = winner.predict(ctx.dataset.x_test, verbose=0)  # the saved winner takes raw images
    calibrated = keras.saving.load_model(overconfident_run / "calibrated.keras", safe_mode=True)
    np.testing.assert_allclose(calibrated.predict(ctx.dataset.x_test, verbose=0),
                               temperature_scale(before, temperature), atol=1e-5)


def test_the_ensemble_is_calibrated_too(digits_search, writable_copy, capsys):
    folder = writable_copy(digits_search)
    assert main(["calibrate", str(folder), "--ensemble"]) == 0
    assert "calibrated the ensemble" in capsys.readouterr().out
    report = json.loads((folder / "calibration.json").read_text())["ensemble"]
    assert report["model"] == "ensemble_calibrated.keras" and 0.05 <= report["temperature"] <= 20
    from gridsearch import load_ensemble

    x_test = reopen(folder).dataset.x_test
    before = load_ensemble(folder).predict(x_test, verbose=0)
    after = load_ensemble(folder, calibrated=True).predict(x_test, verbose=0)
    np.testing.assert_allclose(after, temperature_scale(before, report["temperature"]), atol=1e-5)

    assert main(["ensemble", str(folder), "--top", "1"]) == 0  # a new ensemble: the old one's calibration goes
    assert not (folder / "ensemble_calibrated.keras").exists()
    assert "ensemble" not in json.loads((folder / "best_config.json").read_text()).get("calibration", {})
    assert not (folder / "calibration.json").exists()


def test_a_binary_sigmoid_model_is_calibrated(pets_search, writable_copy):
    folder = writable_copy(pets_search)
    assert main(["calibrate", str(folder)]) == 0
    report = json.loads((folder / "calibration.json").read_text())["winner"]
    calibrated = keras.saving.load_model(folder / "calibrated.keras", safe_mode=True)
    assert calibrated.output_shape == (None, 1)
    probs = calibrated.predict(**reopen(folder).dataset.predict_kwargs("test"), verbose=0)  # a folder: streamed
    assert ((probs > 0) & (probs < 1)).all()
    assert np.isfinite([report["test"]["ece_before"], report["test"]["ece_after"], report["temperature"]]).all()
