"""The doctor: its table on made-up diagnoses, then real runs from a baseline stuck at chance to a healthy model."""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
from contextlib import redirect_stdout

import pandas as pd
import pytest

from gridsearch import SearchSpace, SpaceError, Stage
from gridsearch.cli import main
from gridsearch.plans.doctor import (
    REMEDIES,
    Doctor,
    Option,
    builtin_options,
    choose_next,
    first_remedy,
    labels_of,
    space_options,
)
from gridsearch.plans.stages import PlannedStage, base_config
from gridsearch.space.search_space import validate
from gridsearch.training.trial import TrialResult, TrialStatus

pytestmark = pytest.mark.slow  # real searches end to end

# --- the table, on made-up diagnoses ------------------------------------------------------------------

FIRST_REMEDY = {"stuck_at_chance": "learning_rate_down", "diverging": "learning_rate_down",
                "nan": "learning_rate_down", "oscillating": "learning_rate_down", "overfitting": "l2",
                "too_slow": "learning_rate_up", "plateau": "lr_schedule", "bad_initial_loss": "initializer"}


def _builtin(config: dict | None = None, used: set[str] = frozenset()) -> list[Option]:
    return builtin_options({**base_config(SearchSpace(name="x")), **(config or {})}, set(used))


@pytest.mark.parametrize("label, remedy", FIRST_REMEDY.items())
def test_each_label_starts_with_its_first_remedy(label, remedy):
    choice = choose_next([label], _builtin())
    assert (choice.option.name, choice.trigger, choice.rank) == (remedy, label, 1)


def test_the_table_covers_every_label_the_issue_names():
    assert REMEDIES["stuck_at_chance"] == ("learning_rate_down", "batch_norm", "input_normalization", "optimizer")
    assert REMEDIES["overfitting"] == ("l2", "dropout", "noise", "augmentation")
    assert REMEDIES["too_slow"] == ("learning_rate_up", "epochs", "lr_schedule")
    assert REMEDIES["plateau"] == ("lr_schedule", "learning_rate_down", "batch_size")
    assert REMEDIES["bad_initial_loss"] == ("initializer", "input_normalization", "batch_norm")


def test_a_remedy_already_run_hands_over_to_the_next_one_of_the_same_label():
    choice = choose_next(["stuck_at_chance"], _builtin(used={"learning_rate_down"}))
    assert (choice.option.name, choice.rank) == ("batch_norm", 2)
    # batch normalization already on: nothing to try there, so input normalization is next
    choice = choose_next(["stuck_at_chance"], _builtin({"batch_norm": True}, used={"learning_rate_down"}))
    assert choice.option.name == "input_normalization"


def test_a_flag_decides_when_the_primary_label_has_no_remedy_left():
    used = set(REMEDIES["overfitting"])
    choice = choose_next(["overfitting", "too_slow"], _builtin(used=used))
    assert (choice.option.name, choice.trigger) == ("learning_rate_up", "too_slow")


def test_the_cause_of_a_diagnosis_is_treated_before_its_label():
    diagnosis = {"label": "stuck_at_chance", "cause": "dead_units", "flags": ["dead_units"]}
    assert labels_of(diagnosis) == ["dead_units", "stuck_at_chance"]
    assert choose_next(labels_of(diagnosis), _builtin()).option.name == "batch_norm"
    assert first_remedy(diagnosis) == "batch_norm"
    assert first_remedy({"label": "stuck_at_chance", "cause": "no_signal"}) == "check_labels"  # outside the search
    no_signal = choose_next(["no_signal", "stuck_at_chance"], _builtin())
    assert (no_signal.option.name, no_signal.rank) == ("batch_norm", 2)  # check_labels has no stage: skipped
    assert first_remedy({"label": "overfitting"}) == "l2" and first_remedy({"label": "data_suspect"}) is None


def test_healthy_stops_without_stages_of_the_space():
    assert choose_next(["healthy"], _builtin()) is None
    assert choose_next(["data_suspect"], _builtin()) is None  # no hyperparameter fixes a leaky split
    assert choose_next([], _builtin()) is None  # a trial that failed without a diagnosis


