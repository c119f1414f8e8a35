"""TensorBoard logs written from the trial records: per-epoch scalars and the HParams dashboard.

`tensorboard --logdir results/<name>/tensorboard` shows every trained config in the HParams
table and parallel-coordinates views, and its curves in Scalars. The layout is the Keras
TensorBoard callback's, so loss and validation loss share one chart:

    tensorboard/events.*                the experiment: each hyperparameter's domain, the metrics (hparams_config)
    tensorboard/<trial_id>/events.*     the trial's values (hp.hparams) and its metrics at the best epoch
    tensorboard/<trial_id>/train/       epoch_loss, epoch_accuracy, one point per epoch
    tensorboard/<trial_id>/validation/  the same on the validation split

The logs are written once per trial from its stored history, not by a TensorBoard callback:
training pays nothing per epoch. A config reused by a later stage is logged once, under the
trial that trained it.
"""
from __future__ import annotations

import math
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from gridsearch.results.layout import TENSORBOARD_DIR
from gridsearch.training.trial import METRICS, TrialResult, TrialStatus

EXTRA_METRICS = (("best_epoch", "best epoch"), ("epochs_run", "epochs run"), ("duration_s", "training time (s)"))
# Not hyperparameters, but columns a practitioner filters and colours the table by.
LABEL_HPARAMS = ("diagnosis", "status")


def tensorboard_dir(folder: str | Path) -> Path:
    return Path(folder) / TENSORBOARD_DIR


def _kind(values: Iterable[Any]) -> type:
    """The one TensorBoard type a hyperparameter's values fit: bool, float, else str."""
    values = list(values)
    if values and all(isinstance(v, bool) for v in values):
        return bool
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return float
    return str


def _as(kind: type, value: Any) -> Any:
    if kind is float:
        return float(value)
    return bool(value) if kind is bool else str(value)


class HParamsLog:
    """The experiment of one results folder; `write_trial` adds one run per trained config.

    `domains` maps each tuned hyperparameter to every value the plan can give it; their types
    decide how each trial's values are written, so the table's columns sort and filter right.
    """

    def __init__(self, folder: str | Path, domains: dict[str, list[Any]], labels: dict[str, list[str]] | None = None):
        self.logdir = tensorboard_dir(folder)
        self.kinds = {name: _kind(values) for name, values in domains.items()}
        self.hparams = []
        for name, values in domains.items():
            kind = self.kinds[name]
            unique = sorted({_as(kind, v) for v in values}, key=lambda v: (str(type(v)), v))
            self.hparams.append(hp.HParam(name, hp.Discrete(unique, dtype=kind)))
        for name, values in (labels or {}).items():
            self.kinds[name] = str
            self.hparams.append(hp.HParam(name, hp.Discrete(sorted(set(values)), dtype=str)))
        self.metrics = [hp.Metric(f"best/{m}", display_name=f"{m} (best epoch)") for m in METRICS]
        self.metrics += [hp.Metric(f"best/{m}", display_name=shown) for m, shown in EXTRA_METRICS]

    def write_experiment(self) -> None:
        """The hparams_config, once per run (an earlier run's copy is replaced, not added to)."""
        self.logdir.mkdir(parents=True, exist_ok=True)
        for old in self.logdir.glob("events.out.tfevents.*"):
            old.unlink()
        writer = tf.summary.create_file_writer(str(self.logdir))
        with writer.as_default():
            hp.hparams_config(hparams=self.hparams, metrics=self.metrics)
        writer.close()

    def values(self, result: TrialResult) -> dict[str, Any]:
        config = {**result.config, "diagnosis": result.diagnosis.get("label", "unknown"), "status": result.status.value}
        return {name: _as(kind, config[name]) for name, kind in self.kinds.items() if name in config}

    def write_trial(self, result: TrialResult) -> Path:
        """hp.hparams and the best-epoch metrics in <trial_id>/, per-epoch curves in train/ and validation/."""
        run = self.logdir / result.trial_id
        if run.exists():  # a trial written again (a resumed run) replaces its run instead of doubling it
            shutil.rmtree(run)
        writer = tf.summary.create_file_writer(str(run))
        with writer.as_default():
            hp.hparams(self.values(result), trial_id=result.trial_id)
            step = max(result.best_epoch, 1)
            metrics = {**{m: result.metrics.get(m) for m in METRICS},
                       "best_epoch": result.best_epoch or None, "epochs_run": result.epochs_run,
                       "duration_s": result.duration_s}
            for name, value in metrics.items():
                if value is not None and math.isfinite(value):
                    tf.summary.scalar(f"best/{name}", float(value), step=step)
        writer.close()
        for split, prefix in (("train", ""), ("validation", "val_")):
            series = {name: result.history.get(prefix + name, []) for name in ("loss", "accuracy")}
            if not any(series.values()):
                continue
            writer = tf.summary.create_file_writer(str(run / split))
            with writer.as_default():
                for name, values in series.items():
                    for epoch, value in enumerate(values, start=1):
                        if value is not None and math.isfinite(value):
                            tf.summary.scalar(f"epoch_{name}", float(value), step=epoch)
            writer.close()
        return run


def label_domains() -> dict[str, list[str]]:
    from gridsearch.diagnosis.rules import Label

    return {"diagnosis": [label.value for label in Label], "status": [status.value for status in TrialStatus]}
