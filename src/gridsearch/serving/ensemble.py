"""Top-k ensemble: the k best distinct configs, each retrained like the winner, their probabilities averaged.

Saved as one Keras model of raw images (ensemble.keras): every member sits behind its own input
preparation (members may differ in normalisation or colour mode), and keras.layers.Average averages
their outputs. The first member is best_model.keras itself, so an ensemble of one is the winner; the
others are retrained on train+validation for their best number of epochs (`training.retrain_and_test`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from gridsearch.errors import SpaceError, not_allowed
from gridsearch.results.atomic import atomic_save_model, atomic_write_json
from gridsearch.results.layout import ENSEMBLE_REPORT, MODEL_FILES, read_best_config, update_best_config
from gridsearch.results.leaderboard import read_leaderboard
from gridsearch.results.store import ResultsStore
from gridsearch.serving.layers import prepared_model
from gridsearch.serving.predict import load_winner
from gridsearch.serving.probabilities import (
    ECE_BINS,
    accuracy,
    class_probabilities,
    expected_calibration_error,
    log_loss,
)
from gridsearch.training.fit import TrainingContext, retrain_and_test
from gridsearch.training.trial import TrialStatus


@dataclass(frozen=True)
class Member:
    """One config of an ensemble and how long its final fit trains."""

    trial_id: str
    config: dict[str, Any]
    epochs: int

    def to_json(self) -> dict[str, Any]:
        return {"trial_id": self.trial_id, "epochs": self.epochs, "config": self.config}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Member:
        return cls(data["trial_id"], data["config"], data["epochs"])


def winner_member(best: dict[str, Any]) -> Member:
    return Member(best["trial_id"], best["hyperparameters"], best["metrics"]["retrained_epochs"])


def top_members(folder: str | Path, k: int, objective: str) -> list[Member]:
    """The k best distinct finished configs, in leaderboard order (the first is the winner).

    A leaderboard row that reuses an earlier trial is that trial's config, so it is counted once.
    """
    board = read_leaderboard(folder)
    records = [r for r in ResultsStore(Path(folder)).finished_trials().values() if r.status is TrialStatus.OK]
    members: list[Member] = []
    for _, row in board[board["status"] == "ok"].iterrows():
        source = row["reused_from"] if isinstance(row["reused_from"], str) and row["reused_from"] else row["trial_id"]
        if any(m.trial_id == source for m in members):
            continue
        # a trial id names one config per version of the space; the row's score tells which record it is
        candidates = [r for r in records if r.trial_id == source]
        if not candidates:
            raise SpaceError(f"leaderboard row {row['trial_id']} of {folder} has no trial record in "
                             f"{Path(folder) / 'trials'}; run the search again to rebuild it")
        record = min(candidates, key=lambda r: abs(r.objective(objective) - float(row[objective])))
        members.append(Member(source, record.config, record.retrain_epochs))
        if len(members) == k:
            break
    return members


def average(models: list[keras.Model], name: str = "ensemble") -> keras.Model:
    """One model of raw images whose output is the mean of the members' outputs (probabilities)."""
    inputs = keras.Input(shape=models[0].input_shape[1:], name="images")
    outputs = [model(inputs) for model in models]
    return keras.Model(inputs, keras.layers.Average()(outputs) if len(outputs) > 1 else outputs[0], name=name)


def _named(model: keras.Model, name: str) -> keras.Model:
    inputs = keras.Input(shape=model.input_shape[1:], name="images")
    return keras.Model(inputs, model(inputs), name=name)


def build_ensemble(folder: str | Path, ctx: TrainingContext, k: int) -> tuple[keras.Model, dict[str, Any]]:
    """Build, score on the test split and save the top-k ensemble: the model and ensemble.json's content.

    Fewer than k distinct finished configs give a smaller ensemble, which the report says.
    """
    folder = Path(folder)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise SpaceError(not_allowed("--top", k, "an integer number of ensemble members >= 1"))
    best = read_best_config(folder)
    members = top_members(folder, k, best["provenance"]["objective"])
    data = ctx.dataset
    models = []  # (model, its preparation; None: the model takes raw images)
    for member in members:
        if member.trial_id == best["trial_id"] and (folder / MODEL_FILES[False, False]).is_file():
            model = load_winner(folder, data.normalizer(member.config))  # the winner as retrained by the run
            models.append((model, None))
        else:
            model, _ = retrain_and_test(member.config, ctx, member.epochs)
            models.append((model, data.normalizer(member.config)))
    prepared = [_named(model, f"member_{i}") if normalizer is None else
                prepared_model(model, normalizer, data.input_shape, name=f"member_{i}")
                for i, (model, normalizer) in enumerate(models, start=1)]  # after all fits: each clears the session
    ensemble = average(prepared)
    ResultsStore(folder).discard_derived(ensemble=True)  # the calibration of an earlier ensemble
    atomic_save_model(ensemble, folder / MODEL_FILES[True, False])

    def scores(model: keras.Model) -> dict[str, float]:
        probs = class_probabilities(model.predict(**data.predict_kwargs("test"), verbose=0))
        return {"test_accuracy": accuracy(probs, data.y_test), "test_log_loss": log_loss(probs, data.y_test),
                "test_ece": expected_calibration_error(probs, data.y_test)}  # what `calibrate` then lowers

    member_reports = [{**m.to_json(), **scores(p)} for m, p in zip(members, prepared)]
    report = {"requested": k, "size": len(members), **scores(ensemble), "ece_bins": ECE_BINS,
              "winner": {key: member_reports[0][key] for key in ("trial_id", "test_accuracy", "test_log_loss",
                                                                 "test_ece")},
              "test_samples": int(len(data.y_test)), "model": MODEL_FILES[True, False], "members": member_reports}
    atomic_write_json(folder / ENSEMBLE_REPORT, report)
    calibration = {k: v for k, v in best.get("calibration", {}).items() if k != "ensemble"}  # gone with the old ensemble
    update_best_config(folder, ensemble={key: value for key, value in report.items() if key != "members"} | {
        "member_trial_ids": [m.trial_id for m in members]}, calibration=calibration or None)
    return ensemble, report


def ensemble_members(folder: str | Path) -> list[Member]:
    """The members ensemble.json lists, in order."""
    return [Member.from_json(m) for m in read_ensemble_report(folder)["members"]]


def read_ensemble_report(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / ENSEMBLE_REPORT
    if not path.is_file():
        raise SpaceError(f"no ensemble in {folder}: expected {path} "
                         f"(run `python -m gridsearch ensemble {folder} --top K` first)")
    return json.loads(path.read_text())


def load_ensemble(folder: str | Path, calibrated: bool = False) -> keras.Model:
    """The saved top-k ensemble (or its calibrated version) of a results folder: raw images in."""
    path = Path(folder) / MODEL_FILES[True, calibrated]
    if not path.is_file():
        read_ensemble_report(folder)  # no ensemble at all: say how to build one
        raise SpaceError(f"no calibrated ensemble in {folder}: expected {path} "
                         f"(run `python -m gridsearch calibrate {folder} --ensemble` first)")
    return keras.saving.load_model(path, safe_mode=True)
