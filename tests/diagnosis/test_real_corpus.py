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
    assert "## Confusion matrix (design)" in text
    held = bool(split["heldout"])
    assert ("held-out accuracy >= 85%" in text) is held and ("the latest held-out score: pass" in text) is not held
    sixth = [i for i in labels if i[0] in "wx"]  # the other branch: a corpus held out from the rules
    split = {"design": [i for i in split["design"] if i not in sixth], "heldout": sixth}
    text = "\n".join(real.report(labels, curves, split, raw_dirs=[], loo=False))
    assert "held-out accuracy >= 85%" in text and "## Confusion matrix (held out)" in text
