"""The pre-flight inside a run: once per search, before the first trial, saved, printed, and stopping the
search on an error that makes every trial pointless."""
from __future__ import annotations

import json

import pytest

from gridsearch.cli import main
from gridsearch.reports.html import _findings
from gridsearch.search.preflight import ERROR, OK, WARNING, Finding, PreflightReport

pytestmark = pytest.mark.slow  # real searches end to end


def test_findings_are_printed_before_the_first_trial_saved_and_reused_on_resume(tiny_space, tmp_path, capsys):
    space = tiny_space()
    assert main(["run", str(space), "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.index("pre-flight:") < out.index("stage 1/2")
    saved = json.loads((tmp_path / "tiny" / "preflight.json").read_text())
    checks = {f["check"]: f for f in _findings(saved)}  # the format the HTML report reads
    assert {"inputs_not_scaled", "labels_sorted", "initial_loss", "can_overfit"} <= set(checks)
    assert checks["labels_sorted"]["severity"] == WARNING  # tiny.npz is stored class by class
    assert "warning labels_sorted: " in out
    assert checks["can_overfit"]["severity"] == OK and saved["reused"] == []

    assert main(["run", str(space), "--results-dir", str(tmp_path)]) == 0  # resume: nothing left to train
    out = capsys.readouterr().out
    assert "can_overfit kept from the last run" in out
    again = json.loads((tmp_path / "tiny" / "preflight.json").read_text())
    assert again["reused"] == ["can_overfit"]


CONSTANT_DATA = """
import numpy as np

def load():
    return np.zeros((60, 8, 8)), np.repeat([0, 1, 2], 20)

space = SearchSpace(name="blank", data=load, defaults={"filters": 4, "dense_units": 8, "conv_blocks": 1},
                    stages=[Stage("batch_norm", [False, True])], epochs=2, seed=0)
"""


@pytest.mark.parametrize("body, name, check, fix", [
    (CONSTANT_DATA, "blank", "constant_features", "nothing to learn from"),
], ids=["constant inputs"])  # a model that cannot fit the task (e.g. 5 outputs for 3 classes) is lint's: test_lint.py
def test_a_blocking_error_stops_the_search_before_any_trial(write_space, tiny_npz, tmp_path, capsys,
                                                            body, name, check, fix):
    space = write_space(body)
    assert main(["run", str(space), "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pre-flight check failed" in err and f"{check}: " in err and fix in err
    folder = tmp_path / name
    assert not list((folder / "trials").glob("*.json")) and not (folder / "leaderboard.csv").exists()
    assert not (folder / "run.json").exists()  # no claim on the folder: the fixed space file runs at once
    findings = json.loads((folder / "preflight.json").read_text())["findings"]
    assert any(f["check"] == check and f["severity"] == ERROR for f in findings)


def test_a_model_that_cannot_overfit_blocks_only_when_no_stage_tunes_the_learning_rate():
    stuck = Finding("can_overfit", ERROR, "training accuracy 0.10, chance is 0.10")
    report = PreflightReport([stuck, Finding("rare_class", OK, "")], 1.0)
    assert report.blocking({"l2", "noise"}) == [stuck]
    assert report.blocking({"learning_rate", "l2"}) == []
    assert PreflightReport([Finding("constant_features", ERROR, "")], 1.0).blocking({"learning_rate"})


def test_what_a_stage_may_fix_is_reported_as_a_warning_that_says_why_the_run_goes_on():
    stuck = Finding("can_overfit", ERROR, "training accuracy 0.10, chance is 0.10")
    report = PreflightReport([stuck, Finding("rare_class", OK, "")], 1.0)
    (shown, _) = report.for_plan({"learning_rate", "l2"}).findings
    assert shown.severity == WARNING
    assert "does not stop the run: a stage tunes learning_rate" in shown.message
    assert report.for_plan({"l2"}).findings[0] == stuck  # nothing to rescue it: still an error
