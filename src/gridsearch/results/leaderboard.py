"""The leaderboard: one flat row per trial of every stage, best first, straight into pandas."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from gridsearch.errors import SpaceError
from gridsearch.results.layout import LEADERBOARD
from gridsearch.training.trial import METRICS, TrialResult, TrialStatus

LEADING = ["rank", "stage", "stage_name", "trial_id"]
TRAILING = ["epochs_run", "best_epoch", "duration_s", "status", "diagnosis", "cause", "flags", "advice", "reused_from",
            "error", "config_id"]  # the record is trials/<config_id>.json


def rank_key(result: TrialResult, objective: str, direction: str) -> tuple[int, float]:
    """Sort key, best first: finished trials by objective, then pruned, then failed."""
    status_order = {TrialStatus.OK: 0, TrialStatus.PRUNED: 1, TrialStatus.FAILED: 2}[result.status]
    value = result.objective(objective)
    if math.isnan(value):
        return status_order, math.inf
    return status_order, -value if direction == "max" else value


def build_leaderboard(rows: list[TrialResult], hyperparameters: list[str], objective: str,
                      direction: str) -> pd.DataFrame:
    ordered = sorted(rows, key=lambda r: rank_key(r, objective, direction))  # stable: plan order on ties
    records = []
    for position, r in enumerate(ordered, start=1):
        record = {"rank": position if r.status is TrialStatus.OK else None, "stage": r.stage,
                  "stage_name": r.stage_name, "trial_id": r.trial_id}
        record.update({name: r.config.get(name) for name in hyperparameters})
        record[objective] = r.metrics.get(objective)
        record.update({name: r.metrics.get(name) for name in METRICS})
        record.update(r.extra)
        record.update({"epochs_run": r.epochs_run, "best_epoch": r.best_epoch, "duration_s": r.duration_s,
                       "status": r.status.value, "diagnosis": r.diagnosis.get("label", ""),
                       "cause": r.diagnosis.get("cause", ""),
                       "flags": ", ".join(r.diagnosis.get("flags", [])), "advice": r.diagnosis.get("advice", ""),
                       "reused_from": r.reused_from, "error": r.error.splitlines()[0] if r.error else "",
                       "config_id": r.config_id})
        records.append(record)
    columns = list(dict.fromkeys(LEADING + hyperparameters + [objective] + list(METRICS)))
    frame = pd.DataFrame.from_records(records)
    return frame[columns + [c for c in frame.columns if c not in columns]] if records else pd.DataFrame(columns=columns + TRAILING)


def format_number(value: Any) -> str:
    """How a value reads in a text table: 4 significant digits (0.9896, not 0.9895833134651184; a learning
    rate stays 0.01 and 0.0001) and a blank for an empty cell (never NaN or None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def whole_number_columns(board: pd.DataFrame) -> set[str]:
    """Columns of whole numbers that pandas reads as floats only because of an empty cell (rank, best_epoch)."""
    return {c for c in board.columns if pd.api.types.is_float_dtype(board[c]) and c not in METRICS
            and board[c].notna().any() and board[c].dropna().map(float.is_integer).all()}


def as_text(board: pd.DataFrame) -> pd.DataFrame:
    """Every cell as it reads in a text format (table, markdown): see `format_number`."""
    whole = whole_number_columns(board)
    return pd.DataFrame({c: [str(int(v)) if c in whole and v == v else format_number(v) for v in board[c]]
                         for c in board.columns}, columns=board.columns)


def fold_reused(board: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct config: a row that reuses a trial also on this board is folded into that trial's
    row, whose `reused_as` names it; the finished rows are ranked again, 1 to n."""
    if board.empty or "reused_from" not in board:
        return board
    reused = board["reused_from"].fillna("").astype(str)
    folded = reused.isin(set(board["trial_id"].astype(str)))
    aliases = board["trial_id"][folded].astype(str).groupby(reused[folded]).agg(", ".join)
    kept = board[~folded].copy()
    kept.insert(kept.columns.get_loc("trial_id") + 1, "reused_as", kept["trial_id"].astype(str).map(aliases))
    if "rank" in kept:
        ranked = kept["rank"].notna()
        kept.loc[ranked, "rank"] = range(1, int(ranked.sum()) + 1)
    return kept


def read_leaderboard(folder: str | Path) -> pd.DataFrame:
    path = Path(folder) / LEADERBOARD
    if not path.is_file():
        raise SpaceError(f"no leaderboard in {folder}: expected {path} (run `python -m gridsearch run SPACE` first)")
    return pd.read_csv(path)
