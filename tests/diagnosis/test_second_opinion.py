"""The second opinion: a forest trained on the real-log corpus may overrule the rules' judgments of degree."""
from __future__ import annotations

import csv
import json
import os
import time
import warnings

import numpy as np
import pytest

from conftest import REPO
from gridsearch.diagnosis.curves import Curves
from gridsearch.diagnosis.labels import Label
from gridsearch.diagnosis.logs import TrainingLog, diagnose_log
from gridsearch.diagnosis.rules import ADVICE, diagnose
from gridsearch.diagnosis.second_opinion import (
    MIN_SHARE,
    OVERRULABLE,
    TABLE,
    TABLE_WITHOUT_CLASSES,
    measurements,
    opinion,
    overrules,
    table_for,
)

CURVES = REPO / "benchmarks" / "diagnosis" / "real" / "curves"


def small_table(path, rows: int = 300, skip: int = 0):
    """The first rows of the forest's table (after `skip` of them), as a table of its own (fitted in a second under
    quick_fits)."""
    lines = TABLE.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "".join(lines[1 + skip:1 + skip + rows]))
    return path


@pytest.fixture
def quick_fits(monkeypatch):
    """Forests of ten rounds: what is stored and read back is the point, not the trees."""
    from gridsearch.diagnosis import second_opinion
    monkeypatch.setattr(second_opinion, "ROUNDS", 10)


def corpus_log(log_id: str) -> tuple[dict, int]:
    curve = json.loads((CURVES / f"{log_id}.json").read_text())
    return curve["columns"], curve["num_classes"]


@pytest.mark.parametrize("rules_label, forest_label, share, overruled", [
    (Label.HEALTHY, Label.OVERFITTING, MIN_SHARE, True),
    (Label.HEALTHY, Label.OVERFITTING, MIN_SHARE - 0.01, False),  # too few of the trees
    (Label.TOO_SLOW, Label.STUCK_AT_CHANCE, 0.9, True),  # it may see a stuck run the thresholds missed ...
    (Label.STUCK_AT_CHANCE, Label.TOO_SLOW, 0.9, True),  # ... and a slow learner they took for a stuck one
    (Label.DIVERGING, Label.HEALTHY, 0.9, False),  # a mechanism, not a judgment of degree
    (Label.HEALTHY, Label.DIVERGING, 0.9, False),
    (Label.NAN, Label.HEALTHY, 1.0, False),
    (Label.OVERFITTING, Label.OVERFITTING, 1.0, False),
])
def test_the_forest_overrules_only_judgments_of_degree_by_a_majority(rules_label, forest_label, share, overruled):
    assert overrules(rules_label, forest_label, share) is overruled


# Design logs of the corpus on which the forest (which learnt their labels) overrules the rules
@pytest.mark.parametrize("log_id, rules_label, forest_label", [
    ("h007", Label.OVERFITTING, Label.HEALTHY),  # healthy: the healthy reading's own advice and evidence
    ("b003", Label.TOO_SLOW, Label.OVERFITTING),
])
def test_an_overruled_label_keeps_the_rules_reading_beside_the_forests(log_id, rules_label, forest_label):
    history, classes = corpus_log(log_id)
    rules_only = diagnose(history, classes)
    assert rules_only.label is rules_label
    result = diagnose_log(TrainingLog(history), classes).diagnosis
    assert result.label is forest_label and rules_label in result.flags
    with TABLE.open(newline="") as table:
        logs = len({row["log"] for row in csv.DictReader(table)})  # a disagreed log: a row per label
    assert f"from a forest of boosted trees trained on {logs} real logs" in result.evidence
    assert f"the rules read {rules_label}: {rules_only.evidence}" in result.evidence
    # no rule found the forest's label: its plain advice, which claims nothing of the curve (healthy: no "more epochs
    # should help", the rules saw something else in that tail), beside the curve's numbers
    assert forest_label not in rules_only.flags and result.advice.startswith(ADVICE[forest_label])
    assert "more epochs" not in result.advice and "val_loss best " in result.evidence.split("; the rules read")[0]


def test_a_gridsearch_trial_gets_the_rules_label_and_a_log_made_elsewhere_the_second_opinion():
    """The rules were designed and scored on gridsearch's trials (benchmarks/DIAGNOSIS.md), the forest on logs."""
    history, classes = corpus_log("h007")
    assert diagnose(history, classes).label is Label.OVERFITTING  # what training.fit asks
    assert diagnose(history, classes, second_opinion=True).label is Label.HEALTHY
    assert diagnose_log(history, classes).diagnosis.label is Label.HEALTHY
    assert diagnose_log(history, classes, second_opinion=False).diagnosis.label is Label.OVERFITTING


