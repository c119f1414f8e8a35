"""The corpus tooling (benchmarks/diagnosis/corpus/corpus.py): one tiny corpus run from an empty folder to
agreed.csv, with two originals written here (a CSVLogger file and Keras console output), no network."""
from __future__ import annotations

import csv
import importlib.util
import json
import math
import re

import pytest

from conftest import REPO

CORPUS = REPO / "benchmarks" / "diagnosis" / "corpus"
HEADER = "id,repo,path,commit,license,redistributable,format,num_classes,classes_evidence,task,epochs,notes"

CSV_LOG = """epoch,accuracy,loss,lr,val_accuracy,val_loss
0,0.5,0.9,0.001,0.55,0.85
1,0.6,0.7,0.001,0.62,0.72
2,0.7,0.5,0.0001,0.66,0.6
"""
BAR = "10/10 [==============================] - 0s 5ms/step"
CONSOLE_LOG = "".join(f"Epoch {e}/3\n{BAR} - loss: {loss} - accuracy: {acc} - val_loss: {vl} - val_accuracy: {va}\n"
                      for e, loss, acc, vl, va in [(1, 2.2, 0.2, 2.1, 0.25), (2, 1.5, 0.5, 1.6, 0.45),
                                                   (3, 1.0, 0.7, 1.2, 0.6)])


