"""AUTOTRAINER's and BTTackler's published rules, re-implemented on the histories our benchmark records.

Written from the thresholds in /work/shared/research/diagnosis-tools.md (sections 1 and 4) and the
repositories it cites (`shiningrain/AUTOTRAINER` utils/monitor.py, utils/utils.py, reproduce.py;
`thuml/BTTackler` bttackler/bridger/btassessor.py, default_config.yaml); our own code, no code copied.
Both tools are online: they look at the history after each epoch and act on the first problem, so each
rule set is replayed epoch by epoch and reports the first epoch with a problem and what it was.

The rules that read per-layer gradients or activations of a probe batch (AUTOTRAINER's vanish,
explode-by-ratio, relu and abnormal_data; BTTackler's VG, DR and the gradient parts of EG) need data
this benchmark does not record: they are listed in NOT_RECORDED and never fire here.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Verdict:
    problems: tuple[str, ...]  # the tool's own labels, empty = no problem
    epoch: int | None  # 1-based epoch at which the tool first reported them

    def labels(self, mapping: Mapping[str, frozenset[str]]) -> frozenset[str]:
        """Our labels that the tool's problems stand for."""
        return frozenset().union(*(mapping[p] for p in self.problems)) if self.problems else frozenset()


# --- AUTOTRAINER ---------------------------------------------------------------------------------------------
AT_THETA = 0.6  # reproduce.py 'Theta': the satisfied accuracy (utils.default_param says 0.7)
AT_ZETA = 0.03  # 'zeta': a local max and min of train accuracy at least 0.03 apart is one oscillation
AT_ETA = 0.2  # 'eta': oscillations in at least 0.2 x the epochs so far is unstable
AT_DELTA = 0.01  # 'delta': the largest one-epoch accuracy gain below 0.01 is slow convergence
AT_JUDGMENT_POINT = 0.3  # monitor.loss_issue: curve rules start at 0.3 x max epochs - checkgap
AT_CHECKGAP = 3  # utils.LossHistory: the monitor runs every 3rd epoch ('epoch_3')
AT_HUGE_LOSS = 1e3  # monitor.check_large_loss: a loss >= 1e3 counts as NaN
AT_MID_CHECK = 0.5  # utils.LossHistory: layer outputs are gathered once at 50% of the epochs
# modules.filtered_issue keeps the single problem of highest priority
AT_PRIORITY = {"abnormal_data": 4, "activation_issue": 3, "loss_issue": 3, "vanish": 2, "explode": 2, "relu": 2,
               "not_converge": 1, "unstable": 1}
# What each AUTOTRAINER problem stands for in our vocabulary (its repair targets the same cause)
AT_MEANS = {"explode": frozenset({"diverging", "nan"}), "unstable": frozenset({"oscillating"}),
            "not_converge": frozenset({"stuck_at_chance", "plateau", "too_slow"}),
            "loss_issue": frozenset({"bad_initial_loss"}),  # its repair swaps the loss for one that fits the labels
            "activation_issue": frozenset({"bad_initial_loss", "stuck_at_chance"})}  # repair: fix the last activation


def _max_gain(values: Sequence[float]) -> float:
    return max([b - a for a, b in zip(values, values[1:])] + [0.0])


def _oscillates(acc: Sequence[float]) -> bool:
    """monitor.ol_judge: pair the i-th local maximum with the i-th local minimum of train accuracy."""
    inner = range(1, len(acc) - 1)
    maxima = [acc[i] for i in inner if acc[i] >= acc[i - 1] and acc[i] >= acc[i + 1]]
    minima = [acc[i] for i in inner if acc[i] <= acc[i - 1] and acc[i] <= acc[i + 1]]
    count = sum(high - low >= AT_ZETA for high, low in zip(maxima, minima))
    return count >= AT_ETA * len(acc)