def test_without_the_number_of_classes_a_forest_measured_without_it_gives_the_opinion():
    """What is scaled by ln C is missing then, in the curves and in the table the forest learnt from, so the label
    does not hang on a guessed C (h007: overfitting by the rules, healthy by its labellers, with C or without)."""
    history, classes = corpus_log("h007")
    with_c, without_c = (measurements(Curves.from_history(history, c)) for c in (classes, None))
    assert np.isfinite(with_c["loss_min_ln_c"]) and np.isnan(without_c["loss_min_ln_c"])
    assert without_c["val_loss_tail_slope"] == with_c["val_loss_tail_slope"]  # a shape, not a level: the same
    assert opinion(Curves.from_history(history, None))[0] is Label.HEALTHY
    assert table_for(Curves.from_history(history, None)) == TABLE_WITHOUT_CLASSES != TABLE
    result = diagnose(history, None, second_opinion=True)
    assert result.label is Label.HEALTHY and Label.OVERFITTING in result.flags
    assert "(measured without the number of classes, as this log is)" in result.evidence


def test_layers_that_act_only_in_training_explain_val_above_train_so_the_forest_does_not_name_it():
    history, classes = corpus_log("h002")  # labelled val_above_train, read healthy by the rules
    assert diagnose(history, classes, second_opinion=True).label is Label.VAL_ABOVE_TRAIN
    assert diagnose(history, classes, train_only=("dropout",), second_opinion=True).label is Label.HEALTHY


def test_the_trend_measurements_tell_a_val_loss_that_climbs_back_from_noise_around_a_flat_one():
    """A val loss that falls to 0.5 by epoch 10 and climbs steadily back to 0.9, against one that wobbles +-0.02
    around 0.5 after the same fall: the climb is most of the fall, far above its noise, and starts after the train
    loss' knee; the wobble is none of these. A NaN epoch is read at the curve's worst value, not left out."""
    epochs = np.arange(30)
    loss = 0.2 + 1.8 * np.exp(-epochs / 4)
    loss[20] = np.nan
    fall = 0.5 + 1.5 * np.exp(-epochs / 3)
    climbing = np.where(epochs < 10, fall, 0.5 + 0.02 * (epochs - 10))
    wobbling = fall + 0.02 * (-1.0) ** epochs * (epochs >= 10)
    measured = [measurements(Curves.from_history({"loss": list(loss), "val_loss": list(val)}, 10))
                for val in (climbing, wobbling)]
    assert measured[0]["val_rise_over_fall"] > 0.2 > measured[1]["val_rise_over_fall"]
    assert measured[0]["val_trend_to_noise"] > 10 > measured[1]["val_trend_to_noise"]
    assert measured[0]["val_rising_share_after_min"] > 0.9 and measured[0]["val_min_after_knee"] > 0
    assert measured[0]["val_smooth_last_min"] > 1.5 and measured[1]["val_smooth_last_min"] < 1.1
    filled = loss.copy()
    filled[20] = np.nanmax(loss)
    as_worst = measurements(Curves.from_history({"loss": list(filled), "val_loss": list(climbing)}, 10))
    assert all(measured[0][name] == as_worst[name] for name in ("train_noise", "val_min_after_knee", "gap_trend"))


def test_a_training_loss_nan_in_every_epoch_is_measured_as_missing_without_a_warning():
    """67h005: its training loss and accuracy are nan from the first epoch, its val curves numbers; what needs both
    is missing (nan), and no "Mean of empty slice" RuntimeWarning reaches the user or learned.py's output."""
    history, classes = corpus_log("67h005")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        measured = measurements(Curves.from_history(history, classes))
    assert np.isnan(measured["val_minus_train_ln_c"])
    assert measured["val_loss_first_ln_c"] > 0


def test_threads_asking_at_once_share_one_fitted_forest(monkeypatch):
    """The forest is fitted (or read from the cache folder) once per process: threads diagnosing at once wait for
    that one."""
    from concurrent.futures import ThreadPoolExecutor

    from gridsearch.diagnosis import second_opinion

    stored, fits = second_opinion._stored_forest, []

    def counted(*args):
        fits.append(args)
        return stored(*args)

    monkeypatch.setattr(second_opinion, "_stored_forest", counted)
    second_opinion._fitted.cache_clear()  # the one fit now is this test's (and the same forest as before)
    history, classes = corpus_log("h007")
    with ThreadPoolExecutor(4) as pool:
        labels = list(pool.map(lambda _: diagnose(history, classes, second_opinion=True).label, range(4)))
    assert len(fits) == 1 and labels == [Label.HEALTHY] * 4