def test_builtin_grids_start_at_the_current_value():
    grids = {o.name: o.grid for o in _builtin({"learning_rate": 0.5, "epochs": 6})}
    assert grids["learning_rate_down"] == {"learning_rate": [0.5, 0.05, 0.005, 0.0005]}
    assert grids["batch_norm"] == {"batch_norm": [False, True]}
    assert grids["l2"] == {"l2": [0.0, 1e-4, 1e-3]}
    assert grids["epochs"] == {"epochs": [6, 12, 18]}
    assert grids["lr_schedule"] == {"lr_schedule": ["none", "reduce_on_plateau"]}  # step: never within 6 epochs
    assert "learning_rate_up" not in grids  # 0.5 x 10 is past the largest useful learning rate


SPACE_STAGES = [Stage("l2", [0.0, 1e-3]), Stage("batch_norm", [False, True]), Stage("learning_rate", [0.1, 0.01])]


def test_the_space_stages_are_only_reordered_never_invented():
    options = space_options(SearchSpace(name="x", stages=SPACE_STAGES))
    first = choose_next(["stuck_at_chance"], options)
    assert (first.option.name, first.remedy) == ("learning_rate", "learning_rate_down")
    second = choose_next(["stuck_at_chance"], [o for o in options if o is not first.option])
    assert second.option.name == "batch_norm"
    # healthy, or nothing among them treats the label: the rest as written
    assert choose_next(["healthy"], options).option.name == "l2"
    assert choose_next(["bad_initial_loss"], [options[0]]).option.name == "l2"
    assert choose_next(["healthy"], []) is None


def _row(stage: int, k: int, config: dict, label: str, score: float, status=TrialStatus.OK) -> TrialResult:
    return TrialResult(f"s{stage}_t{k}", stage, "", f"c{stage}{k}", config, status, metrics={"val_accuracy": score},
                       diagnosis={"label": label, "flags": [], "evidence": f"{label} evidence"})


def test_the_doctor_runs_stages_chosen_from_each_winner_and_reports_why():
    """A scripted run_stage: the baseline is stuck; lowering the learning rate makes it healthy."""
    space = SearchSpace(name="x", defaults={"learning_rate": 0.5})
    doctor, started = Doctor(space), []

    def run_stage(stage: PlannedStage, *, allow_no_winner: bool = False) -> TrialResult:
        started.append(stage)
        if stage.name == "baseline":
            return _row(1, 1, base_config(space), "stuck_at_chance", 0.1, TrialStatus.PRUNED)
        return _row(stage.index, 3, {**base_config(space), "learning_rate": 0.005}, "healthy", 0.95)

    doctor.run(run_stage)
    assert [s.name for s in started] == ["baseline", "learning_rate_down"]
    report = doctor.report()
    assert report["baseline"]["label"] == "stuck_at_chance" and report["baseline"]["status"] == "pruned"
    assert report["steps"][0]["trigger"] == "stuck_at_chance" and "remedy 1 of 4" in report["steps"][0]["reason"]
    assert report["final"] == {**report["steps"][0]["winner"]} and report["final"]["label"] == "healthy"
    assert report["stopped"] == "the winner is healthy"
    assert report["changed"] == {"learning_rate": [0.5, 0.005]}


def test_a_stage_without_a_finished_trial_keeps_the_current_config_and_tries_the_next_remedy():
    space = SearchSpace(name="x", defaults={"learning_rate": 0.5})
    doctor, started = Doctor(space), []

    def run_stage(stage: PlannedStage, *, allow_no_winner: bool = False) -> TrialResult:
        started.append(stage.name)
        if stage.name in ("baseline", "learning_rate_down"):  # NaN at every learning rate
            return _row(stage.index, 1, base_config(space), "nan", float("nan"), TrialStatus.FAILED)
        return _row(stage.index, 2, {**base_config(space), "batch_norm": True}, "healthy", 0.9)

    doctor.run(run_stage)
    assert started == ["baseline", "learning_rate_down", "batch_norm"]
    report = doctor.report()
    assert report["steps"][1]["trigger"] == "nan" and report["steps"][1]["reason"].startswith("the baseline is nan")
    assert report["final"]["label"] == "healthy" and report["baseline"]["score"] is None


