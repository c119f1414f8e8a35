"""A learned baseline for the real-log diagnosis: a random forest on curve measurements, scored leave-one-corpus-out.

The rules' held-out scores stay near 80% however they are tuned (real/LABELLING.md, passes 3-8). Is that the rules,
or what per-epoch curves and two labellers' agreement allow? A classifier that learns from the labels themselves,
each corpus scored by a forest trained on the others only, is a yardstick no hand-set threshold has seen: if it
scores well above the rules' held-out numbers, the rules leave accuracy on the table; if it scores the same, the
ceiling is in the data. The measurements are plain shape statistics (levels against ln C and chance, where the
minimum falls, end slopes, train-val gaps, sign changes), chosen before the eleventh corpus was collected and not
tuned on any score; the forest's settings are sklearn's usual ones.

real.py reports it beside the rules (its "learned yardstick" table; about 20 s on 2 cores).
"""
from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from gridsearch.diagnosis.curves import Curves  # noqa: E402

TREES = 500
MIN_LEAF = 2
SEED = 0


def _slope(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.polyfit(np.arange(len(values)), values, 1)[0]) if len(values) >= 2 else 0.0


def _sign_changes(values: np.ndarray) -> float:
    steps = np.diff(values[np.isfinite(values)])
    return float(np.mean(np.sign(steps[1:]) != np.sign(steps[:-1]))) if len(steps) > 1 else 0.0


def measurements(curve: dict) -> dict[str, float]:
    """Shape statistics of one log (curves/<id>.json), scaled by ln C and the chance-to-perfect range (C = 2 when
    the source gave none)."""
    curves = Curves.from_history(curve["columns"], curve.get("num_classes") or 2)
    ln_c, n = curves.chance_loss, curves.epochs
    loss = np.where(np.isfinite(curves.loss), curves.loss, np.nan)
    finite = loss[np.isfinite(loss)] if np.isfinite(loss).any() else np.zeros(1)
    low = max(float(finite.min()), 1e-9)
    at_low = int(np.nanargmin(loss)) if np.isfinite(loss).any() else 0
    after_low = loss[at_low:][np.isfinite(loss[at_low:])]
    tail = max(2, n // 5)
    m = {"log_epochs": math.log(n), "has_nan": float(not np.isfinite(curves.loss).all()),
         "loss_first_ln_c": finite[0] / ln_c, "loss_min_ln_c": low / ln_c, "loss_last_min": finite[-1] / low,
         "loss_min_at": at_low / max(n - 1, 1), "loss_rise_after_min": float(after_low.max()) / low if len(after_low) else 1.0,
         "loss_last_first": finite[-1] / max(finite[0], 1e-9),
         "loss_tail_slope": _slope(loss[-tail:]) / max(float(finite.max()) - low, 1e-9) * n,
         "loss_last3_change": (finite[-1] - finite[-min(3, len(finite))]) / max(finite[-1], 1e-9),
         "loss_falling_share": float(np.mean(np.diff(finite) < 0)) if len(finite) > 1 else 0.0}
    val_loss = curves.val_loss
    if val_loss is not None and np.isfinite(val_loss).sum() >= 2:
        v_low, v_span = float(np.nanmin(val_loss)), max(float(np.nanmax(val_loss) - np.nanmin(val_loss)), 1e-9)
        steps = np.diff(val_loss[np.isfinite(val_loss)])
        m |= {"val_loss_last_min": val_loss[-1] / max(v_low, 1e-9),
              "val_loss_min_at": int(np.nanargmin(val_loss)) / max(n - 1, 1),
              "val_over_train_last": val_loss[-1] / max(finite[-1], 1e-9),
              "val_minus_train_ln_c": float(np.nanmean(val_loss - loss)) / ln_c,
              "val_below_train_share": float(np.nanmean(val_loss < loss)),
              "val_loss_tail_slope": _slope(val_loss[-tail:]) / v_span * n,
              "val_loss_path_ratio": float(np.abs(steps).sum() / (abs(val_loss[-1] - val_loss[0]) + 0.05 * v_span)),
              "val_loss_sign_changes": _sign_changes(val_loss),
              "val_loss_jump": float(np.abs(steps).max()) / max(v_low, 1e-9), "val_loss_first_ln_c": val_loss[0] / ln_c}
    if curves.accuracy is not None and np.isfinite(curves.accuracy).any():
        share = curves.range_share
        train = curves.accuracy
        m |= {"train_fit_last": share(float(np.nanmean(train[-2:]))), "train_fit_max": share(float(np.nanmax(train))),
              "train_fit_first": share(float(train[0])), "train_fit_tail_slope": _slope(share(train[-tail:])) * n}
        val = curves.val_accuracy
        if val is not None and np.isfinite(val).any():
            gap = val - train
            steps = np.diff(val[np.isfinite(val)])
            m |= {"val_fit_last": share(float(np.nanmean(val[-2:]))), "val_fit_max": share(float(np.nanmax(val))),
                  "val_fit_drop": share(float(np.nanmax(val))) - share(float(val[-1])),
                  "val_fit_max_at": int(np.nanargmax(val)) / max(n - 1, 1),
                  "gap_mean": float(np.nanmean(gap)), "gap_last": float(np.nanmean(gap[-2:])),
                  "val_above_share": float(np.nanmean(gap > 0.05)), "train_above_share": float(np.nanmean(gap < -0.05)),
                  "val_fit_tail_slope": _slope(share(val[-tail:])) * n, "val_acc_sign_changes": _sign_changes(val),
                  "val_acc_path_ratio": float(np.abs(steps).sum() / (abs(val[-1] - val[0]) + 0.02)),
                  "val_fit_spread": float(np.nanstd(share(val[n // 2:])))}
    return m


def matrix(logs: Iterable[dict]) -> np.ndarray:
    """One row per log; a measurement a log lacks (no validation, no accuracy) is -9, outside every range."""
    rows = [measurements(curve) for curve in logs]
    names = sorted({name for row in rows for name in row})
    values = np.array([[row.get(name, np.nan) for name in names] for row in rows], dtype=float)
    return np.where(np.isfinite(values), values, -9.0)


def forest():
    from sklearn.ensemble import RandomForestClassifier
    return RandomForestClassifier(TREES, min_samples_leaf=MIN_LEAF, random_state=SEED, n_jobs=-1)


def leave_one_corpus_out(curves: dict[str, dict], labels: dict[str, str], corpus_of: dict[str, str],
                         design: Iterable[str]) -> dict[str, str]:
    """Each log's label from a forest trained on the design logs of every other corpus (a held-out corpus: on all
    of them)."""
    ids = np.array(sorted(labels))
    features, truth = matrix(curves[i] for i in ids), np.array([labels[i] for i in ids])
    groups, trainable = np.array([corpus_of[i] for i in ids]), np.isin(ids, list(design))
    predicted = {}
    for corpus in dict.fromkeys(groups):
        test = groups == corpus
        model = forest().fit(features[trainable & ~test], truth[trainable & ~test])
        predicted |= dict(zip(ids[test], model.predict(features[test])))
    return predicted