@pytest.fixture(scope="module")
def corpus():
    spec = importlib.util.spec_from_file_location("corpus_tooling", CORPUS / "corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def folder(tmp_path, corpus):
    """A new corpus whose two collectors saved one original each (99b's num_classes unknown)."""
    (tmp_path / "sources.csv").write_text(f"{HEADER}\nr001,Owner/Old-Repo,log.csv,abc,MIT,yes,csv_comma,3,,,3,\n")
    earlier = tmp_path / "corpus98"
    earlier.mkdir()
    (earlier / "CLAIMED.txt").write_text("Someone/Claimed 98a\n\n")
    folder = tmp_path / "corpus99"
    corpus.main(["new", str(folder), "--excluded-from", str(tmp_path / "sources.csv"), "--also-claimed", str(earlier)])
    (folder / "private" / "99a001.csv").write_text(CSV_LOG)
    (folder / "private" / "99b001.txt").write_text(CONSOLE_LOG)
    (folder / "sources_99b.csv").write_text(f'{HEADER}\n99b001,c/d,train.ipynb,def,NONE,no,ipynb,?,"none, sadly",x,3,\n')
    (folder / "sources_99a.csv").write_text(f"{HEADER}\n99a001,a/b,train.ipynb,abc,MIT,yes,ipynb,10,Dense(10),y,3,\n")
    return folder


def test_new_makes_the_layout_and_excludes_earlier_and_claimed_repositories(folder):
    assert all((folder / name).is_dir() for name in ("private", "curves", "sheets", "plots", "batches", "labels"))
    assert (folder / "EXCLUDED_REPOS.txt").read_text() == "owner/old-repo\nsomeone/claimed\n"
    assert (folder / "CLAIMED.txt").read_text() == "" and (folder / "TEMPLATES.txt").read_text() == ""
    assert (folder / "LABELS.md").read_text() == (REPO / "benchmarks/diagnosis/real/LABELS.md").read_text()


def test_new_never_overwrites_a_corpus_under_way(folder, corpus):
    with pytest.raises(SystemExit, match="already holds a corpus"):
        corpus.new(folder, folder.parent / "sources.csv")


def test_import_writes_the_curves_and_merges_the_sources(folder, corpus, capsys):
    assert corpus.main(["import", str(folder)]) == 0
    a = json.loads((folder / "curves" / "99a001.json").read_text())
    assert a == {"id": "99a001", "columns": {"accuracy": [0.5, 0.6, 0.7], "loss": [0.9, 0.7, 0.5],
                                             "learning_rate": [0.001, 0.001, 0.0001], "val_accuracy": [0.55, 0.62, 0.66],
                                             "val_loss": [0.85, 0.72, 0.6]}, "epoch_base": 0, "num_classes": 10}
    b = json.loads((folder / "curves" / "99b001.json").read_text())
    assert b["epoch_base"] == 1 and b["num_classes"] is None and b["columns"]["loss"] == [2.2, 1.5, 1.0]
    merged = (folder / "sources.csv").read_bytes().decode()
    assert merged.startswith(HEADER + "\r\n") and merged.count("\r\n") == 3
    assert [row["id"] for row in csv.DictReader(merged.splitlines())] == ["99a001", "99b001"]
    out = capsys.readouterr().out
    assert "99a001: 3 epochs" in out and "0 failed" in out


def test_import_names_a_file_read_with_another_epoch_count_than_its_collectors(folder, corpus, capsys):
    """The ninety-second corpus' 92a002: its fifth epoch was cut off mid-bar, which its collector counted."""
    (folder / "private" / "99b001.txt").write_text(CONSOLE_LOG + "Epoch 4/4\n3/10 [=====>........] - ETA: 1s - loss: 0.9")
    sources = folder / "sources_99b.csv"
    sources.write_text(sources.read_text().replace(',"none, sadly",x,3,', ',"none, sadly",x,4,'))
    assert corpus.main(["import", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "99b001: 3 epochs (its collector counted 4)" in out and "99a001: 3 epochs, [" in out
    assert "1 read with another epoch count than their collector's" in out and "99b001 (4 counted, 3 read)" in out


def test_import_reports_a_file_it_cannot_read_and_goes_on(folder, corpus, capsys):
    (folder / "private" / "99a002.csv").write_text("nothing here\n")
    with (folder / "sources_99a.csv").open("a") as f:
        f.write("99a002,e/f,x.csv,0,NONE,no,csv,2,,,3,\n")
    assert corpus.main(["import", str(folder)]) == 1
    assert "1 failed\n  99a002.csv: " in capsys.readouterr().out
    assert (folder / "curves" / "99b001.json").exists() and not (folder / "curves" / "99a002.json").exists()


def test_import_reports_a_copy_of_an_earlier_log_and_drops_the_curve_of_an_original_moved_out(folder, corpus, real,
                                                                                              capsys):
    """The fifty-ninth corpus' 59h009: the fifty-fifth's 55f001, run once and saved in its author's two repositories,
    which no collector could see (they compare the originals on hand). Left out, its curve goes at the next import."""
    (real / "curves" / "r001.json").write_text(json.dumps({"id": "r001", "columns": {"loss": [2.2, 1.5, 1.0]}}))
    assert corpus.import_corpus(folder, real) == [
        "99b001: the training losses of r001, a copy: leave it out (LEFT_OUT.txt)"]
    (folder / "private" / "99b001.txt").rename(folder / "99b001.txt")
    assert corpus.import_corpus(folder, real) == []
    assert sorted(path.name for path in (folder / "curves").iterdir()) == ["99a001.json"]
    assert "1 failed" in capsys.readouterr().out


def test_a_copy_of_another_new_log_or_of_a_corpus_beside_is_reported_a_short_or_nan_match_is_not(folder, corpus,
                                                                                                  real, tmp_path):
    """A copy found in the corpus collected beside (its curves, 99b001 read from private/), or among the new curves
    themselves; two epochs alike, or three NaN, are not a copy."""
    def curve(folder, name, losses):
        (folder / "curves" / f"{name}.json").write_text(json.dumps({"id": name, "columns": {"loss": losses}}))
    beside = tmp_path / "corpus100"
    corpus.main(["new", str(beside), "--excluded-from", str(tmp_path / "sources.csv"), "--beside", str(folder)])
    corpus.import_corpus(folder, real)
    curve(folder, "99a001", [0.5, 0.4, 0.3])
    curve(real, "r001", [0.9, 0.8])  # two epochs alike are no copy
    curve(real, "r002", [math.nan] * 3)  # nor three NaN
    curve(beside, "100a001", [0.5, 0.4, 0.3000001])  # 99a001's to 4 decimals: the corpus it was collected beside
    curve(beside, "100a002", [0.9, 0.8])
    curve(beside, "100a003", [math.nan] * 3)
    curve(beside, "100a004", [2.2, 1.5, 1.0])
    assert corpus.copies(beside, real) == [
        "100a001: the training losses of 99a001, a copy: leave it out (LEFT_OUT.txt)",
        "100a004: the training losses of 99b001, a copy: leave it out (LEFT_OUT.txt)"]
    curve(beside, "100a005", [0.5, 0.4, 0.3])
    assert "100a005: the training losses of 99a001, 100a001, a copy: leave it out (LEFT_OUT.txt)" in corpus.copies(
        beside, real)


def test_the_sheet_gives_classes_chance_and_the_epochs_as_numbered_in_the_file(folder, corpus):
    corpus.import_corpus(folder)
    lines = corpus.sheet(json.loads((folder / "curves" / "99a001.json").read_text())).splitlines()
    assert lines[:5] == ["log 99a001", "number of classes C: 10 (ln C = 2.303, chance accuracy ~ 0.100)",
                         "epochs 0..2 (3), numbered as in the file", "",
                         "epoch\taccuracy\tloss\tlearning_rate\tval_accuracy\tval_loss"]
    assert lines[5:] == ["0\t0.5\t0.9\t0.001\t0.55\t0.85", "1\t0.6\t0.7\t0.001\t0.62\t0.72", "2\t0.7\t0.5\t0.0001\t0.66\t0.6"]
    b = corpus.sheet(json.loads((folder / "curves" / "99b001.json").read_text())).splitlines()
    assert b[1] == "number of classes C: unknown" and b[2] == "epochs 1..3 (3), numbered as in the file"


def test_sheets_writes_a_sheet_and_a_plot_per_curve(folder, corpus):
    pytest.importorskip("matplotlib")
    corpus.import_corpus(folder)
    corpus.main(["sheets", str(folder)])
    for i in ("99a001", "99b001"):
        assert (folder / "sheets" / f"{i}.txt").exists()
        assert (folder / "plots" / f"{i}.png").read_bytes().startswith(b"\x89PNG")


def test_batches_deal_the_ids_round_robin(folder, corpus):
    corpus.import_corpus(folder)
    for i in ("99a002", "99a003", "99b002"):
        (folder / "curves" / f"{i}.json").write_text("{}")
    corpus.main(["batches", str(folder), "--pairs", "2"])
    assert (folder / "batches" / "batch1.txt").read_text().split() == ["99a001", "99a003", "99b002"]
    assert (folder / "batches" / "batch2.txt").read_text().split() == ["99a002", "99b001"]


def write_labels(folder, labeller: str, rows: list[str]) -> None:
    (folder / "labels" / f"labeller_{labeller}.csv").write_text(
        "id,label,cause,confidence,reason\n" + "".join(f'{row},high,"why, with numbers"\n' for row in rows))


def test_agree_pairs_the_labellers_by_batch_and_leaves_disagreements_out(folder, corpus, capsys):
    (folder / "batches" / "batch1.txt").write_text("x1\nx2\n")
    (folder / "batches" / "batch2.txt").write_text("y1\n")
    write_labels(folder, "a", ["x1,healthy,", "x2,plateau,blew_up"])
    write_labels(folder, "c", ["y1,overfitting,blew_up"])
    write_labels(folder, "b", ["x1,healthy,", "x2,too_slow,blew_up"])
    write_labels(folder, "d", ["y1,overfitting,"])
    corpus.main(["agree", str(folder)])
    assert (folder / "agreed.csv").read_bytes() == b"id,label,cause\r\nx1,healthy,\r\ny1,overfitting,\r\n"
    out = capsys.readouterr().out
    assert "batch1 (a and b): 1 of 2 agree" in out and "batch2 (c and d): 1 of 1 agree" in out
    assert "overall: 2 of 3 agree" in out


def test_agree_reads_labels_as_written_by_hand_and_counts_an_id_left_out(folder, corpus, capsys):
    (folder / "batches" / "batch1.txt").write_text("x1\nx2\nx3\n")
    write_labels(folder, "a", ["x1,Healthy ,", "x2,plateau,"])  # x3 left out by a
    write_labels(folder, "b", ["x1,healthy,", "x2,plateau,", "x3,plateau,"])
    corpus.agree(folder)
    assert (folder / "agreed.csv").read_bytes() == b"id,label,cause\r\nx1,healthy,\r\nx2,plateau,\r\n"
    out = capsys.readouterr().out
    assert "batch1: not labelled by both: x3" in out and "batch1 (a and b): 2 of 3 agree" in out


def test_agree_refuses_a_batch_without_a_pair(folder, corpus):
    (folder / "batches" / "batch1.txt").write_text("x1\n")
    write_labels(folder, "a", ["x1,healthy,"])
    with pytest.raises(SystemExit, match="1 labellers"):
        corpus.agree(folder)


def test_a_corpus_collected_beside_another_shares_its_claims_and_checks_its_originals(folder, corpus, tmp_path):
    beside = tmp_path / "corpus100"
    corpus.main(["new", str(beside), "--excluded-from", str(tmp_path / "sources.csv"), "--beside", str(folder)])
    (folder / "CLAIMED.txt").write_text("Owner/Taken 99a\n")
    (folder / "TEMPLATES.txt").write_text("TensorFlow Fashion-MNIST tutorial 99a001\n")
    assert (beside / "CLAIMED.txt").read_text() == "Owner/Taken 99a\n"
    assert (beside / "TEMPLATES.txt").read_text() == "TensorFlow Fashion-MNIST tutorial 99a001\n"
    corpus.main(["brief", str(beside), "collector", "100a", "--listings", "a.ipynb", "--stop-at", "18:12"])
    brief = " ".join((beside / "prompts" / "collector_100a.md").read_text().split())
    assert f"one already in {beside.resolve()}/private/ or {folder.resolve()}/private/ (compare" in brief
    assert f"{beside}/TEMPLATES.txt, where every collector writes" in brief
    with pytest.raises(SystemExit, match="no corpus under way"):
        corpus.new(tmp_path / "corpus101", tmp_path / "sources.csv", beside=tmp_path / "nothing")


def test_the_briefs_are_filled_with_no_placeholder_left(folder, corpus):
    corpus.main(["brief", str(folder), "collector", "99a", "--listings", "a.ipynb, b.ipynb", "--stop-at", "18:12"])
    corpus.main(["brief", str(folder), "labeller", "c", "--batch", "2"])
    collector = (folder / "prompts" / "collector_99a.md").read_text()
    labeller = (folder / "prompts" / "labeller_c.md").read_text()
    for text in (collector, labeller):
        assert not re.search(r"[{}]", text)
    assert "- a.ipynb\n- b.ipynb\n" in collector and "**18:12 UTC**" in collector and "sources_99a.csv" in collector
    assert f"one already in {folder.resolve()}/private/ (compare" in " ".join(collector.split())
    assert f"{folder}/batches/batch2.txt" in labeller and f"{folder}/LABELS.md" in labeller
    assert f"{folder}/labels/labeller_c.csv" in labeller and '"labeller c: N of N rows written"' in labeller


@pytest.fixture
def real(tmp_path):
    """A copy of the repository's real/ in miniature: one earlier log, no corpus held out."""
    real = tmp_path / "real"
    for name in ("curves", "raw"):
        (real / name).mkdir(parents=True)
    (real / "sources.csv").write_bytes(f"{HEADER}\r\nr001,Owner/Old-Repo,log.csv,abc,MIT,yes,csv_comma,3,,,3,\r\n".encode())
    (real / "labels.csv").write_bytes(b"id,label,cause\r\nr001,healthy,\r\n")
    how = ("design: every log of the first corpus. heldout: none; the next corpus goes here, held out from the rules "
           "and second opinions of the commit named in real.py, and is scored once")
    (real / "split.json").write_text(json.dumps({"design": ["r001"], "heldout": [], "how": how}, indent=1) + "\n")
    return real


def test_hold_out_moves_the_corpus_into_real_and_names_it_in_the_split(folder, corpus, real, capsys):
    corpus.import_corpus(folder)
    capsys.readouterr()
    (folder / "PICKING_99a.md").write_text("# how 99a picked\n")
    corpus.main(["hold-out", str(folder), "--ordinal", "ninety-ninth", "--commit", "abc1234", "--real", str(real)])
    assert capsys.readouterr().out.endswith("(ninety-ninth, abc1234, 2 collectors)\n")
    split = json.loads((real / "split.json").read_text())
    assert split["heldout"] == ["99a001", "99b001"] and split["design"] == ["r001"]
    assert split["how"].endswith("heldout: the ninety-ninth corpus (99a to 99b ids), held out from the rules and "
                                 "second opinions of commit abc1234 and scored once")
    rows = (real / "sources.csv").read_bytes().decode()
    assert rows.count("\r\n") == 4 and [row["id"] for row in csv.DictReader(rows.splitlines())] == ["r001", "99a001",
                                                                                                     "99b001"]
    assert (real / "raw" / "99a001.csv").read_text() == CSV_LOG  # redistributable: copied; 99b001 is not
    assert sorted(p.name for p in (real / "raw").iterdir()) == ["99a001.csv"]
    assert (real / "curves" / "99b001.json").read_text() == (folder / "curves" / "99b001.json").read_text()
    assert (real / "ninety_ninth_corpus" / "PICKING_99a.md").exists()
    with pytest.raises(SystemExit, match="held out already"):
        corpus.hold_out(folder, "hundredth", "def5678", real)


def test_a_second_corpus_held_out_from_the_same_commit_joins_the_first(folder, corpus, real, capsys):
    corpus.import_corpus(folder)
    corpus.hold_out(folder, "ninety-ninth", "abc1234", real)
    second = folder.parent / "corpus100"
    corpus.main(["new", str(second), "--excluded-from", str(real / "sources.csv")])
    (second / "private" / "100a001.csv").write_text(CSV_LOG)
    (second / "sources_100a.csv").write_text(f"{HEADER}\n100a001,e/f,log.csv,abc,NONE,no,csv_comma,10,Dense(10),y,3,\n")
    corpus.import_corpus(second)
    with pytest.raises(SystemExit, match="from another commit than def5678"):
        corpus.hold_out(second, "hundredth", "def5678", real)
    with pytest.raises(SystemExit, match="2 of its ids are in split.json already"):
        corpus.hold_out(folder, "ninety-ninth", "abc1234", real)
    corpus.hold_out(second, "hundredth", "abc1234", real)
    split = json.loads((real / "split.json").read_text())
    assert split["heldout"] == ["99a001", "99b001", "100a001"]
    assert split["how"].endswith("heldout: the ninety-ninth corpus (99a to 99b ids) and the hundredth corpus (100a to "
                                 "100a ids), held out from the rules and second opinions of commit abc1234 and scored "
                                 "once")
    assert (real / "hundredth_corpus").is_dir() and (real / "curves" / "100a001.json").exists()
    third = folder.parent / "corpus101"
    corpus.main(["new", str(third), "--excluded-from", str(real / "sources.csv")])
    (third / "private" / "101c001.csv").write_text(CSV_LOG)  # its collectors a and b found nothing
    (third / "sources_101c.csv").write_text(f"{HEADER}\n101c001,g/h,log.csv,abc,NONE,no,csv_comma,10,Dense(10),y,3,\n")
    corpus.import_corpus(third)
    capsys.readouterr()
    corpus.hold_out(third, "hundred-first", "abc1234", real)
    assert capsys.readouterr().out.endswith("(hundred-first, abc1234, 3 collectors)\n")
    assert json.loads((real / "split.json").read_text())["how"].endswith(
        "heldout: the ninety-ninth corpus (99a to 99b ids), the hundredth corpus (100a to 100a ids) and the "
        "hundred-first corpus (101c to 101c ids), held out from the rules and second opinions of commit abc1234 and "
        "scored once")


def test_hold_out_names_a_large_original_instead_of_copying_it(folder, corpus, real, monkeypatch):
    corpus.import_corpus(folder)
    monkeypatch.setattr(corpus, "RAW_LIMIT", 10)
    corpus.hold_out(folder, "ninety-ninth", "abc1234", real)
    assert not list((real / "raw").iterdir())
    row = next(row for row in csv.DictReader((real / "sources.csv").open(newline="")) if row["id"] == "99a001")
    assert row["notes"] == "not copied into real/raw: 0.0 MB; fetch it from the repository at the commit above"


def test_hold_out_keeps_an_original_that_holds_a_credential_out_of_the_repository(folder, corpus, real):
    sources = folder / "sources_99a.csv"
    sources.write_text(sources.read_text().replace(",y,3,\n", ',y,3,"cell 6; holds a credential (cell 15)"\n'))
    corpus.import_corpus(folder)
    corpus.hold_out(folder, "ninety-ninth", "abc1234", real)
    assert not list((real / "raw").iterdir())
    row = next(row for row in csv.DictReader((real / "sources.csv").open(newline="")) if row["id"] == "99a001")
    assert row["notes"] == ("cell 6; holds a credential (cell 15); not copied into real/raw: it holds a credential; "
                            "fetch it from the repository at the commit above")


def test_add_labels_appends_the_agreed_rows_and_keeps_each_labellers_file(folder, corpus, real):
    corpus.import_corpus(folder)
    corpus.hold_out(folder, "ninety-ninth", "abc1234", real)
    (folder / "batches" / "batch1.txt").write_text("99a001\n99b001\n")
    write_labels(folder, "a", ["99a001,Healthy ,", "99b001,plateau,"])
    write_labels(folder, "b", ["99a001,healthy,", "99b001,too_slow,"])
    corpus.agree(folder)
    corpus.main(["add-labels", str(folder), "--ordinal", "ninety-ninth", "--real", str(real)])
    assert (real / "labels.csv").read_bytes() == b"id,label,cause\r\nr001,healthy,\r\n99a001,healthy,\r\n"
    kept = (real / "ninety_ninth_corpus" / "labeller_a.csv").read_bytes()
    assert kept == (b'id,label,cause,confidence,reasoning\r\n99a001,healthy,,high,"why, with numbers"\r\n'
                    b'99b001,plateau,,high,"why, with numbers"\r\n')