def test_with_a_custom_model_only_what_training_applies_or_defaults_declare_is_tuned():
    config = {**base_config(SearchSpace(name="x")), "width": 8}
    names = {o.name for o in builtin_options(config, set(), custom_model=True, declared=["width", "learning_rate"])}
    assert {"learning_rate_down", "epochs", "lr_schedule", "batch_size", "input_normalization"} <= names
    assert not names & {"batch_norm", "l2", "dropout", "initializer", "optimizer"}


def test_plan_auto_may_leave_stages_out_but_needs_epochs_for_a_diagnosis(tmp_path):
    validate(SearchSpace(name="x", plan="auto"), tmp_path / "s.py")
    with pytest.raises(SpaceError, match="stages is empty.*plan='auto'"):
        validate(SearchSpace(name="x"), tmp_path / "s.py")
    with pytest.raises(SpaceError, match=r"epochs=2 is too few for plan='auto' in field 'epochs' of .*s\.py"):
        validate(SearchSpace(name="x", plan="auto", epochs=2), tmp_path / "s.py")


# --- real runs: a baseline stuck at chance ----------------------------------------------------------------

# Measured on the bundled digits (10 classes, chance 0.10), 6 epochs: Adam at 0.5 stays at val accuracy
# 0.10 (stuck_at_chance); 0.05 reaches 0.89 and 0.0005 0.81 (too_slow); 0.005 reaches 0.95 (healthy).
STUCK_SPACE = """
from gridsearch import SearchSpace, Stage

space = SearchSpace(
    name="stuck",
    data="digits",
    defaults={{"filters": 8, "dense_units": 32, "conv_blocks": 1, "learning_rate": 0.5}},
    stages={stages},
    plan="{plan}",
    epochs=6, batch_size=32, seed=0,
)
"""
# Written as batch_norm first: the doctor must run the learning rate first (the baseline is stuck).
USER_STAGES = '[Stage("batch_norm", [False, True]), Stage("learning_rate", [0.5, 0.005])]'
CHANCE = 0.1


def _summary_counts(out: str) -> dict[str, int]:
    line = next(line for line in out.splitlines() if line.startswith("done in"))
    words = line.replace(",", "").split()
    return {key: int(words[words.index(key) - 1]) for key in ("trained", "reused", "kept")}


@pytest.fixture(scope="module")
def doctored(tmp_path_factory):
    """`doctor SPACE` killed (SIGKILL) after its second stage, then run again to the end."""
    folder = tmp_path_factory.mktemp("doctor")
    space = folder / "space.py"
    space.write_text(STUCK_SPACE.format(stages=USER_STAGES, plan="staged"))
    killed = subprocess.run([sys.executable, "-m", "gridsearch", "doctor", str(space), "--results-dir",
                             str(folder / "results")], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "GRIDSEARCH_KILL_AT": "stage_end:2"})
    results = folder / "results" / "stuck"
    records_when_killed = len(list((results / "trials").glob("*.json")))
    out = io.StringIO()  # capsys is function-scoped: a module fixture captures by hand
    with pytest.warns(UserWarning, match="stale lock"), redirect_stdout(out):
        code = main(["doctor", str(space), "--results-dir", str(folder / "results")])
    return killed, records_when_killed, code, out.getvalue(), results


def test_doctor_takes_a_stuck_baseline_to_a_healthy_model(doctored):
    _, _, code, out, results = doctored
    assert code == 0, out
    report = json.loads((results / "doctor.json").read_text())
    assert report["baseline"]["label"] == "stuck_at_chance"
    assert report["baseline"]["score"] < CHANCE + 0.05
    assert report["final"]["label"] == "healthy"
    assert report["final"]["score"] > CHANCE + 0.7  # 0.95 measured
    assert report["changed"]["learning_rate"] == [0.5, 0.005]
    assert 0.8 < report["test"]["test_accuracy"] <= 1.0
    assert "doctor: baseline s1_t1 stuck_at_chance" in out and "final: " in out


