"""Progress display: which reporter a run gets, and the bars driven by made-up calls (no training)."""
from __future__ import annotations

import io
import pickle

from rich.console import Console

from gridsearch import Reporter
from gridsearch.cli import ConsoleReporter
from gridsearch.plans.stages import PlannedStage
from gridsearch.reports.progress import EpochProgress, ProgressReporter, format_seconds, search_reporter
from gridsearch.reports.reporter import FanOut
from gridsearch.training.trial import TrialResult, TrialStatus

STAGE = PlannedStage(1, "learning_rate", {"learning_rate": [0.1, 0.01]})


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def result(trial_id: str, lr: float) -> TrialResult:
    return TrialResult(trial_id, 1, "learning_rate", trial_id, {"learning_rate": lr}, TrialStatus.OK,
                       metrics={"val_accuracy": 0.75}, epochs_run=2, best_epoch=2, duration_s=1.5,
                       diagnosis={"label": "healthy"})


def test_not_a_terminal_gets_the_plain_lines():
    stream = io.StringIO()
    with search_reporter(ConsoleReporter, 2, stream=stream) as reporter:
        assert isinstance(reporter, ConsoleReporter)
        reporter.stage_started(STAGE, 1, 2, 0)
        reporter.trial_finished(result("s1_t1", 0.1), "val_accuracy")
    assert stream.getvalue().splitlines() == [
        "stage 1/1 [learning_rate]: 2 configs, 2 to train",
        "  s1_t1 learning_rate=0.1  val_accuracy=0.7500  epochs=2  1.5s  healthy"]


def test_quiet_gets_nothing_even_in_a_terminal():
    with search_reporter(ConsoleReporter, 2, quiet=True, stream=FakeTerminal()) as reporter:
        assert type(reporter) is Reporter  # the base class: every hook a no-op
        assert reporter.keras_callbacks() == []


class Recorder(Reporter):
    """Overrides two hooks only: the others are the base class's no-ops."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def trial_finished(self, result, objective) -> None:
        self.calls.append(("trial", result.trial_id, objective))

    def note(self, text) -> None:
        self.calls.append(("note", text))

    def keras_callbacks(self):
        return ["epoch bar"]


def test_fan_out_forwards_every_hook_to_every_reporter_in_order():
    first, second = Recorder(), Recorder()
    fan = FanOut(first, Reporter(), second)
    fan.stage_started(STAGE, 1, 2, 0)  # no reporter overrides it: nothing recorded, nothing raised
    fan.trial_finished(result("s1_t1", 0.1), "val_accuracy")
    fan.note("worker 2 died")
    assert first.calls == second.calls == [("trial", "s1_t1", "val_accuracy"), ("note", "worker 2 died")]
    assert fan.keras_callbacks() == ["epoch bar", "epoch bar"]


def render(progress) -> str:
    """What the live display shows now, drawn on a console of its own."""
    out = io.StringIO()
    Console(file=out, width=140, color_system=None).print(progress.get_renderable())
    return out.getvalue()


def test_a_terminal_gets_bars_over_trials_and_epochs():
    console = Console(file=io.StringIO(), force_terminal=True, width=140, color_system=None)
    lines = ConsoleReporter(stream=io.StringIO())
    with ProgressReporter(lines, total_trials=3, console=console) as reporter:
        reporter.stage_started(STAGE, 2, 2, 1)  # one row reused: counted as done
        (callback,) = reporter.keras_callbacks()
        callback.set_params({"epochs": 2, "steps": 4, "verbose": 0})
        callback.on_train_begin()
        callback.on_epoch_end(0, {"loss": 0.9, "val_loss": 1.25})
        mid = render(reporter.progress)
        reporter.trial_finished(result("s1_t2", 0.01), "val_accuracy")
        end = render(reporter.progress)
    assert "stage 1/2 [learning_rate]" in mid and "1/3" in mid and "2 trials left" in mid
    assert "trial 1 of 2 to train" in mid and "1/2" in mid and "loss=0.9000  val_loss=1.2500" in mid
    assert "2/3" in end and "left (at most 1 trials)" in end
    assert "trial 1 of 2 to train" not in end  # the epoch bar hides between trials
    assert "s1_t2 learning_rate=0.01" in lines.stream.getvalue()  # the line reporter still gets every call


def test_loading_the_data_is_a_bar_in_a_terminal_and_one_line_elsewhere():
    console = Console(file=io.StringIO(), force_terminal=True, width=140, color_system=None)
    lines = ConsoleReporter(stream=io.StringIO())
    with ProgressReporter(lines, total_trials=3, console=console) as reporter:
        FanOut(reporter).data_progress("checking the files of photos", 500, 4500)
        mid = render(reporter.progress)
        reporter.data_progress("checking the files of photos", 4500, 4500)
        reporter.stage_started(STAGE, 2, 3, 0)
        start = render(reporter.progress)
    assert "checking the files of photos" in mid and "500/4500" in mid
    assert "0/3" in start and "stage 1/2" in start  # the trials take the bar over
    assert lines.stream.getvalue().splitlines()[0] == "data: checking the files of photos, 4,500 done"


def test_the_epoch_callback_pickles_to_an_inert_copy():
    reporter = ProgressReporter(Reporter(), 1, console=Console(file=io.StringIO()))
    (callback,) = reporter.keras_callbacks()
    copy = pickle.loads(pickle.dumps(callback))  # a parallel backend's worker gets this
    assert isinstance(copy, EpochProgress) and copy._reporter is None
    copy.on_train_begin()
    copy.on_epoch_end(0, {"loss": 1.0})


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 59.6, 61, 3725, float("nan"))] == ["0:00", "1:00", "1:01", "1:02:05", "?"]
