"""The `leaderboard` command on a written leaderboard.csv: distinct configs, rounded text, blank cells."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from gridsearch.cli import main

# What a staged run of 2 + 2 trials writes: s2_t1 repeats the stage-1 winner s1_t1; s1_t2 was pruned.
ROWS = [
    {"rank": 1, "stage": 2, "stage_name": "batch_norm", "trial_id": "s2_t2", "learning_rate": 0.01,
     "batch_norm": True, "val_accuracy": 0.9895833134651184, "val_loss": 0.04, "status": "ok", "reused_from": None,
     "error": None, "advice": "keep going"},
    {"rank": 2, "stage": 1, "stage_name": "learning_rate", "trial_id": "s1_t1", "learning_rate": 0.01,
     "batch_norm": False, "val_accuracy": 0.9826388955116272, "val_loss": 0.06, "status": "ok", "reused_from": None,
     "error": None, "advice": "keep going"},
    {"rank": 3, "stage": 2, "stage_name": "batch_norm", "trial_id": "s2_t1", "learning_rate": 0.01,
     "batch_norm": False, "val_accuracy": 0.9826388955116272, "val_loss": 0.06, "status": "ok",
     "reused_from": "s1_t1", "error": None, "advice": "keep going"},
    {"rank": None, "stage": 1, "stage_name": "learning_rate", "trial_id": "s1_t2", "learning_rate": 0.1,
     "batch_norm": False, "val_accuracy": None, "val_loss": None, "status": "pruned", "reused_from": None,
     "error": "stopped early: stuck_at_chance", "advice": None},
]


@pytest.fixture
def results(tmp_path):
    pd.DataFrame(ROWS).to_csv(tmp_path / "leaderboard.csv", index=False)
    return tmp_path


def test_a_reused_row_is_folded_into_the_trial_it_repeats_and_all_shows_it(results, capsys):
    assert main(["leaderboard", str(results), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["trial_id"] for r in rows] == ["s2_t2", "s1_t1", "s1_t2"]
    assert [r["rank"] for r in rows] == [1, 2, None] and rows[1]["reused_as"] == "s2_t1"
    assert main(["leaderboard", str(results), "--top", "2", "--format", "csv"]) == 0
    assert pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))["trial_id"].tolist() == ["s2_t2", "s1_t1"]
    assert main(["leaderboard", str(results), "--all", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1 + 4


def test_a_stage_keeps_its_own_rows_even_when_reused_from_another_stage(results, capsys):
    assert main(["leaderboard", str(results), "--stage", "batch_norm", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(",")[3] for line in lines[1:]] == ["s2_t2", "s2_t1"]


def test_an_empty_stage_is_one_line_naming_the_stages(results, capsys):
    assert main(["leaderboard", str(results), "--stage", "9"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == (f"error: no trials in stage 9 of {results} "
                                 f"(stages: 2 batch_norm, 1 learning_rate)\n")


def test_text_formats_round_numbers_and_leave_empty_cells_blank(results, capsys):
    assert main(["leaderboard", str(results), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| 1 | 2 | batch_norm | s2_t2 |  | 0.01 | True | 0.9896 | 0.04 | ok |" in markdown
    assert "0.98958" not in markdown and "nan" not in markdown.lower() and "None" not in markdown
    assert main(["leaderboard", str(results)]) == 0
    table = capsys.readouterr().out
    assert "0.9896" in table and "0.9895833" not in table and "NaN" not in table
    pruned = next(line for line in table.splitlines() if "s1_t2" in line)
    assert pruned.split()[:3] == ["1", "s1_t2", "0.1"]  # rank blank: the row starts with its stage


def test_the_csv_path_itself_is_accepted(results, capsys):
    assert main(["leaderboard", str(results / "leaderboard.csv"), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("rank,stage")