def test_doctor_only_reorders_the_space_stages(doctored):
    _, _, _, _, results = doctored
    steps = json.loads((results / "doctor.json").read_text())["steps"]
    assert [(s["stage"], s["name"]) for s in steps] == [(2, "learning_rate"), (3, "batch_norm")]
    # lr 0.5 took the loss from ln 10 to far above it in epoch 1: the cause is a blow-up, treated first
    assert steps[0]["trigger"] == "blew_up" and steps[0]["remedy"] == "learning_rate_down"
    assert "the baseline is stuck_at_chance" in steps[0]["reason"] and ", cause blew_up:" in steps[0]["reason"]
    assert steps[0]["winner"]["label"] == "healthy"
    assert steps[1]["remedy"] is None and steps[1]["reason"].endswith("healthy (" + steps[0]["winner"]["evidence"]
                                                                        + "): the space's next stage as written")


def test_a_killed_doctor_run_resumes_without_retraining(doctored):
    killed, records_when_killed, _, out, _ = doctored
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert records_when_killed == 2  # the baseline and learning_rate=0.005
    # stage 3 repeats the winner (reused) and trains batch_norm=True only
    assert _summary_counts(out) == {"trained": 1, "reused": 2, "kept": 2}


def test_doctor_run_has_leaderboard_best_config_and_model(doctored):
    _, _, _, _, results = doctored
    board = pd.read_csv(results / "leaderboard.csv")
    assert set(board["stage_name"]) == {"baseline", "learning_rate", "batch_norm"}
    assert board.iloc[-1]["diagnosis"] == "stuck_at_chance"  # the baseline ranks last
    best = json.loads((results / "best_config.json").read_text())
    report = json.loads((results / "doctor.json").read_text())
    assert best["trial_id"] == report["final"]["trial_id"] == board.loc[0, "trial_id"]
    assert best["provenance"]["plan"] == "auto"
    assert (results / "best_model.keras").is_file()


def test_plan_auto_in_a_space_runs_the_doctor_with_builtin_stages(doctored, tmp_path, capsys):
    """No stages: the doctor builds them; the records of the doctor run above are reused by config id."""
    _, _, _, _, results = doctored
    shutil.copytree(results, tmp_path / "results" / "stuck")
    space = tmp_path / "space.py"
    space.write_text(STUCK_SPACE.format(stages="[]", plan="auto"))
    assert main(["run", str(space), "--results-dir", str(tmp_path / "results"), "--resume-changed"]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "results" / "stuck" / "doctor.json").read_text())
    assert [s["name"] for s in report["steps"]] == ["learning_rate_down"]
    assert report["steps"][0]["grid"] == {"learning_rate": [0.5, 0.05, 0.005, 0.0005]}
    assert report["final"]["label"] == "healthy" and report["stopped"] == "the winner is healthy"
    assert _summary_counts(out)["trained"] == 2  # 0.5 and 0.005 were trained by the run above
    assert "why: the baseline is stuck_at_chance" in out


def test_the_report_shows_the_doctor_before_and_after(doctored, tmp_path):
    _, _, _, _, results = doctored
    assert main(["report", str(results), "--output", str(tmp_path / "page.html")]) == 0
    text = (tmp_path / "page.html").read_text()
    report = json.loads((results / "doctor.json").read_text())
    assert '<section id="doctor"><h2>The doctor: before and after</h2>' in text and 'id="doctor-steps"' in text
    assert "<td>baseline</td>" in text and "stuck_at_chance" in text
    assert "<td>step 1: stage 2 [learning_rate]</td>" in text and report["steps"][0]["reason"][:40] in text
    assert "learning_rate 0.5 &rarr; 0.005" in text