def counted_fits(monkeypatch) -> list:
    """Each fit of a forest from here on, one entry each."""
    from gridsearch.diagnosis import second_opinion

    fit, fits = second_opinion.forest, []
    monkeypatch.setattr(second_opinion, "forest", lambda *rows: fits.append(1) or fit(*rows))
    return fits


def test_a_fitted_forest_is_stored_and_read_back_by_a_later_process(tmp_path, monkeypatch, quick_fits):
    """A `diagnose` in a new process reads the forest an earlier one fitted, the same votes; other rows (a pass added
    a corpus) or other settings are fitted anew, never answered by the forest stored before."""
    from gridsearch.diagnosis import second_opinion as so

    monkeypatch.setenv(so.CACHE_ENV, str(tmp_path / "cache"))
    fits = counted_fits(monkeypatch)
    rows = so.read_table(small_table(tmp_path / "real_logs.csv"))[:3]
    first, again = so._stored_forest("real_logs", *rows), so._stored_forest("real_logs", *rows)
    assert len(fits) == 1 and np.array_equal(first.predict_proba(rows[0]), again.predict_proba(rows[0]))
    so._stored_forest("real_logs", *so.read_table(small_table(tmp_path / "real_logs.csv", skip=300))[:3])
    monkeypatch.setattr(so, "ROUNDS", 11)
    so._stored_forest("real_logs", *rows)
    assert len(fits) == 3 and len(list((tmp_path / "cache").glob("*.pickle"))) == 3


def test_a_stored_forest_unread_for_a_month_is_removed_when_another_is_stored(tmp_path, monkeypatch, quick_fits):
    """Each table or scikit-learn version stores its own forest; those that no process has read for UNREAD_DAYS go
    when another is stored, with what a killed process left half written, and reading one keeps it. Lock files
    stay: a process may hold one."""
    from gridsearch.diagnosis import second_opinion as so

    cache = tmp_path / "cache"
    monkeypatch.setenv(so.CACHE_ENV, str(cache))
    rows = so.read_table(small_table(tmp_path / "real_logs.csv"))[:3]
    so._stored_forest("real_logs", *rows)
    [read_again] = cache.glob("*.pickle")
    unread = cache / "second_opinion-real_logs-0123456789abcdef.pickle"
    unread.write_bytes(b"a forest of an older table")
    half_written = cache / f"{unread.name}.4242.1"
    half_written.write_bytes(b"a forest cut off")
    month_ago = time.time() - (so.UNREAD_DAYS + 1) * 86400
    for path in (unread, half_written, read_again):
        os.utime(path, (month_ago, month_ago))
    so._stored_forest("real_logs", *rows)  # read: kept, and touched
    so._stored_forest("real_logs", *so.read_table(small_table(tmp_path / "real_logs.csv", skip=300))[:3])  # stored
    assert not unread.exists() and not half_written.exists() and read_again.exists()
    assert len(list(cache.glob("*.pickle"))) == 2 and read_again.with_suffix(".lock").exists()


@pytest.mark.parametrize("broken", [b"cut off while it was writ", b"\x80\x09"])  # the second: "unsupported protocol"
def test_a_broken_or_unwritable_cache_costs_a_fit_never_an_error(tmp_path, monkeypatch, quick_fits, broken):
    from gridsearch.diagnosis import second_opinion as so

    fits = counted_fits(monkeypatch)
    rows = so.read_table(small_table(tmp_path / "real_logs.csv"))[:3]
    monkeypatch.setenv(so.CACHE_ENV, str(tmp_path / "cache"))
    so._stored_forest("real_logs", *rows)
    [stored] = (tmp_path / "cache").glob("*.pickle")
    stored.write_bytes(broken)  # a disk that filled up under another tool
    assert so._stored_forest("real_logs", *rows).predict(rows[0][:3]).shape == (3,) and len(fits) == 2
    assert so._stored_forest("real_logs", *rows) and len(fits) == 2  # mended by the refit
    monkeypatch.setattr(so.fcntl, "flock", lambda *_: (_ for _ in ()).throw(OSError(37, "No locks available")))
    stored.unlink()
    assert so._stored_forest("real_logs", *rows) and len(fits) == 3  # a file system without locks
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(so.CACHE_ENV, str(tmp_path / "a_file" / "cache"))  # no folder can be made there
    assert so._stored_forest("real_logs", *rows) and len(fits) == 4


