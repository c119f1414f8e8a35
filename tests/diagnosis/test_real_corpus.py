"""The real-log corpus (benchmarks/diagnosis/real): every original kept in the repository is read, and the
benchmark's report runs on it."""
from __future__ import annotations

import importlib.util

import pytest

from conftest import REPO
from gridsearch import read_training_log

REAL = REPO / "benchmarks" / "diagnosis" / "real"


@pytest.mark.parametrize("path", sorted((REAL / "raw").iterdir()), ids=lambda p: p.name)
def test_every_redistributable_original_is_read(path):
    log = read_training_log(path)
    assert log.epochs >= 3 and "loss" in log.history


def test_the_report_scores_every_labelled_log_and_says_whether_the_targets_are_met():
    spec = importlib.util.spec_from_file_location("real_benchmark", REAL.parent / "real.py")
    real = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(real)
    labels, curves, split = real.load()
    assert set(labels) <= set(curves) and not set(split["design"]) & set(split["heldout"])
    lines = real.report(labels, curves, split, raw_dirs=[], loo=False)
    text = "\n".join(lines)
    assert "- the redistributable originals in real/raw: " in text and "(100%)" in text.split("## Accuracy")[0]
    assert "held-out accuracy >= 85%" in text and "## Confusion matrix (design)" in text
