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
    assert log.epochs >= 3  # the epochs of its loss, under whatever name the file gives it ("Loss", "train_loss")


@pytest.fixture(scope="module")
def real():
    spec = importlib.util.spec_from_file_location("real_benchmark", REAL.parent / "real.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_report_scores_every_labelled_log_and_says_whether_the_targets_are_met(real):
    labels, curves, split = real.load()
    assert set(labels) <= set(curves) and not set(split["design"]) & set(split["heldout"])
    lines = real.report(labels, curves, split, raw_dirs=[], loo=False, learned_yardstick=False)
    text = "\n".join(lines)
    assert "- the redistributable originals in real/raw: " in text and "(100%)" in text.split("## Accuracy")[0]
    assert "## Confusion matrix (design)" in text
    second = text.split("## Beside a second labeller")[1].split("\n## ")[0]
    assert "| design | " in second  # the labellers' agreement beside the rules'
    held = bool(split["heldout"])
    assert ("held-out accuracy >= 85%" in text) is held and ("the latest held-out score: " in text) is not held
    sixth = [i for i in labels if i[0] in "wx"]  # the other branch: a corpus held out from the rules
    split = {"design": [i for i in split["design"] if i not in sixth], "heldout": sixth}
    text = "\n".join(real.report(labels, curves, split, raw_dirs=[], loo=False, learned_yardstick=False))
    assert "held-out accuracy >= 85%" in text and "## Confusion matrix (held out)" in text


def test_the_learned_yardstick_labels_each_corpus_with_a_forest_that_never_saw_it(real, monkeypatch):
    import learned  # real.py put benchmarks/diagnosis on the path

    monkeypatch.setattr(learned, "TREES", 50)  # the mechanism, not the forest's best score: 500 trees take 15 s

    labels, curves, split = real.load()
    truth = {i: row["label"] for i, row in labels.items() if i[0] in "rnt"}
    # the second corpus is held out: forests trained on the first and third only label it; each design corpus is
    # labelled by a forest trained on the other design corpus
    design = [i for i in truth if i[0] != "n"]
    predicted = learned.leave_one_corpus_out(curves, truth, {i: i[0] for i in truth}, design)
    assert set(predicted) == set(truth) and set(predicted.values()) <= set(truth.values())
    right = sum(predicted[i] == truth[i] for i in truth) / len(truth)
    assert 0.5 < right < 1  # learns the labels, and is no lookup of them
    rows = real.yardstick({i: labels[i] for i in truth}, curves, {"design": design, "heldout": []},
                           {i: (truth[i],) for i in truth})
    assert "| every corpus once held out |  | 52/84 (62%) |" in "\n".join(rows)