def _static_issues(facts: Mapping[str, Any]) -> tuple[bool, bool]:
    """monitor.loss_function_issue on the loss name, output width and last activation: (improper_loss, bad_output)."""
    loss, units, activation = facts["loss"], facts["output_units"], facts["last_activation"]
    improper = not ((units <= 2 and "binary" in loss) or (units > 2 and "categorical" in loss))
    bad_output = not improper and ((activation != "sigmoid" and "binary" in loss and units != 2)
                                   or (activation != "softmax" and "categorical" in loss)
                                   or (activation != "linear" and "mean" in loss))
    return improper, bad_output


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def autotrainer(history: Mapping[str, Sequence[float]], facts: Mapping[str, Any], *, max_epochs: int,
                weights_nan: bool) -> Verdict:
    """Replay AUTOTRAINER's monitor (IssueMonitor.determine + judge_issue + filtered_issue) epoch by epoch.

    Its features are sticky (once set they stay set), and a problem is judged only at the epochs when it gathers
    layer outputs: a NaN/huge or negative loss, the slow-accuracy flag, or once at half the budget.
    """
    improper_loss, bad_output = _static_issues(facts)
    if not math.isfinite(history["loss"][-1]):  # stopped by TerminateOnNaN: it would have stayed NaN to the next check
        history = {k: list(v) + [math.nan] * (max_epochs - len(v)) for k, v in history.items()}
    feature = {"nan_loss": False, "abnormal_loss": False, "not_converge": False, "sc_accuracy": False,
               "unstable": False}
    mid_check = True
    for epoch in range(len(history["loss"])):  # 0-based, as in Keras' on_epoch_end
        if epoch % AT_CHECKGAP:
            continue
        gather = feature["nan_loss"] or feature["abnormal_loss"] or feature["sc_accuracy"] or (
            max_epochs * AT_MID_CHECK <= epoch and mid_check)
        if max_epochs * AT_MID_CHECK <= epoch:
            mid_check = False
        h = {name: list(values[: epoch + 1]) for name, values in history.items()}
        loss, val_loss, acc, val_acc = h["loss"], h["val_loss"], h["accuracy"], h["val_accuracy"]
        if not (_finite(loss) and _finite(val_loss)) or max(loss + val_loss) >= AT_HUGE_LOSS:
            feature["nan_loss"] = True  # monitor.loss_issue returns here: no curve feature is computed
        else:
            feature["abnormal_loss"] |= min(loss + val_loss) < 0
            if len(loss) >= AT_JUDGMENT_POINT * max_epochs - AT_CHECKGAP:
                feature["unstable"] |= _oscillates(acc)
                feature["not_converge"] |= max(val_acc) < AT_THETA and max(acc) < AT_THETA
                feature["sc_accuracy"] |= _max_gain(val_acc) < AT_DELTA and _max_gain(acc) < AT_DELTA
        if not gather:
            continue
        issues: list[str] = []
        if feature["nan_loss"] or feature["abnormal_loss"]:
            if feature["abnormal_loss"]:
                issues.append("loss_issue")
            elif bad_output:
                issues.append("activation_issue")
            elif weights_nan and feature["nan_loss"]:
                issues.append("explode")
        if feature["not_converge"] or feature["sc_accuracy"]:
            if bad_output:
                issues.append("activation_issue")
            # the relu / explode / vanish branches read gradients: NOT_RECORDED, so they never fire here
            elif feature["not_converge"] and feature["sc_accuracy"]:
                issues.append("not_converge")
        if feature["unstable"]:
            issues.append("activation_issue" if bad_output else "unstable")
        if not bad_output and improper_loss:
            issues.append("loss_issue")
        if issues:
            return Verdict((max(issues, key=AT_PRIORITY.__getitem__),), epoch + 1)
    return Verdict((), None)


# --- BTTackler ---------------------------------------------------------------------------------------------
BTT_SC_COV = 1e-4  # default_config p_sc1: train-loss coefficient of variation below 1e-4 in the first half
BTT_HO_SLOPE = 0.01  # p_ho1: a least-squares slope of the last losses >= 0.01 per epoch ...
BTT_HO_COV = 0.2  # p_ho2: ... with a coefficient of variation > 0.2 is heavy oscillation
BTT_HO_WINDOW = 6  # wd_ho
BTT_NMG_WINDOW = 6  # wd_nmg: the last 3 losses average above the 3 before: no more gain
BTT_SYMPTOMS = ("EG", "SC", "HO", "NMG")  # of default_config's list; VG and DR read gradients (NOT_RECORDED)
BTT_MEANS = {"EG": frozenset({"nan", "diverging"}), "SC": frozenset({"stuck_at_chance", "plateau", "too_slow"}),
             "HO": frozenset({"oscillating", "diverging"}), "NMG": frozenset({"plateau", "overfitting", "diverging"})}

NOT_RECORDED = {
    "AUTOTRAINER": "vanish, relu, abnormal_data and the gradient-ratio explode rule need per-layer gradients and "
                   "activations of a probe batch",
    "BTTackler": "VG, DR and the gradient-size EG rules need per-layer gradients; its protection of the best 10% "
                 "of >= 10 sibling trials needs a search, not single runs",
}


def _cov(values: np.ndarray) -> float:
    return float(np.std(values) / np.mean(values))


def _late_noisier(values: np.ndarray) -> bool:
    """sc_rule_late_*: the second half of the curve varies more than the first."""
    half = len(values) // 2
    return len(values) >= BTT_NMG_WINDOW and _cov(values[:half]) < _cov(values[half:])


def _heavy_oscillation(values: np.ndarray) -> bool:
    window = values[-BTT_HO_WINDOW:]
    slope = np.polyfit(np.arange(len(window)), window, 1)[0] if len(window) > 1 else 0.0
    return slope >= BTT_HO_SLOPE and _cov(window) > BTT_HO_COV


def _no_more_gain(values: np.ndarray) -> bool:
    half = round(BTT_NMG_WINDOW / 2)
    head = values[-BTT_NMG_WINDOW:-half]
    return len(head) > 0 and float(np.mean(head)) < float(np.mean(values[-half:]))


def bttackler(history: Mapping[str, Sequence[float]], *, max_epochs: int,
              symptoms: Sequence[str] = BTT_SYMPTOMS) -> Verdict:
    """Replay BTAssessor.assess_trial after each epoch; the first epoch with any symptom stops the trial."""
    train_all, val_all = (np.asarray(history[k], dtype=float) for k in ("loss", "val_loss"))
    for idx in range(len(train_all)):
        train, val = train_all[: idx + 1], val_all[: idx + 1]
        first_half = idx < max_epochs // 2
        found: list[str] = []
        if not (np.isfinite(train).all() and np.isfinite(val).all()):
            found.append("EG")  # eg_rule0: NaN/Inf; with it the other symptoms are skipped
        else:
            sc = (first_half and len(train) >= 3 and _cov(train) < BTT_SC_COV) or (
                not first_half and (_late_noisier(train) or _late_noisier(val)))
            ho = not first_half and (_heavy_oscillation(train) or _heavy_oscillation(val))
            nmg = _no_more_gain(train) or _no_more_gain(val)
            found += [name for name, hit in (("SC", sc), ("HO", ho), ("NMG", nmg)) if hit]
        found = [name for name in found if name in symptoms]
        if found:
            return Verdict(tuple(found), idx + 1)
    return Verdict((), None)
