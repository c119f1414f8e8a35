"""Scores of predicted class probabilities: accuracy, log loss and the expected calibration error.

Everything works on an (n, classes) matrix; `class_probabilities` turns a single sigmoid unit's
(n, 1) output into its two columns (1 - p, p), so binary models are scored by the same code.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Probabilities are floored here before a log is taken: the epsilon Keras clips its own cross-entropy
# with (keras.backend.epsilon()), so a log loss computed here is the one Keras would report.
PROBABILITY_FLOOR = 1e-7
# Guo et al. 2017 ("On Calibration of Modern Neural Networks", section 2) use M = 15 equal-width bins.
ECE_BINS = 15


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """A model's outputs as one probability per class: (n, 1) sigmoid -> (n, 2)."""
    outputs = np.asarray(outputs, dtype="float64")
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=1)
    return outputs


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(probs.argmax(axis=1) == y))


def log_loss(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (natural log), floored as Keras' cross-entropy is."""
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(y)), y], PROBABILITY_FLOOR))))


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin: how confident the model was on average, how often it was right, how many."""

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def expected_calibration_error(self) -> float:
        """Sum over bins of |accuracy - confidence|, weighted by the share of samples in the bin."""
        filled = self.count > 0
        weights = self.count[filled] / self.count.sum()
        return float(np.sum(weights * np.abs(self.accuracy[filled] - self.confidence[filled])))


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> Reliability:
    """Bin the samples by confidence (the top probability) into `bins` equal-width bins of (0, 1]."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)  # bin m holds ((m-1)/M, m/M]
    count = np.bincount(index, minlength=bins)
    safe = np.maximum(count, 1)
    return Reliability(np.bincount(index, confidence, bins) / safe, np.bincount(index, correct, bins) / safe, count)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    return reliability(probs, y, bins).expected_calibration_error