def test_processes_asking_at_once_fit_the_forest_once(tmp_path):
    """Two processes that find no stored forest at once (two pytest workers, two `diagnose` commands): one fits,
    the other waits and reads its file."""
    import subprocess
    import sys

    table = small_table(tmp_path / "real_logs.csv")
    script = (f"from pathlib import Path\nfrom gridsearch.diagnosis import second_opinion as s\n"
              f"s.ROUNDS, fit = 10, s.forest\n"
              f"def counted(*rows):\n"
              f"    with open({str(tmp_path / 'fits.txt')!r}, 'a') as f: f.write('fit\\n')\n"
              f"    return fit(*rows)\n"
              f"s.forest = counted\nrows = s.read_table(Path({str(table)!r}))[:3]\n"
              f"print(s._stored_forest('real_logs', *rows).predict(rows[0][:1])[0])")
    env = {**os.environ, "GRIDSEARCH_CACHE": str(tmp_path / "cache")}
    both = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    answers = [process.communicate(timeout=120)[0] for process in both]
    assert [process.returncode for process in both] == [0, 0] and answers[0] == answers[1] != ""
    assert (tmp_path / "fits.txt").read_text() == "fit\n"


@pytest.mark.parametrize("table", [TABLE, TABLE_WITHOUT_CLASSES])
def test_the_boosted_trees_learn_their_own_table_without_overshooting(table):
    """Boosting's multiclass Newton steps overshoot on leaves of near-certain logs without an L2 penalty
    (scikit-learn#17763): at sklearn's defaults the trees label 45% of their own training rows right."""
    from gridsearch.diagnosis import second_opinion

    model, _, _ = second_opinion._trained(table)
    features, labels, weights, _, _ = second_opinion.read_table(table)
    agreed = weights == 1.0  # the agreed logs: one label each
    assert np.mean(model.predict(features[agreed]) == labels[agreed]) > 0.9


def test_one_class_for_every_sample_is_a_mechanism_no_forest_overrules(monkeypatch):
    """A val accuracy that never changes from epoch 2 on: the model gives every sample one class, whatever a forest
    votes. One that moves within the majority share's range is a judgment of degree the forest may overrule."""
    from gridsearch.diagnosis import rules
    monkeypatch.setattr(rules, "opinion", lambda c: (Label.TOO_SLOW, 0.9, 1000))
    history = {"loss": [0.70, 0.66, 0.655, 0.652, 0.650, 0.649, 0.648, 0.647],
               "accuracy": [0.60, 0.64, 0.64, 0.64, 0.64, 0.64, 0.64, 0.64],
               "val_loss": [0.67, 0.655, 0.653, 0.652, 0.652, 0.651, 0.651, 0.651],
               "val_accuracy": [0.62, 0.64, 0.64, 0.64, 0.64, 0.64, 0.64, 0.64]}
    assert diagnose(history, 2).label is Label.STUCK_AT_CHANCE
    assert diagnose(history, 2, second_opinion=True).label is Label.STUCK_AT_CHANCE
    history["val_accuracy"] = [0.62, 0.64, 0.65, 0.64, 0.63, 0.64, 0.65, 0.64]
    assert diagnose(history, 2).label is Label.STUCK_AT_CHANCE
    assert diagnose(history, 2, second_opinion=True).label is Label.TOO_SLOW
    without_validation = {"loss": history["loss"], "accuracy": history["accuracy"]}
    assert diagnose(without_validation, 2, second_opinion=True).label is Label.STUCK_AT_CHANCE


def test_every_label_the_forest_may_name_has_plain_advice(monkeypatch):
    """The forest names data_suspect where no rule found it (q018, y029 and 40c011 of the corpus): diagnose gives that
    label with its plain advice instead of a KeyError."""
    from gridsearch.diagnosis import rules
    assert set(OVERRULABLE) <= set(ADVICE)
    monkeypatch.setattr(rules, "opinion", lambda c: (Label.DATA_SUSPECT, 0.9, 1000))
    history = {"loss": [1.2, 0.9, 0.7, 0.6, 0.55, 0.52, 0.5, 0.49], "val_loss": [1.1, 0.9, 0.75, 0.66, 0.62, 0.6,
                                                                                0.59, 0.58]}
    assert diagnose(history, 10).label is not Label.DATA_SUSPECT
    result = diagnose(history, 10, second_opinion=True)
    assert result.label is Label.DATA_SUSPECT and result.advice.startswith(ADVICE[Label.DATA_SUSPECT]), result
