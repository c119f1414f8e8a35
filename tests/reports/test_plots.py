"""Plots and TensorBoard logs of a tiny real search, and the drawing functions on synthetic records."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridsearch.reports import plots
from gridsearch.training.trial import TrialResult, TrialStatus

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tiny_run):
    """The session's tiny staged run (2 + 2 trials, 3 trained, --quiet): (folder, records by trial id, stdout)."""
    results = tiny_run.results
    records = {r.trial_id: r for r in (TrialResult.from_json(json.loads(p.read_text()))
                                       for p in (results / "trials").glob("*.json"))}
    return results, records, tiny_run.out


def assert_png(path: Path) -> np.ndarray:
    """A real, non-blank image: PNG signature, decodable, more than one colour."""
    import matplotlib.image

    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 1000
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.01, f"{path} is blank"
    return pixels


@pytest.mark.slow
def test_quiet_prints_the_summary_but_no_trial_lines(run):
    _, records, out = run
    assert "winner" in out and "test accuracy" in out
    assert not any(line.lstrip().startswith(("s1_t", "s2_t")) for line in out.splitlines())  # no trial lines
    assert "stage 1/2" not in out


@pytest.mark.slow
def test_every_trained_trial_has_its_curves(run):
    results, records, _ = run
    assert sorted(records) == ["s1_t1", "s1_t2", "s2_t2"]  # s2_t1 repeats s1_t1's config: not trained again
    for trial_id in records:
        assert_png(plots.trial_plot_path(results, trial_id))
    assert sorted(p.stem for p in (results / "plots" / "trials").glob("*.png")) == sorted(records)


@pytest.mark.slow
def test_each_stage_and_the_search_path_have_a_chart(run):
    results, _, _ = run
    for stage in (1, 2):
        assert_png(plots.stage_plot_path(results, stage))
    assert_png(plots.search_path_plot_path(results))
    assert not list((results / "plots").rglob(".*.png.*")), "a temporary file was left behind"


def _events(folder: Path):
    """Every summary value of the event files directly in `folder`, read with TensorFlow's own reader."""
    import tensorflow as tf

    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            yield from ((event.step, value) for value in event.summary.value)


def _hparams_data(value):
    from tensorboard.plugins.hparams import plugin_data_pb2

    assert value.metadata.plugin_data.plugin_name == "hparams"
    return plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)


@pytest.mark.slow
def test_tensorboard_experiment_declares_the_tuned_hyperparameters_and_metrics(run):
    results, _, _ = run
    experiments = [_hparams_data(v).experiment for _, v in _events(results / "tensorboard")
                   if v.tag == "_hparams_/experiment"]
    assert len(experiments) == 1  # hparams_config written once
    infos = {info.name: info for info in experiments[0].hparam_infos}
    assert {"learning_rate", "batch_norm", "diagnosis", "status"} <= set(infos)
    assert sorted(v.number_value for v in infos["learning_rate"].domain_discrete.values) == [0.001, 0.01]
    assert sorted(v.bool_value for v in infos["batch_norm"].domain_discrete.values) == [False, True]
    metrics = {m.name.tag for m in experiments[0].metric_infos}
    assert {"best/val_accuracy", "best/val_loss", "best/accuracy", "best/loss"} <= metrics


@pytest.mark.slow
def test_tensorboard_has_every_trial_with_its_values_metrics_and_curves(run):
    results, records, _ = run
    runs = {p.name for p in (results / "tensorboard").iterdir() if p.is_dir()}
    assert runs == set(records)
    for trial_id, record in records.items():
        values = list(_events(results / "tensorboard" / trial_id))
        (start,) = [_hparams_data(v).session_start_info for _, v in values if v.tag == "_hparams_/session_start_info"]
        assert start.group_name == trial_id
        assert start.hparams["learning_rate"].number_value == pytest.approx(record.config["learning_rate"])
        assert start.hparams["batch_norm"].bool_value == record.config["batch_norm"]
        assert start.hparams["diagnosis"].string_value == record.diagnosis["label"]
        assert start.hparams["status"].string_value == "ok"
        import tensorflow as tf

        scalars = {v.tag: float(tf.make_ndarray(v.tensor)) for _, v in values if v.tag.startswith("best/")}
        assert scalars["best/val_accuracy"] == pytest.approx(record.metrics["val_accuracy"])
        assert scalars["best/best_epoch"] == record.best_epoch
        for split, key in (("train", "loss"), ("validation", "val_loss")):
            curve = sorted((step, float(tf.make_ndarray(v.tensor)))
                           for step, v in _events(results / "tensorboard" / trial_id / split) if v.tag == "epoch_loss")
            assert [step for step, _ in curve] == list(range(1, record.epochs_run + 1))
            np.testing.assert_allclose([value for _, value in curve], record.history[key], rtol=1e-6)


