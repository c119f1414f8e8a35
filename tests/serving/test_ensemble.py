"""Top-k ensemble on small real runs: built at the end of a search or by the command, saved, reloaded."""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from gridsearch import SpaceError, load_ensemble
from gridsearch.cli import main
from gridsearch.results.reopen import reopen
from gridsearch.space.search_space import SearchSpace, Stage, validate

# The ensemble may lose to the winner by a little on 60 test images (noise), not by much: 2 images.
ACCURACY_TOLERANCE = 2 / 60


@pytest.mark.slow
def test_ensemble_k_in_the_space_builds_it_at_the_end_of_the_run(digits_search):
    report = json.loads((digits_search / "ensemble.json").read_text())
    best = json.loads((digits_search / "best_config.json").read_text())
    assert report["size"] == report["requested"] == 2 and report["test_samples"] == 60
    assert [m["trial_id"] for m in report["members"]] == ["s1_t1", "s1_t2"]
    assert report["members"][0]["trial_id"] == best["trial_id"] == report["winner"]["trial_id"]
    assert report["members"][0]["config"]["learning_rate"] != report["members"][1]["config"]["learning_rate"]
    assert report["winner"]["test_accuracy"] == pytest.approx(best["metrics"]["test_accuracy"])
    assert report["test_accuracy"] >= report["winner"]["test_accuracy"] - ACCURACY_TOLERANCE
    assert 0 < report["test_log_loss"] < np.log(10)  # better than a uniform guess over the 10 classes
    assert best["ensemble"]["test_accuracy"] == report["test_accuracy"]
    assert best["ensemble"]["member_trial_ids"] == ["s1_t1", "s1_t2"]


@pytest.mark.slow
def test_saved_ensemble_loads_in_safe_mode_and_predicts_what_was_scored_in_memory(digits_search):
    """ensemble.json's scores were computed on the model in memory, before it was saved."""
    from gridsearch.serving.probabilities import class_probabilities, expected_calibration_error, log_loss

    report = json.loads((digits_search / "ensemble.json").read_text())
    data = reopen(digits_search).dataset
    loaded = keras.saving.load_model(digits_search / "ensemble.keras", safe_mode=True)
    assert [layer.name for layer in loaded.layers if isinstance(layer, keras.Model)] == ["member_1", "member_2"]
    probs = class_probabilities(loaded.predict(data.x_test, verbose=0))
    assert log_loss(probs, data.y_test) == pytest.approx(report["test_log_loss"], abs=1e-6)
    assert expected_calibration_error(probs, data.y_test) == pytest.approx(report["test_ece"], abs=1e-6)
    assert 0 <= report["winner"]["test_ece"] <= 1 and report["ece_bins"] == 15
    assert np.mean(probs.argmax(axis=1) == data.y_test) == pytest.approx(report["test_accuracy"])
    np.testing.assert_array_equal(load_ensemble(digits_search).predict(data.x_test, verbose=0),
                                  loaded.predict(data.x_test, verbose=0))


@pytest.mark.slow
def test_an_ensemble_of_one_is_the_winner(digits_search, writable_copy, capsys):
    from gridsearch.serving.ensemble import build_ensemble

    folder = writable_copy(digits_search)
    assert main(["ensemble", str(folder), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "ensemble of the top 1 (s1_t1)" in out and "winner alone" in out
    report = json.loads((folder / "ensemble.json").read_text())
    assert f"ECE={report['test_ece']:.4f}" in out and f"ECE={report['winner']['test_ece']:.4f} (s1_t1)" in out
    best = json.loads((folder / "best_config.json").read_text())
    ctx = reopen(folder)
    winner = keras.saving.load_model(folder / "best_model.keras")
    expected = winner.predict(ctx.dataset.x_test, verbose=0)  # the saved winner takes raw images
    np.testing.assert_allclose(load_ensemble(folder).predict(ctx.dataset.x_test, verbose=0), expected, atol=1e-5)
    in_memory, _ = build_ensemble(folder, ctx, 1)
    np.testing.assert_allclose(in_memory.predict(ctx.dataset.x_test, verbose=0), expected, atol=1e-5)
    report = json.loads((folder / "ensemble.json").read_text())
    assert report["test_accuracy"] == pytest.approx(best["metrics"]["test_accuracy"])
    assert report["test_log_loss"] == pytest.approx(report["winner"]["test_log_loss"])


def test_top_must_be_a_positive_number_of_members(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ensemble", str(tmp_path), "--top", "0"])
    assert exit_info.value.code == 2 and "--top: '0' is not allowed: give a number >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["ensemble", "--top", "2"], ["calibrate"], ["calibrate", "--ensemble"]])
def test_a_folder_without_a_finished_run_exits_2(command, tmp_path, capsys):
    assert main([command[0], str(tmp_path / "nothing"), *command[1:]]) == 2
    assert "no best config in" in capsys.readouterr().err


@pytest.mark.slow
def test_calibrating_an_ensemble_that_was_never_built_says_how(pets_search, capsys):
    assert main(["calibrate", str(pets_search), "--ensemble"]) == 2
    assert f"python -m gridsearch ensemble {pets_search} --top K" in capsys.readouterr().err


@pytest.mark.slow
def test_a_moved_or_edited_space_file_is_refused(digits_search, writable_copy):
    folder = writable_copy(digits_search)
    best = json.loads((folder / "best_config.json").read_text())
    edited = Path(folder.parent / "edited_space.py")
    edited.write_text(Path(best["provenance"]["space_file"]).read_text() + "\n# edited\n")
    best["provenance"]["space_file"] = str(edited)
    (folder / "best_config.json").write_text(json.dumps(best))
    with pytest.raises(SpaceError, match="changed since the results"):
        reopen(folder)
    edited.unlink()
    with pytest.raises(SpaceError, match="is gone"):
        reopen(folder)


@pytest.mark.parametrize("value", [-1, True, 1.5, "3"])
def test_ensemble_field_is_validated(value, tmp_path):
    space = SearchSpace(name="x", stages=[Stage("learning_rate", [1e-3])], ensemble=value)
    with pytest.raises(SpaceError, match=r"ensemble=.* must be an integer >= 0 in field 'ensemble'"):
        validate(space, tmp_path / "space.py")
