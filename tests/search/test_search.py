"""End to end: real Keras Tuner searches on tiny data, from a space file to the leaderboard and back."""
from __future__ import annotations

import json

import keras
import pandas as pd
import pytest

import conftest
from gridsearch import build_best, load_best
from gridsearch.cli import main

pytestmark = pytest.mark.slow  # real searches end to end

SPEC_COLUMNS = ["rank", "stage", "trial_id", "learning_rate", "batch_norm", "val_accuracy", "val_loss", "loss",
                "accuracy", "epochs_run", "best_epoch", "duration_s", "status", "diagnosis", "advice"]


@pytest.fixture(scope="module")
def finished_run(tiny_run):
    """The session's tiny staged run, read-only: (results folder, space file); conftest.tiny_run asserts its exit
    code."""
    return tiny_run.results, tiny_run.space


def test_staged_run_writes_a_ranked_leaderboard(finished_run):
    results, _ = finished_run
    board = pd.read_csv(results / "leaderboard.csv")
    assert set(SPEC_COLUMNS) <= set(board.columns)
    assert len(board) == 4  # 2 + 2 trials, not 2 x 2 configs trained separately per stage
    assert board["val_accuracy"].is_monotonic_decreasing
    assert board["rank"].tolist() == [1, 2, 3, 4]
    assert set(board["status"]) == {"ok"}


def test_a_config_repeated_by_the_next_stage_is_reused_not_retrained(finished_run):
    results, _ = finished_run
    board = pd.read_csv(results / "leaderboard.csv").set_index("trial_id")
    stage1_winner = board.loc[["s1_t1", "s1_t2"], "val_accuracy"].idxmax()
    assert board.loc["s2_t1", "reused_from"] == stage1_winner
    assert board.loc["s2_t1", "duration_s"] == 0
    assert len(list((results / "trials").glob("*.json"))) == 3  # 3 distinct configs trained


def test_best_config_has_values_metrics_test_score_and_provenance(finished_run):
    results, space = finished_run
    best = json.loads((results / "best_config.json").read_text())
    board = pd.read_csv(results / "leaderboard.csv")
    assert best["hyperparameters"]["learning_rate"] == board.loc[0, "learning_rate"]
    assert best["metrics"]["val_accuracy"] == pytest.approx(board.loc[0, "val_accuracy"])
    assert 0.0 <= best["metrics"]["test_accuracy"] <= 1.0
    assert best["provenance"]["space_file"] == str(space.resolve())
    assert len(best["provenance"]["space_sha256"]) == 64
    assert best["provenance"]["packages"]["keras"] == keras.__version__


def test_load_best_and_build_best(finished_run):
    results, _ = finished_run
    cfg = load_best(results)
    assert cfg["batch_norm"] in (True, False) and cfg["filters"] == 8
    assert "test_accuracy" in cfg["metrics"] and "space_sha256" in cfg["provenance"]
    model = build_best(results)
    assert isinstance(model, keras.Model) and model.optimizer is not None
    assert model.output_shape == (None, 3)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == cfg["batch_norm"]
    saved = keras.saving.load_model(results / "best_model.keras")  # raw images in, the preparation a layer
    assert saved.input_shape == (None, 8, 8, 1)
    assert next(layer for layer in saved.layers if isinstance(layer, keras.Model)).count_params() == model.count_params()