@pytest.mark.slow
def test_tensorboard_event_accumulator_reads_the_hparams(run):
    """The reader TensorBoard's server uses sees the plugin data too."""
    from tensorboard.backend.event_processing import event_accumulator

    results, records, _ = run
    for trial_id in records:
        acc = event_accumulator.EventAccumulator(str(results / "tensorboard" / trial_id))
        acc.Reload()
        assert "_hparams_/session_start_info" in acc.Tags()["tensors"]
        assert acc.PluginTagToContent("hparams")


# --- the drawing functions on made-up records ------------------------------------------------------
def record(history: dict, status=TrialStatus.OK, label="healthy", best_epoch=2, error="") -> TrialResult:
    return TrialResult("s1_t1", 1, "learning_rate", "abc", {"learning_rate": 0.1, "batch_norm": False}, status,
                       metrics={"val_accuracy": 0.5}, epochs_run=len(history.get("loss", [])), best_epoch=best_epoch,
                       history=history, error=error, diagnosis={"label": label, "advice": "do something"})


@pytest.mark.parametrize("history, status, error", [
    ({"loss": [2.0, 1.0, 0.5], "val_loss": [2.1, 1.2, 0.9], "accuracy": [0.3, 0.6, 0.8],
      "val_accuracy": [0.3, 0.5, 0.4]}, TrialStatus.OK, ""),
    ({"loss": [1.0, 1e6, math.inf, math.nan], "val_loss": [1.0, 1e7, math.nan, math.nan]}, TrialStatus.FAILED,
     "loss became NaN"),
    ({}, TrialStatus.FAILED, "ValueError: width 3 is broken on purpose\nTraceback ..."),
], ids=["healthy", "diverging to nan", "no epoch"])
def test_plot_trial_draws_any_history(tmp_path, history, status, error):
    path = plots.plot_trial(record(history, status, best_epoch=2 if history else 0, error=error), "val_accuracy",
                            tmp_path / "t.png", ["learning_rate"])
    assert_png(path)


def test_plot_stage_shows_failed_and_pruned_rows(tmp_path):
    board = pd.DataFrame({
        "rank": [1, 2, None, None], "stage": [1, 1, 1, 1], "trial_id": ["s1_t2", "s1_t1", "s1_t3", "s1_t4"],
        "learning_rate": [0.01, 0.1, 1.0, 10.0], "val_accuracy": [0.9, 0.5, 0.34, None],
        "status": ["ok", "ok", "pruned", "failed"], "reused_from": ["", "", "", ""]})
    rows = plots.stage_rows(board, 1)
    assert rows["trial_id"].tolist() == ["s1_t1", "s1_t2", "s1_t3", "s1_t4"]  # plan order, not rank order
    assert plots.stage_winner(rows) == "s1_t2"
    assert plots.varying_names(rows, ["learning_rate", "status"]) == ["learning_rate", "status"]
    assert_png(plots.plot_stage(rows, ["learning_rate"], "val_accuracy", tmp_path / "stage.png"))
    assert_png(plots.plot_search_path(board, {1: "learning_rate"}, {1: ["learning_rate"]}, "val_accuracy",
                                      tmp_path / "path.png"))


def test_a_drawing_error_warns_once_and_never_stops_the_search(tiny_space, monkeypatch, tmp_path):
    from gridsearch import load_space
    from gridsearch.reports.artifacts import SearchArtifacts

    def broken(*args, **kwargs):
        raise RuntimeError("no ink")

    monkeypatch.setattr(plots, "plot_trial", broken)
    writer = SearchArtifacts(tmp_path, load_space(tiny_space()).space)
    assert {name: set(values) for name, values in writer.domains.items()} == {
        "learning_rate": {0.01, 0.001}, "batch_norm": {False, True}}
    with pytest.warns(UserWarning, match="could not write plots or TensorBoard logs.*no ink"):
        writer.trial_finished(record({"loss": [1.0]}), "val_accuracy")
    writer.trial_finished(record({"loss": [1.0]}), "val_accuracy")  # no second warning, no exception
