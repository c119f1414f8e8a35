"""Temperature scaling (Guo et al. 2017): one temperature T that makes the probabilities mean what they say.

T is fitted on the validation split by minimising the negative log-likelihood, never on the test split.

Which model's validation predictions? Not the shipped one: best_model.keras and ensemble.keras were
retrained on train+validation, so on the validation split they predict images they learnt; there they
look well calibrated and T would come out near 1 (or below), whatever their confidence on new images.
So the same recipe (config, seed, number of epochs; for an ensemble, each member) is trained once
more on the training split only, i.e. the model its trial validated, and T is fitted on its validation
predictions. T measures how overconfident this recipe is after this many epochs, and is then applied
to the shipped model, which is the same recipe on train+validation. Whether that transfer holds is
measured where neither model looked: the expected calibration error and the log loss on the test
split, before and after, of the shipped model. The calibrated model is the shipped one followed by a
`layers.TemperatureScaling` layer, so its `predict` gives calibrated probabilities.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from gridsearch.reports.plots import plot_reliability
from gridsearch.results.atomic import atomic_save_model, atomic_write_json
from gridsearch.results.layout import CALIBRATION_REPORT, MODEL_FILES, PLOTS_DIR, read_best_config, update_best_config
from gridsearch.serving.ensemble import average, ensemble_members, load_ensemble, winner_member
from gridsearch.serving.layers import prepared_model, with_temperature
from gridsearch.serving.predict import load_winner
from gridsearch.serving.probabilities import ECE_BINS, PROBABILITY_FLOOR, class_probabilities, log_loss, reliability
from gridsearch.training.fit import TrainingContext, fit_for_epochs

# The interval searched for T. Guo et al. 2017 (Table 1 and their appendix) fit temperatures between
# about 1 and 3 on modern CNNs; a factor of 20 either way is far outside any calibrated or
# miscalibrated model, and it keeps the one-dimensional search bounded.
TEMPERATURE_RANGE = (0.05, 20.0)


def temperature_scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) per row: what `layers.TemperatureScaling` computes, in numpy."""
    logits = np.log(np.maximum(probs, PROBABILITY_FLOOR)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The T in TEMPERATURE_RANGE that minimises the log loss of `temperature_scale(probs, T)` on labels y.

    The search runs over log T: the loss is smooth and unimodal in it, and T and 1/T are equally far from 1.
    """
    low, high = (math.log(t) for t in TEMPERATURE_RANGE)
    result = minimize_scalar(lambda log_t: log_loss(temperature_scale(probs, math.exp(log_t)), y),
                             bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(math.exp(result.x))


def calibrate(folder: str | Path, ctx: TrainingContext, *, ensemble: bool = False) -> dict[str, Any]:
    """Fit T for the winner (or the saved ensemble), save the calibrated model, score it; the report."""
    folder, data = Path(folder), ctx.dataset
    best = read_best_config(folder)
    members = ensemble_members(folder) if ensemble else [winner_member(best)]
    held_out_fits = [fit_for_epochs(m.config, ctx, ("train",), m.epochs)
                     for m in members]  # trained on the training split only: the validation split stays unseen
    held_out = average([prepared_model(model, data.normalizer(m.config), data.input_shape, name=f"member_{i}")
                        for i, (m, model) in enumerate(zip(members, held_out_fits), start=1)])
    val_probs = class_probabilities(held_out.predict(**data.predict_kwargs("val"), verbose=0))
    temperature = fit_temperature(val_probs, data.y_val)

    shipped = load_ensemble(folder) if ensemble else load_winner(folder, data.normalizer(best["hyperparameters"]))
    calibrated = with_temperature(shipped, temperature)
    path = folder / MODEL_FILES[ensemble, True]
    atomic_save_model(calibrated, path)
    before = class_probabilities(shipped.predict(**data.predict_kwargs("test"), verbose=0))
    after = class_probabilities(calibrated.predict(**data.predict_kwargs("test"), verbose=0))
    which = "ensemble" if ensemble else "winner"
    diagram = plot_reliability(reliability(before, data.y_test), reliability(after, data.y_test),
                               folder / PLOTS_DIR / f"reliability_{which}.png",
                               title=f"{which} on the test split: before and after T = {temperature:.3f}")
    report = {
        "temperature": temperature,
        "fitted_on": "validation split, predicted by the same config(s) trained on the training split only",
        "validation_log_loss": {"before": log_loss(val_probs, data.y_val),
                                "after": log_loss(temperature_scale(val_probs, temperature), data.y_val)},
        "test": {"ece_before": reliability(before, data.y_test).expected_calibration_error,
                 "ece_after": reliability(after, data.y_test).expected_calibration_error,
                 "log_loss_before": log_loss(before, data.y_test), "log_loss_after": log_loss(after, data.y_test),
                 "accuracy": float(np.mean(after.argmax(axis=1) == data.y_test)), "samples": int(len(data.y_test))},
        "ece_bins": ECE_BINS, "model": path.name, "reliability_diagram": str(diagram.relative_to(folder)),
    }
    report_path = folder / CALIBRATION_REPORT
    reports = json.loads(report_path.read_text()) if report_path.is_file() else {}
    reports[which] = report
    atomic_write_json(report_path, reports)
    update_best_config(folder, calibration=reports)
    return report