def test_leaderboard_command_prints_the_table(finished_run, capsys):
    results, _ = finished_run
    assert main(["leaderboard", str(results), "--top", "2", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("rank,stage") and len(lines) == 3
    assert main(["leaderboard", str(results), "--stage", "2", "--format", "json"]) == 0
    assert {row["stage"] for row in json.loads(capsys.readouterr().out)} == {2}


def test_running_again_resumes_from_the_records(finished_run, writable_copy, capsys):
    shared, space = finished_run
    results = writable_copy(shared)
    before = pd.read_csv(results / "leaderboard.csv")
    assert main(["run", str(space), "--results-dir", str(results.parent)]) == 0
    out = capsys.readouterr().out
    assert "0 trained" in out and "3 kept from an earlier run" in out
    after = pd.read_csv(results / "leaderboard.csv")
    pd.testing.assert_frame_equal(before.drop(columns="duration_s"), after.drop(columns="duration_s"))


def test_full_grid_runs_the_product(tiny_space, tmp_path, capsys):
    assert main(["run", str(tiny_space()), "--full-grid", "--results-dir", str(tmp_path)]) == 0
    board = pd.read_csv(tmp_path / "tiny" / "leaderboard.csv")
    assert len(board) == 4 and set(board["stage_name"]) == {"full_grid"}
    assert sorted(zip(board["learning_rate"], board["batch_norm"])) == [
        (0.001, False), (0.001, True), (0.01, False), (0.01, True)]
    assert json.loads((tmp_path / "tiny" / "best_config.json").read_text())["provenance"]["plan"] == "full_grid"


def failing_space(widths: str) -> str:
    return conftest.FAILING_BUILDER.format(name="failing", optimizer="SGD", widths=widths, epochs=2)


def test_a_failing_trial_is_recorded_and_the_others_go_on(write_space, tiny_npz, tmp_path, capfd):
    space = write_space(failing_space("[3, 8, 16]"))
    assert main(["run", str(space), "--results-dir", str(tmp_path)]) == 0
    out, err = capfd.readouterr()
    assert "s1_t1 width=3" in out and "[failed: " in out and "width 3 is broken on purpose" in out
    assert "Traceback" not in out + err and "FailedTrialError" not in out + err  # Keras Tuner's own print
    board = pd.read_csv(tmp_path / "failing" / "leaderboard.csv").set_index("trial_id")
    assert board.loc["s1_t1", "status"] == "failed"
    assert "width 3 is broken on purpose" in board.loc["s1_t1", "error"]
    assert pd.isna(board.loc["s1_t1", "rank"])
    assert (board.drop(index="s1_t1")["status"] == "ok").all() and len(board) == 5
    assert board.index[-1] == "s1_t1"  # failed rows sink to the bottom
    records = [json.loads(path.read_text()) for path in (tmp_path / "failing" / "trials").glob("*.json")]
    (failed,) = [r for r in records if r["status"] == "failed"]
    assert "Traceback" in failed["error"] and "width 3 is broken on purpose" in failed["error"]


def test_nan_loss_is_a_failed_trial(write_space, tiny_npz, tmp_path):
    space = write_space(failing_space("[8]").replace("[1e-2, 1e-3]", "[1e-3, 1e12]"))
    assert main(["run", str(space), "--results-dir", str(tmp_path), "--no-prune"]) == 0
    board = pd.read_csv(tmp_path / "failing" / "leaderboard.csv").set_index("trial_id")
    assert board.loc["s2_t2", "learning_rate"] == 1e12
    assert board.loc["s2_t2", "status"] == "failed" and "NaN" in board.loc["s2_t2", "error"]
    assert board.loc["s2_t2", "epochs_run"] < 2  # stopped at once, not trained to the end
    assert (board.drop(index="s2_t2")["status"] == "ok").all()


def test_a_stage_where_every_trial_fails_stops_with_exit_1_and_keeps_results(write_space, tiny_npz, tmp_path, capsys):
    space = write_space(failing_space("[3]"))
    assert main(["run", str(space), "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "every trial of stage 1 (width) failed" in err and "width 3 is broken on purpose" in err
    board = pd.read_csv(tmp_path / "failing" / "leaderboard.csv")
    assert board["status"].tolist() == ["failed"]
    assert not (tmp_path / "failing" / "best_config.json").exists()


def test_image_folder_example_space_runs_on_generated_pngs(tmp_path, monkeypatch):
    folder = conftest.write_image_folder(tmp_path / "pets", per_class=10, size=(32, 32))
    monkeypatch.setenv("GRIDSEARCH_IMAGE_FOLDER", str(folder))
    assert main(["run", str(conftest.REPO / "search_spaces" / "image_folder.py"), "--results-dir", str(tmp_path)]) == 0
    best = load_best(tmp_path / "image_folder")
    assert best["provenance"]["data"]["classes"] == ["cat", "dog"]
    assert best["provenance"]["data"]["input_shape"] == [32, 32, 3]
    assert len(pd.read_csv(tmp_path / "image_folder" / "leaderboard.csv")) == 6


def test_a_failed_trial_is_trained_again_by_the_next_run_and_the_summary_counts_it(write_space, tiny_npz, tmp_path,
                                                                                    capsys):
    broken = failing_space("[3, 8]").replace('if hp["width"] == 3:', 'if hp["width"] == 3 and BROKEN.exists():')
    space = write_space("import pathlib\nBROKEN = pathlib.Path(__file__).with_name('broken')\n"
                        + broken.replace("Stage(\"learning_rate\", [1e-2, 1e-3])", "Stage(\"learning_rate\", [1e-2])"))
    (tmp_path / "broken").touch()
    results = tmp_path / "results"
    assert main(["run", str(space), "--results-dir", str(results)]) == 0
    board = pd.read_csv(results / "failing" / "leaderboard.csv").set_index("trial_id")
    assert board.loc["s1_t1", "status"] == "failed"
    capsys.readouterr()
    (tmp_path / "broken").unlink()  # the user fixes the builder; the space file itself is unchanged
    assert main(["run", str(space), "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    done = next(line for line in out.splitlines() if line.startswith("done in"))
    assert "1 kept from an earlier run, 1 failed in an earlier run and retried" in done  # width 8 kept, 3 retried
    board = pd.read_csv(results / "failing" / "leaderboard.csv").set_index("trial_id")
    assert (board["status"] == "ok").all()  # the finished ones kept, the failed one trained again
