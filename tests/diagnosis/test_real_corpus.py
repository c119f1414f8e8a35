"""The real-log corpus (benchmarks/diagnosis/real): every original kept in the repository is read, and the
benchmark's report runs on it."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conftest import REPO
from gridsearch import read_training_log
from gridsearch.diagnosis.curves import canonical_name

REAL = REPO / "benchmarks" / "diagnosis" / "real"


@pytest.mark.parametrize("path", sorted((REAL / "raw").iterdir()), ids=lambda p: p.name)
def test_every_redistributable_original_is_read(path):
    log = read_training_log(path)
    # the epochs of its loss, under whatever name the file gives it ("Loss", "train_loss"); 15b005's last run is 1 epoch
    assert log.epochs >= 1 and "loss" in map(canonical_name, log.history)


@pytest.fixture(scope="module")
def real():
    spec = importlib.util.spec_from_file_location("real_benchmark", REAL.parent / "real.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_report_scores_every_labelled_log_and_says_whether_the_targets_are_met(real):
    labels, curves, split = real.load()
    assert set(labels) <= set(curves) and not set(split["design"]) & set(split["heldout"])
    lines = real.report(labels, curves, split, raw_dirs=[], loo=False, forest=False)
    text = "\n".join(lines)
    assert "- the redistributable originals in real/raw: " in text and "(100%)" in text.split("## Accuracy")[0]
    assert "## Confusion matrix (design)" in text
    second = text.split("## Beside a second labeller")[1].split("\n## ")[0]
    assert "| design | " in second  # the labellers' agreement beside the rules'
    held = bool(set(split["heldout"]) & set(labels))  # a held-out corpus whose labels are not yet read: the latest score
    assert ("held-out accuracy >= 85%" in text) is held and ("the latest held-out score: " in text) is not held
    sixth = [i for i in labels if i[0] in "wx"]  # the other branch: a corpus held out from the rules
    split = {"design": [i for i in split["design"] if i not in sixth], "heldout": sixth}
    text = "\n".join(real.report(labels, curves, split, raw_dirs=[], loo=False, forest=False))
    assert "held-out accuracy >= 85%" in text and "## Confusion matrix (held out)" in text


def test_every_log_has_a_corpus_named_held_out_while_split_json_holds_it_there(real):
    """A corpus from the fifteenth on is one row of LATER_CORPORA: its collectors' prefixes, and its name says held
    out or designed on from real/split.json, so a corpus moving to design changes no name by hand."""
    _, curves, _ = real.load()
    assert all(real.corpus_of(i) for i in curves)
    held = real._later_corpora({"35a001"})
    assert held["35c"] == "thirty-fifth corpus (held out from the rules and the second opinions of commit 16adeda)"
    assert real._later_corpora(set())["35c"].startswith("thirty-fifth corpus (design since its score; held out from")
    assert held["15e"].endswith("the second opinion of commit b5e895f)") and "16f" not in held


def test_the_second_opinion_is_weighed_on_each_corpus_by_a_forest_that_never_saw_it(real, monkeypatch):
    import learned  # real.py put benchmarks/diagnosis on the path

    from gridsearch.diagnosis import second_opinion

    monkeypatch.setattr(second_opinion, "ROUNDS", 20)  # the mechanism, not the forest's best score
    monkeypatch.setattr(learned, "WORKERS", 1)  # in this process, where the setting above holds

    labels, curves, split = real.load()
    truth = {i: row["label"] for i, row in labels.items() if i[0] in "rnt"}
    # the second corpus is held out: forests trained on the first and third only label it; each design corpus is
    # labelled by a forest trained on the other design corpus
    design = [i for i in truth if i[0] != "n"]
    predicted = learned.leave_one_corpus_out(curves, truth, lambda i: i[0], design, {})
    assert set(predicted) == set(truth) and {label for label, _ in predicted.values()} <= set(truth.values())
    assert all(0 < share <= 1 for _, share in predicted.values())
    right = sum(predicted[i][0] == truth[i] for i in truth) / len(truth)
    assert 0.5 < right < 1  # learns the labels, and is no lookup of them
    text = "\n".join(real.second_opinion_worth({i: labels[i] for i in truth}, curves, {"design": design, "heldout": []}))
    # the rules' scores while held out, from their commits' own labels (n: 24/37, t: 28/47)
    assert "| every corpus once held out |  | 52/84 (62%) |" in text


@pytest.mark.parametrize("with_classes", [True, False])
def test_the_shipped_forests_learnt_from_the_design_logs_of_today(real, tmp_path, with_classes):
    import learned

    labels, curves, split = real.load()
    shipped = learned.second_opinion.TABLE if with_classes else learned.second_opinion.TABLE_WITHOUT_CLASSES
    disagreed = real.disagreed(labels, curves)
    rows = learned.training_rows({i: row["label"] for i, row in labels.items()}, disagreed, split["design"])
    written = learned.write_table(curves, rows, tmp_path / shipped.name, with_classes)
    assert written == len([i for i in split["design"] if i in labels or i in disagreed])
    written, shipped_rows = ([row.split(",") for row in path.read_text().splitlines()]
                             for path in (tmp_path / shipped.name, shipped))
    assert written[0] == shipped_rows[0]  # else: python benchmarks/diagnosis/learned.py
    assert [row[:3] for row in written] == [row[:3] for row in shipped_rows]  # log, label, weight
    assert np.allclose(*(np.array([[float(cell or "nan") for cell in row[3:]] for row in table[1:]])
                         for table in (written, shipped_rows)), equal_nan=True)  # the measurements, to numpy's last digits


def test_the_forest_learns_a_log_its_labellers_disagreed_on_under_both_labels_at_half_weight(real):
    import learned

    labels, curves, split = real.load()
    disagreed = real.disagreed(labels, curves)
    some = next(i for i in disagreed if i in split["design"])
    truth = {i: row["label"] for i, row in labels.items()}
    rows = learned.training_rows(truth, disagreed, split["design"])
    assert [(label, weight) for i, label, weight in rows if i == some] == [(disagreed[some][0], 0.5),
                                                                          (disagreed[some][1], 0.5)]
    agreed = next(i for i in split["design"] if i in truth)
    assert [(label, weight) for i, label, weight in rows if i == agreed] == [(truth[agreed], 1.0)]
    without_29 = [i for i in split["design"] if not i.startswith("29")]  # as if the twenty-ninth were held out
    assert not [i for i, _, _ in learned.training_rows(truth, disagreed, without_29) if i.startswith("29")]


def test_a_corpus_is_scored_by_forests_that_learnt_none_of_its_logs_agreed_or_not(real, monkeypatch):
    import learned

    from gridsearch.diagnosis import second_opinion

    monkeypatch.setattr(second_opinion, "ROUNDS", 5)
    monkeypatch.setattr(learned, "WORKERS", 1)  # fits in this process, where the recording below sees them
    fit, learnt = second_opinion.forest, []

    def recorded(features, labels, weights):
        learnt.append(sorted(weights))
        return fit(features, labels, weights)

    monkeypatch.setattr(second_opinion, "forest", recorded)
    labels, curves, _ = real.load()
    truth = {i: row["label"] for i, row in labels.items() if i[0] in "nt"}
    moot = next(i for i in truth if i[0] == "t")  # a log of the third corpus, as if its labellers had disagreed
    disagreed = {moot: ("healthy", "overfitting")}
    del truth[moot]
    learned.leave_one_corpus_out(curves, truth, lambda i: i[0], list(truth) + [moot], disagreed)
    by_corpus = dict(zip(dict.fromkeys(i[0] for i in sorted(truth)), learnt))
    assert by_corpus["n"].count(0.5) == 2  # the second corpus' forest learnt the third's disagreed log twice ...
    assert 0.5 not in by_corpus["t"]  # ... the third's own forest not at all
