"""Cause flags from probes.py's per-epoch stats of one fixed probe batch: why a run broke, never its primary label.

Vanishing or exploding gradients, dead or saturated units, each with its own evidence and advice; and the cause a
stuck run or a bad initial loss gets from them (`with_probe_cause`), its advice first.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gridsearch.diagnosis.labels import CAUSE_NO_SIGNAL, CAUSE_UNSCALED_INPUTS, Diagnosis, Label, confidence

# The thresholds (never gated on accuracy):
VANISH_RATIO = 1e-3  # AUTOTRAINER beta_1: ||grad of the first kernel|| / ||grad of the last kernel|| < 1e-3 ...
VANISH_FIRST_NORM = 1e-4  # ... and AUTOTRAINER beta_2: ||grad of the first kernel|| < 1e-4, both at once
EXPLODE_MEAN_ABS = 1e4  # BTTackler EG's 1e4 on mean |grad|, per layer as TheDeepChecker (1e6); healthy: ~1e-2
# > 90% of a layer's units dead; TheDeepChecker says 50%, DeepDiagnosis and AUTOTRAINER 70%. Measured on the default
# digits grid: healthy trials at lr 0.01 (val accuracy 0.98-0.99) had 52-73% of the 64 dense units dead on the
# probe batch at the last epoch; the broken runs (lr 0.1 there; lr_too_high, dead_relu, nan_bad_op in
# benchmarks/diagnosis) had 94-100% dead in at least one layer.
DEAD_SHARE = 0.9
SATURATED_UNIT_SHARE = 0.5  # DeepDiagnosis: > 50% of a sigmoid/tanh layer's inputs at |x| >= 5
INPUT_SCALE_LIMIT = 10.0  # UMLAUT flags |x| > 1; standardized features reach +-5, so beyond 10 (0-16, 0-255)

def _per_epoch(probes: Mapping[str, Any], stat: str) -> list[tuple[int, dict[str, float]]]:
    """(epoch, {layer: value}) for one probe statistic, in epoch order."""
    return [(row["epoch"], row[stat]) for row in probes.get("epochs", []) if row.get(stat)]


def _vanishing_gradients(probes: Mapping[str, Any]) -> Diagnosis | None:
    """The first kernel's gradient is tiny, absolutely and relative to the last one's (AUTOTRAINER's rule).

    Judged over the first half of the epochs only (BTTackler): once a model has fitted its data, every
    gradient is small, rightly.
    """
    rows = _per_epoch(probes, "grad_norm")
    kernels = probes.get("kernels", [])
    if not rows or len(kernels) < 2:
        return None
    first, last = kernels[0], kernels[-1]
    early = rows[:max(1, (len(rows) + 1) // 2)]
    first_norm = float(np.median([norms[first] for _, norms in early]))
    ratio = float(np.median([norms[first] / norms[last] if norms[last] else math.inf for _, norms in early]))
    if not (ratio < VANISH_RATIO and first_norm < VANISH_FIRST_NORM):
        return None
    return Diagnosis(Label.VANISHING_GRADIENTS, f"the gradient hardly reaches {first!r}: use ReLU with he_normal "
                     "instead of sigmoid/tanh in the hidden layers, add batch normalization, or use fewer layers",
                     f"median over epochs 1-{early[-1][0]}: gradient norm of {first!r} {first_norm:.2g} (limit "
                     f"{VANISH_FIRST_NORM:g}), {ratio:.2g}x that of {last!r} (limit {VANISH_RATIO:g})",
                     confidence(math.log10(VANISH_RATIO / max(ratio, 1e-300)) / 3))


def _exploding_gradients(probes: Mapping[str, Any]) -> Diagnosis | None:
    """A non-finite gradient, or a layer's mean |gradient| above EXPLODE_MEAN_ABS.

    Per layer, not BTTackler's median over layers: with huge weights the activations grow layer by
    layer, and so does the gradient of the kernels they feed; the last kernel's can be 1e5 while the
    median is 1e2 (measured, 3 ReLU layers of stddev 30).
    """
    for epoch, means in _per_epoch(probes, "grad_mean_abs"):
        worst = max(means, key=lambda name: means[name] if math.isfinite(means[name]) else math.inf)
        value = means[worst]
        if math.isfinite(value) and value <= EXPLODE_MEAN_ABS:
            continue
        return Diagnosis(Label.EXPLODING_GRADIENTS, "lower the learning rate, add gradient clipping (clipnorm=1.0) "
                         "and batch normalization; keep the default initializers and scale the inputs",
                         f"at epoch {epoch}: mean |gradient| of {worst!r} {value:.3g} (limit {EXPLODE_MEAN_ABS:g})",
                         confidence(math.log10(value / EXPLODE_MEAN_ABS) / 3 if math.isfinite(value) else 1.0))
    return None


def _unit_cause(probes: Mapping[str, Any], stat: str, label: Label, limit: float, what: str,
                advice: str) -> Diagnosis | None:
    """The layers whose share of `stat` units ('dead', 'saturated') is over `limit` at the last probed epoch."""
    rows = _per_epoch(probes, stat)
    if not rows:
        return None
    epoch, shares = rows[-1]
    over = sorted(((name, share) for name, share in shares.items() if share > limit), key=lambda t: -t[1])
    if not over:
        return None
    units = {unit["layer"]: unit for unit in probes.get("units", [])}
    layers = ", ".join(f"{name!r} ({units.get(name, {}).get('activation', '?')}): {share:.0%} of "
                       f"{units.get(name, {}).get('size', '?')} units {what} (limit {limit:.0%})" for name, share in over)
    return Diagnosis(label, advice, f"{layers} on the {probes.get('samples', '?')} probe samples at epoch {epoch}",
                     confidence((over[0][1] - limit) / (1 - limit)))


def _dead_units(probes: Mapping[str, Any]) -> Diagnosis | None:
    """ReLU units that output 0 for every probe sample at the end: they no longer learn."""
    return _unit_cause(probes, "dead", Label.DEAD_UNITS, DEAD_SHARE, "never active", "lower the learning rate, use "
                       "LeakyReLU or he_normal initialization, add batch normalization, and check the bias initializers")


def _saturated_units(probes: Mapping[str, Any]) -> Diagnosis | None:
    """Sigmoid/tanh units stuck at an asymptote for nearly every probe sample: their gradient is ~0."""
    return _unit_cause(probes, "saturated", Label.SATURATED_UNITS, SATURATED_UNIT_SHARE, "saturated", "scale the inputs to "
                       "[0, 1] or standardize them, add batch normalization before the sigmoid/tanh, or use ReLU")


_CAUSE_RULES: tuple[Callable[[Mapping[str, Any]], Diagnosis | None], ...] = (
    _exploding_gradients, _vanishing_gradients, _dead_units, _saturated_units)


def find_causes(probes: Mapping[str, Any] | None) -> tuple[Diagnosis, ...]:
    """The cause flags the probe stats support (see probes.py), with their evidence."""
    if not probes:
        return ()
    return tuple(hit for hit in (rule(probes) for rule in _CAUSE_RULES) if hit is not None)


def with_probe_cause(primary: Diagnosis, probes: Mapping[str, Any] | None) -> Diagnosis:
    """The cause the probe batch tells for a stuck run or a bad initial loss, its advice first."""
    if primary.cause or not probes or not probes.get("epochs"):
        return primary
    if primary.label is Label.STUCK_AT_CHANCE:
        if primary.causes:
            first = primary.causes[0]
            return dataclasses.replace(primary, cause=first.label.value, advice=f"{first.advice}; then {primary.advice}")
        return dataclasses.replace(primary, cause=CAUSE_NO_SIGNAL, advice=(
            "gradients reach every layer and the units are alive on the probe batch, yet nothing is learned: check "
            f"that the labels belong to the inputs (shuffled, misaligned, a wrong label column); then {primary.advice}"))
    scale = probes.get("input_max_abs")
    if primary.label is Label.BAD_INITIAL_LOSS and scale is not None and scale > INPUT_SCALE_LIMIT:
        return dataclasses.replace(primary, cause=CAUSE_UNSCALED_INPUTS, advice=(
            f"the inputs reach |x| = {scale:.3g} (limit {INPUT_SCALE_LIMIT:g}): scale them to [0, 1] or standardize "
            f"them first; then {primary.advice}"))
    return primary

