"""`python -m gridsearch diagnose FILE`: a training log made elsewhere, labelled with its evidence."""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from gridsearch.cli import main
from gridsearch.diagnosis import second_opinion

EPOCHS = 12


def write_log(path, columns: dict[str, list[float]]) -> str:
    """A file as keras.callbacks.CSVLogger writes it: an epoch column, then the logs' keys sorted."""
    names = sorted(columns)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *names])
        for epoch in range(len(columns["loss"])):
            writer.writerow([epoch, *(columns[name][epoch] for name in names)])
    return str(path)


def overfitting() -> dict[str, list[float]]:
    loss = [2.0 * math.exp(-e / 2) + 0.01 for e in range(EPOCHS)]
    val = [0.8, 0.5, 0.4, 0.35, 0.33, 0.34, 0.38, 0.43, 0.5, 0.57, 0.64, 0.72]
    return {"loss": loss, "val_loss": val, "accuracy": [min(1.0, 0.5 + 0.06 * e) for e in range(EPOCHS)],
            "val_accuracy": [0.7, 0.8, 0.85, 0.87, 0.88, 0.88, 0.87, 0.87, 0.86, 0.86, 0.85, 0.85]}


def test_text_output_has_label_confidence_advice_evidence_and_flags(tmp_path, capsys):
    log = write_log(tmp_path / "log.csv", overfitting())
    assert main(["diagnose", log, "--classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "diagnosis:  overfitting (confidence" in out
    assert "advice:     val_loss was lowest at epoch 4" in out  # as the file numbers it (CSVLogger: from 0)
    assert "evidence:   val_loss min 0.33 at epoch 4" in out and "numbered from 0 as in the log" in out
    assert "flags:      " in out and f"; {EPOCHS} epochs, numbered" in out


def test_json_output_and_keras_2_column_names(tmp_path, capsys):
    history = overfitting()
    keras2 = {"loss": history["loss"], "val_loss": history["val_loss"], "acc": history["accuracy"],
              "val_acc": history["val_accuracy"], "lr": [1e-3] * EPOCHS}
    assert main(["diagnose", write_log(tmp_path / "log.csv", keras2), "--classes", "10", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["label"] == "overfitting" and result["classes"] == 10 and result["epochs"] == EPOCHS
    assert set(result["columns"]) == {"loss", "val_loss", "accuracy", "val_accuracy", "learning_rate"}
    assert 0.5 <= result["confidence"] <= 1.0 and isinstance(result["flags"], list)


def test_the_number_of_classes_decides_chance_level(tmp_path, capsys):
    # a binary model that learned nothing, its accuracy jittering around 0.5 (one that never moves is one class
    # for every sample, whatever C: rules._one_class_in_training)
    flat = {"loss": [0.693] * 6, "accuracy": [0.5, 0.49, 0.51, 0.5, 0.52, 0.49]}
    log = write_log(tmp_path / "log.csv", flat)
    labels = {}
    for classes in (2, 10):
        assert main(["diagnose", log, "--classes", str(classes), "--format", "json"]) == 0
        labels[classes] = json.loads(capsys.readouterr().out)["label"]
    assert labels[2] == "stuck_at_chance" and labels[10] != "stuck_at_chance"


@pytest.mark.parametrize("content, reason", [
    (None, "No such file or directory"),
    ("", "empty file"),
    ("epoch,accuracy\n0,0.5\n", "no 'loss' column"),
    ("epoch,loss\n0,0.5\n1,high\n", "column 'loss' holds a non-number"),
], ids=["missing", "empty", "no loss column", "not a number"])
def test_a_bad_file_exits_2_naming_the_path_and_the_reason(tmp_path, capsys, content, reason):
    path = tmp_path / "log.csv"
    if content is not None:
        path.write_text(content)
    assert main(["diagnose", str(path), "--classes", "10"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and reason in err


def test_classes_is_optional_and_at_least_2(tmp_path, capsys):
    log = write_log(tmp_path / "log.csv", overfitting())
    assert main(["diagnose", log]) == 0
    out = capsys.readouterr().out
    assert "diagnosis:  overfitting" in out and "classes unknown" in out
    assert "skipped:    stuck_at_chance" in out and "--classes N would add them" in out
    assert main(["diagnose", log, "--classes", "1"]) == 2
    assert "at least 2 classes" in capsys.readouterr().err


def test_without_classes_a_label_that_differs_for_a_binary_task_is_shown_beside_it(tmp_path, capsys, monkeypatch):
    """Accuracy levelling off at 0.72: 72% of the range with chance read as 0 (a task's ceiling, healthy), 44% of
    it for a binary task (chance 0.5: a plateau). The rules' readings: the forest may not overrule here, as its
    votes on so ambiguous a curve move with each corpus it learns (35-45% healthy or plateau without C)."""
    monkeypatch.setattr(second_opinion, "MIN_SHARE", 1.01)
    rng, epochs = np.random.default_rng(0), np.arange(20)
    levelling = {"loss": 0.5 + 0.2 * np.exp(-epochs / 3) + rng.normal(0, 0.003, 20),
                 "val_loss": 0.52 + 0.18 * np.exp(-epochs / 3) + rng.normal(0, 0.004, 20),
                 "accuracy": 0.72 - 0.2 * np.exp(-epochs / 3) + rng.normal(0, 0.004, 20),
                 "val_accuracy": 0.71 - 0.18 * np.exp(-epochs / 3) + rng.normal(0, 0.006, 20)}
    log = write_log(tmp_path / "log.csv", {name: list(values) for name, values in levelling.items()})
    assert main(["diagnose", log]) == 0
    out = capsys.readouterr().out
    assert "diagnosis:  healthy" in out and "if binary:  plateau with --classes 2 (" in out, out
    assert main(["diagnose", log, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["if_binary"]["label"] == "plateau"
    assert main(["diagnose", log, "--classes", "2"]) == 0
    out = capsys.readouterr().out
    assert "diagnosis:  plateau" in out and "if binary" not in out


def test_a_semicolon_log_without_classes_reads_and_names_the_blow_up(tmp_path, capsys):
    """The issue's unread files (CSVLogger(separator=";")) and its article's case: RMSprop at 0.1 with batch
    normalization, a loss thousands of times ln C in epoch 1, then an overfitting curve."""
    history = overfitting()
    history["loss"] = [5000.0] + history["loss"][1:]
    path = tmp_path / "log.csv"
    path.write_text(open(write_log(tmp_path / "comma.csv", history)).read().replace(",", ";"))
    assert main(["diagnose", str(path), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["label"], result["cause"]) == ("overfitting", "blew_up")
    assert result["advice"].startswith("the loss blew up in epoch 0") and "learning rate" in result["advice"]
    assert result["format"] == "CSV (';'-separated)" and result["classes"] is None


def test_python_m_gridsearch_diagnose(tmp_path):
    log = write_log(tmp_path / "log.csv", overfitting())
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-m", "gridsearch", "diagnose", log, "--classes", "10"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "diagnosis:  overfitting" in done.stdout
    help_text = subprocess.run([sys.executable, "-m", "gridsearch", "diagnose", "--help"], capture_output=True,
                               text=True, env=env, timeout=120).stdout
    assert "Chance accuracy is 1/N" in " ".join(help_text.split())  # --help says how the number matters
