"""The diagnosis benchmark's parts without training: baseline rules and scoring on synthetic histories."""
from __future__ import annotations

import csv
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "diagnosis"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "diagnosis" / "corpus"))

import baselines  # noqa: E402
import corpus  # noqa: E402
import faults  # noqa: E402
import real  # noqa: E402
import run as bench  # noqa: E402

N = 15
SOFTMAX_CE = {"loss": "sparse_categorical_crossentropy", "output_units": 10, "last_activation": "softmax"}


def curve(start: float, end: float, n: int = N) -> list[float]:
    return list(end + (start - end) * np.exp(-np.arange(n) / 3))


def healthy() -> dict[str, list[float]]:
    return {"loss": curve(2.2, 0.1), "val_loss": curve(2.1, 0.2), "accuracy": curve(0.3, 0.98),
            "val_accuracy": curve(0.35, 0.95)}


def stuck_mnist() -> dict[str, list[float]]:
    """AUTOTRAINER's MNIST run at loss ln 10: val accuracy rose 0.0107 once, so its slow flag never set."""
    val_acc = [0.1, 0.1107] + [0.1107] * (N - 2)
    return {"loss": [math.log(10)] * N, "val_loss": [math.log(10)] * N, "accuracy": [0.11] * N,
            "val_accuracy": val_acc}


def test_autotrainer_misses_the_stuck_run_it_logged_as_no_issue():
    assert baselines.autotrainer(stuck_mnist(), SOFTMAX_CE, max_epochs=N, weights_nan=False).problems == ()
    flat = {**stuck_mnist(), "val_accuracy": [0.11] * N}  # without the one 0.0107 jump it is slow convergence
    verdict = baselines.autotrainer(flat, SOFTMAX_CE, max_epochs=N, weights_nan=False)
    # features first computed at the check of epoch 4 (>= 0.3 * 15 - 3 epochs), judged at the next check
    assert verdict.problems == ("not_converge",) and verdict.epoch == 7


def test_autotrainer_nan_is_explode_only_with_nan_weights_and_static_loss_check():
    nan = {k: v[:4] + [math.nan] for k, v in healthy().items()}
    assert baselines.autotrainer(nan, SOFTMAX_CE, max_epochs=N, weights_nan=True).problems == ("explode",)
    assert baselines.autotrainer(nan, SOFTMAX_CE, max_epochs=N, weights_nan=False).problems == ()
    mse = {"loss": "mean_squared_error", "output_units": 10, "last_activation": "softmax"}
    verdict = baselines.autotrainer(healthy(), mse, max_epochs=N, weights_nan=False)
    assert verdict.problems == ("loss_issue",) and verdict.epoch == 10  # judged at the 50% check
    assert baselines.autotrainer(healthy(), SOFTMAX_CE, max_epochs=N, weights_nan=False).problems == ()


def test_autotrainer_unstable_on_zigzag_train_accuracy():
    zigzag = {**healthy(), "accuracy": [0.5 if i % 2 else 0.7 for i in range(N)]}
    assert baselines.autotrainer(zigzag, SOFTMAX_CE, max_epochs=N, weights_nan=False).problems == ("unstable",)


