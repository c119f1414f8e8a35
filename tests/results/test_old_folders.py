"""A results folder written before the packages moved (tests/fixtures/before_the_move, made by commit 7a715ac)
still opens: its records, its leaderboard, its report and its saved models, custom layers included."""
from __future__ import annotations

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import REPO
from gridsearch import load_best, predict
from gridsearch.cli import main
from gridsearch.results.store import ResultsStore

OLD = REPO / "tests" / "fixtures" / "before_the_move"


@pytest.fixture
def old(tmp_path) -> Path:
    """A private copy: the report and a resumed run write into it."""
    shutil.copytree(OLD, tmp_path / "project")
    return tmp_path / "project"


def test_its_records_and_best_config_read_as_today(old):
    folder = old / "results" / "before_the_move"
    records = ResultsStore(folder).finished_trials()
    assert {r.trial_id for r in records.values()} == {"s1_t1", "s1_t2"}
    assert load_best(folder)["learning_rate"] in (1e-2, 1e-3)


def test_leaderboard_and_report_open_it(old, capsys):
    folder = old / "results" / "before_the_move"
    assert main(["leaderboard", str(folder)]) == 0
    assert "s1_t1" in capsys.readouterr().out
    assert main(["report", str(folder)]) == 0
    page = (folder / "report.html").read_text()
    assert "s1_t2" in page and "data:image/png;base64" in page  # plots redrawn from the records


def test_every_saved_model_loads_and_predicts_as_it_did(old):
    """ensemble.keras and ensemble_calibrated.keras hold the gridsearch layers (InputPreparation,
    TemperatureScaling), registered by name: the move of their module must not matter. Loading one with Keras
    alone needs the module that registers them imported first, as the README says."""
    import gridsearch.serving.layers  # noqa: F401  (registers the layers by name)

    folder = old / "results" / "before_the_move"
    x = np.load(old / "tiny.npz")["x"]
    for name in ("best_model.keras", "ensemble.keras", "ensemble_calibrated.keras"):
        assert keras.saving.load_model(folder / name, safe_mode=True) is not None, name
    for kwargs in ({}, {"ensemble": True}, {"ensemble": True, "calibrated": True}):
        frame = predict(folder, old / "tiny.npz", **kwargs)
        probs = frame.filter(like="p_").to_numpy()
        assert len(frame) == len(x) and np.allclose(probs.sum(axis=1), 1, atol=1e-4), kwargs


@pytest.mark.slow
def test_a_run_today_keeps_its_trials(old, capsys):
    """Same config ids before and after the move: the run trains nothing again."""
    assert main(["run", str(old / "space.py"), "--results-dir", str(old / "results"), "--quiet"]) == 0
    assert "0 trained" in capsys.readouterr().out