def test_bttackler_symptoms_and_the_epoch_they_stop_at():
    assert baselines.bttackler(healthy(), max_epochs=2 * N).problems == ()  # all 15 epochs in its first half
    linear = {**healthy(), "loss": list(np.linspace(2.2, 1.0, N))}  # halves of equal spread, lower mean: larger CoV
    assert baselines.bttackler(linear, max_epochs=N) == baselines.Verdict(("SC",), N // 2 + 1)
    nan = {**healthy(), "loss": healthy()["loss"][:5] + [math.nan] * (N - 5)}
    assert baselines.bttackler(nan, max_epochs=N) == baselines.Verdict(("EG",), 6)
    assert baselines.bttackler(stuck_mnist(), max_epochs=N) == baselines.Verdict(("SC",), 3)  # CoV 0 < 1e-4
    rising = {**healthy(), "val_loss": curve(2.1, 0.2, 8) + list(np.linspace(0.3, 0.9, N - 8))}
    verdict = baselines.bttackler(rising, max_epochs=2 * N)
    assert "NMG" in verdict.problems and verdict.epoch == 12  # mean of epochs 10-12 above 7-9
    assert baselines.bttackler(rising, max_epochs=2 * N, symptoms=("EG", "SC", "HO")).problems == ()
    assert verdict.labels(baselines.BTT_MEANS) >= {"overfitting", "plateau"}


def fake_run(history: dict[str, list[float]], cfg_edit: dict | None = None, initial_loss: float = 2.3) -> bench.Run:
    return bench.Run({**faults.BASE, **(cfg_edit or {})}, 0, history, 10,
                     {"initial_loss": initial_loss, "majority_rate": 0.1, "not_a_diagnose_argument": 1},
                     dict(SOFTMAX_CE), False, 0.0)


def test_twin_confirms_faults_and_scoring_counts_detections():
    twin, good = fake_run(healthy()), fake_run(healthy())
    broken = fake_run(stuck_mnist())
    nan = fake_run({k: v[:3] + [math.nan] for k, v in healthy().items()})
    lr_high, tiny = faults.FAULTS_BY_NAME["lr_too_high"], faults.FAULTS_BY_NAME["tiny_wide_overfit"]
    assert bench.confirmed(lr_high, broken, twin) and bench.confirmed(lr_high, nan, twin)
    assert nan.score == 0 and not bench.confirmed(lr_high, good, twin)
    overfit = fake_run({**healthy(), "val_loss": [v * 3 for v in healthy()["val_loss"]]})  # +0.4 > 0.1 ln 10
    assert not bench.confirmed(tiny, fake_run({**healthy(), "val_loss": [v * 1.5 for v in healthy()["val_loss"]]}), twin)
    assert bench.confirmed(tiny, overfit, twin) and not bench.confirmed(lr_high, overfit, twin)

    cases = [bench.Case("lr_too_high", 0, broken, lr_high.labels, twin),
             bench.Case("nan_bad_op", 0, nan, ("nan",), twin),
             bench.Case("healthy", 0, twin, ("healthy",))]
    bench.label_all(cases)
    assert [c.verdicts["gridsearch"].primary for c in cases] == ["stuck_at_chance", "nan", "healthy"]
    assert cases[0].verdicts["gridsearch"].epoch == 3  # MIN_EPOCHS: a loss at ln C is not collapsed outputs
    assert cases[1].correct("gridsearch") and cases[1].correct("BTTackler") and cases[1].correct("AUTOTRAINER") is False
    assert bench.false_alarms(cases, "gridsearch") == (0, 1)
    assert bench.label_recall(cases, "diverging") == (1, 0, 1)  # acceptable (stuck), not exact
    assert bench.label_precision(cases, "stuck_at_chance") == (1, 1)


def test_every_fault_and_remedy_builds_a_model_that_fits_the_labels():
    data = faults.load("shapes", 1)
    assert data.num_classes == faults.SHAPES_CLASSES and faults.twin_config(None, 1, 5)["dataset"] == "shapes"
    for fault in faults.FAULTS:
        cfg = faults.fault_config(fault, 1, 5)
        x_train, y_train, x_val, y_val = faults.prepare_data(cfg, data, 1)
        model = faults.build_model(cfg, x_train.shape[1:], data.num_classes)
        assert model.output.shape[-1] == data.num_classes and len(x_train) == len(y_train)
        assert faults.model_facts(model, cfg)["last_activation"] == "softmax"
    tiny = faults.prepare_data(faults.fault_config(faults.FAULTS_BY_NAME["tiny_wide_overfit"], 1, 5), data, 1)
    assert len(tiny[0]) == faults.TINY_TRAIN
    for remedy in [*faults.FIXES, "learning_rate_down", "batch_norm", "input_normalization", "initializer"]:
        for fixed in faults.remedy_configs(remedy, faults.fault_config(faults.FAULTS_BY_NAME["unscaled_inputs"], 1, 5)):
            assert set(fixed) == set(faults.BASE), remedy


def test_a_remedy_is_the_doctors_stage_in_the_corpus_knobs():
    """The doctor's grid around the config, its new points only; a fix is one config; no knob, no configs."""
    high = {**faults.BASE, "learning_rate": 1.0}
    assert [c["learning_rate"] for c in faults.remedy_configs("learning_rate_down", high)] == pytest.approx(
        [0.1, 0.01, 0.001])
    unscaled = faults.fault_config(faults.FAULTS_BY_NAME["unscaled_inputs"], 0, 5)
    assert [(c["normalize"], c["input_scale"]) for c in faults.remedy_configs("input_normalization", unscaled)] == [
        ("scale", 1.0), ("standardize", 1.0)]
    assert faults.remedy_configs("initializer", {**faults.BASE, "init_std": 10.0}) == [faults.BASE]
    assert faults.remedy_configs("check_labels", {**faults.BASE, "shuffle_labels": True}) == [faults.BASE]
    assert faults.remedy_configs("check_labels", faults.BASE) == []  # nothing to change
    assert faults.remedy_configs("noise", faults.BASE) == [] and faults.remedy_configs("augmentation", faults.BASE) == []


def test_report_tables_from_scored_cases(tmp_path):
    twin = fake_run(healthy())
    broken, nan = fake_run(stuck_mnist()), fake_run({k: v[:3] + [math.nan] for k, v in healthy().items()})
    cases = [bench.Case("lr_too_high", 0, broken, faults.FAULTS_BY_NAME["lr_too_high"].labels, twin),
             bench.Case("nan_bad_op", 0, nan, ("nan",), twin), bench.Case("healthy", 0, twin, ("healthy",))]
    bench.label_all(cases)
    cases[0].remedy, cases[0].fixed = "stuck remedy", True
    cases[1].remedy, cases[1].fixed = "nan remedy", False
    trainer = bench.Trainer(tmp_path / "none.json")
    trainer.runs = {str(i): c.run for i, c in enumerate(cases)}
    trainer.used = set(trainer.runs)
    lines = bench.report(cases, bench.QUICK, ["lr_too_high", "nan_bad_op"], trainer)
    text = "\n".join(lines)
    assert "| lr_too_high | 1/1 | diverging, nan, oscillating, stuck_at_chance | 1/1 @3 |" in text
    assert "| **false alarms on healthy runs** | 1 |  | **0/1 (0%)** |" in text
    assert "- top-1 advice fixes >= 70% of the faults: 1/2 (50%), missed" in text
    assert "- the doctor's run fixes >= 90% of the faults: 0/2 (0%), missed" in text
    assert "- recall diverging >= 90%: 1/1 (100%), met" in text


def copies() -> dict[str, str]:
    return {row["id"]: row["copy_of"] for row in csv.DictReader((real.REAL / "copies.csv").open())}


def test_the_real_log_corpus_is_whole_and_its_parts_apart():
    """Every labelled log has its curve and its source (with a licence); a source without curves is a file the reader
    could not read, and says so, or a later copy; design and held-out parts do not meet."""
    labels, curves, split = real.load()
    sources = {row["id"]: row for row in csv.DictReader((real.REAL / "sources.csv").open())}
    assert set(labels) <= set(curves) <= set(sources)
    assert all("READER FAILED" in sources[i]["notes"] for i in set(sources) - set(curves) - set(copies()))
    assert all(sources[i]["license"] for i in sources)
    assert not set(split["design"]) & set(split["heldout"]) and set(labels) <= set(split["design"]) | set(split["heldout"])
    raw = {path.stem for path in (real.REAL / "raw").iterdir()}
    kept = {i for i, row in sources.items() if row["redistributable"] == "yes"}
    too_large = {i for i in kept if "not copied into real/raw" in sources[i]["notes"]}  # notebooks of embedded plots
    assert raw == kept - too_large and too_large <= set(curves) | set(copies())


def test_each_run_is_scored_and_learnt_from_once():
    """One run saved twice (a notebook in its author's two repositories; r056 and r057 in one folder) is one log: each
    later copy is in real/copies.csv with the log it copies, in no label and no part, and no two curves real.load()
    gives hold the same training losses."""
    labels, curves, split = real.load()
    runs = Counter(corpus.training_losses(curve) for curve in curves.values())
    assert [losses for losses, n in runs.items() if n > 1 and corpus.is_a_run(losses)] == []
    for later, earlier in copies().items():
        copied = json.loads((real.REAL / "curves" / f"{later}.json").read_text())
        assert corpus.training_losses(copied) == corpus.training_losses(curves[earlier])
    assert not set(copies()) & (set(labels) | set(split["design"]) | set(split["heldout"]))


def test_leave_one_out_rechooses_the_constants_and_puts_them_back():
    labels, curves, split = real.load()
    before = {name: getattr(real.rules, name) for name in real.TUNED}
    right, total = real.leave_one_out(labels, curves, [i for i in split["design"] if i in labels][:3])
    assert total == 3 and 0 <= right <= 3
    assert {name: getattr(real.rules, name) for name in real.TUNED} == before


def test_leave_one_out_gives_the_same_answers_in_worker_processes_as_in_this_one(monkeypatch):
    """Spawned workers import the rules afresh: a constant the caller set must reach them too."""
    labels, curves, split = real.load()
    ids = [i for i in split["design"] if i in labels][:60]
    factors = {name: [0.5, 1.0, 2.0] for name in real.TUNED}
    for name in ("VAL_ABOVE_GAP", "FLAT_SLOPE"):
        monkeypatch.setattr(real.rules, name, getattr(real.rules, name) * 3)
    monkeypatch.setattr(real.learned, "WORKERS", 2)
    in_workers = real._answers_per_factor(labels, curves, ids, factors)
    monkeypatch.setattr(real.learned, "WORKERS", 1)
    assert real._answers_per_factor(labels, curves, ids, factors) == in_workers
