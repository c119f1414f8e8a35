"""PNG figures of a search, under `results/<name>/plots/`, drawn with matplotlib's Agg backend.

    plots/trials/<trial_id>.png   a trial's loss and accuracy per epoch, best epoch marked, diagnosis in the title
    plots/stage_<k>.png           a stage's objective for each value tried, the winner highlighted
    plots/search_path.png         stage by stage, the winner's objective (and every other trial's, in grey)
    plots/reliability_<model>.png test-split reliability diagrams before and after temperature scaling

Everything is drawn from the trial records and the leaderboard, so `python -m gridsearch report`
can redraw whatever a run did not (an older run, a killed one) without training anything.
"""
from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display, no GUI event loop: safe in a terminal, CI or a worker thread
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from gridsearch.results.atomic import atomic_write_bytes  # noqa: E402
from gridsearch.results.layout import PLOTS_DIR
from gridsearch.training.trial import TrialResult  # noqa: E402

DPI = 100
# Labels that mean "this run is fine" are drawn green, "tune something" orange, "broken" red.
_GOOD = {"healthy"}
_BROKEN = {"nan", "diverging", "stuck_at_chance", "data_suspect", "bad_initial_loss"}
_COLORS = {"train": "#1f77b4", "validation": "#ff7f0e", "winner": "#2ca02c", "other": "#9ecae1",
           "failed": "#d62728", "pruned": "#bdbdbd"}


def trial_plot_path(folder: str | Path, trial_id: str) -> Path:
    return Path(folder) / PLOTS_DIR / "trials" / f"{trial_id}.png"


def stage_plot_path(folder: str | Path, stage: int) -> Path:
    return Path(folder) / PLOTS_DIR / f"stage_{stage}.png"


def search_path_plot_path(folder: str | Path) -> Path:
    return Path(folder) / PLOTS_DIR / "search_path.png"


def label_color(label: str) -> str:
    if label in _GOOD:
        return "#2ca02c"
    return "#d62728" if label in _BROKEN else "#e6550d"


def format_value(value: Any) -> str:
    """0.001 -> '0.001', 1e-05 -> '1e-05', True -> 'True': short and exact enough for a label."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:g}"
    return str(value)


def _finite(values: Iterable[Any]) -> list[float]:
    """Non-finite values become NaN: matplotlib leaves a gap instead of breaking the axis scale."""
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = math.nan
        out.append(f if math.isfinite(f) else math.nan)
    return out


def zoomed_limits(values: Iterable[Any], objective: str) -> tuple[float, float]:
    """The y-axis of a chart of objective values: around the data, not from 0 (0.98 and 0.99 must look
    different) and, for an accuracy, never above 1 (nothing scores 1.10). The margin is a quarter of
    the spread, at least 0.01, so the values' labels fit above the highest one."""
    finite = [v for v in _finite(values) if not math.isnan(v)]
    if not finite:
        return (0.0, 1.0)
    low, high = min(finite), max(finite)
    pad = max(0.01, 0.25 * (high - low), 0.02 * abs(high))
    bottom, top = low - pad, high + pad
    if "accuracy" in objective:
        bottom, top = max(0.0, bottom), min(1.0, top) if high < 1.0 else 1.0 + pad / 2
    return bottom, max(top, bottom + 0.02)


def _save(fig, path: Path) -> Path:
    """Render to memory, then write atomically: a kill never leaves a truncated PNG."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return path


# --- one trial ---------------------------------------------------------------------------------
def plot_trial(result: TrialResult, objective: str, path: str | Path, tuned: Sequence[str] = ()) -> Path:
    """Loss and validation loss per epoch (and accuracy beside it), the best epoch marked.

    The title names the trial, the values it tuned, its status and its diagnosis label.
    """
    history = result.history or {}
    label = result.diagnosis.get("label", "") or "no diagnosis"
    panels = [("loss", ["loss", "val_loss"])]
    if any(k in history for k in ("accuracy", "val_accuracy")):
        panels.append(("accuracy", ["accuracy", "val_accuracy"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.4), squeeze=False)
    values = " ".join(f"{name}={format_value(result.config.get(name))}" for name in tuned if name in result.config)
    status = "" if result.status.value == "ok" else f" [{result.status.value}]"
    fig.suptitle(f"{result.trial_id}  {values}{status}", fontsize=10, x=0.01, ha="left")
    fig.text(0.99, 0.975, label, color=label_color(label), fontsize=10, fontweight="bold", ha="right", va="top")
    best = result.best_epoch
    for ax, (title, keys) in zip(axes[0], panels):
        drawn = False
        for key in keys:
            series = _finite(history.get(key, []))
            if not series:
                continue
            epochs = range(1, len(series) + 1)
            color = _COLORS["validation" if key.startswith("val_") else "train"]
            ax.plot(epochs, series, marker="o", markersize=3, linewidth=1.5, color=color, label=key)
            drawn = True
            if key == objective and best and best <= len(series) and not math.isnan(series[best - 1]):
                ax.plot([best], [series[best - 1]], marker="*", markersize=14, color=_COLORS["winner"],
                        linestyle="none", label=f"best epoch {best}", zorder=5)
        if best:
            ax.axvline(best, color=_COLORS["winner"], linestyle="--", linewidth=1, alpha=0.7)
        if drawn:
            losses = [v for key in keys for v in _finite(history.get(key, [])) if not math.isnan(v)]
            if title == "loss" and losses and min(losses) > 0 and max(losses) / min(losses) > 100:
                ax.set_yscale("log")  # a diverging loss would flatten every other epoch to a line
            ax.legend(fontsize=8, loc="best")
            ax.xaxis.get_major_locator().set_params(integer=True)
        else:
            first_line = (result.error or "no epoch finished").splitlines()[0]
            ax.text(0.5, 0.5, first_line[:80], ha="center", va="center", fontsize=8, wrap=True,
                    transform=ax.transAxes, color=_COLORS["failed"])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return _save(fig, Path(path))


# --- one stage ---------------------------------------------------------------------------------
def stage_rows(board: pd.DataFrame, stage: int) -> pd.DataFrame:
    """The stage's rows in plan order (s<k>_t1, s<k>_t2, ...), not in rank order."""
    rows = board[board["stage"].astype(int) == int(stage)].copy()
    rows["_k"] = rows["trial_id"].astype(str).str.extract(r"_t(\d+)$", expand=False).astype(float)
    return rows.sort_values("_k").drop(columns="_k")


def varying_names(rows: pd.DataFrame, candidates: Sequence[str]) -> list[str]:
    """The hyperparameters whose value differs between the rows (what a stage tuned)."""
    return [n for n in candidates if n in rows and rows[n].astype(str).nunique() > 1]


def stage_winner(rows: pd.DataFrame) -> str | None:
    """The stage's best finished trial: the leaderboard is ranked, so the lowest rank of the stage."""
    ok = rows[rows["status"] == "ok"]
    if ok.empty:
        return None
    return str(ok.sort_values("rank", kind="stable").iloc[0]["trial_id"])


def plot_stage(rows: pd.DataFrame, names: Sequence[str], objective: str, path: str | Path, *,
               title: str = "", winner: str | None = None) -> Path:
    """A bar per value tried, the winner green; failed trials a red 'failed', pruned ones grey."""
    winner = winner or stage_winner(rows)
    n = len(rows)
    fig, ax = plt.subplots(figsize=(min(18.0, max(5.0, 1.0 + 0.75 * n)), 3.6))
    labels, heights, colors, hatches = [], [], [], []
    for _, row in rows.iterrows():
        value = "\n".join(f"{name}={format_value(row[name])}" if len(names) > 1 else format_value(row[name])
                          for name in names) or str(row["trial_id"])
        source = row.get("reused_from")
        reused = f" (= {source})" if isinstance(source, str) and source else ""
        labels.append(f"{value}\n{row['trial_id']}{reused}")
        heights.append(_finite([row.get(objective)])[0])
        status = row.get("status", "ok")
        colors.append(_COLORS["winner"] if row["trial_id"] == winner else
                      _COLORS["pruned"] if status == "pruned" else _COLORS["other"])
        hatches.append("//" if status == "pruned" else "")
    bottom, top = zoomed_limits(heights, objective)
    scores, heights = heights, [bottom if math.isnan(h) else h for h in heights]  # no score: no bar
    bars = ax.bar(range(n), [h - bottom for h in heights], bottom=bottom, color=colors, edgecolor="#444444",
                  linewidth=0.6)
    for bar, hatch, (_, row), height, score in zip(bars, hatches, rows.iterrows(), heights, scores):
        bar.set_hatch(hatch)
        status = row.get("status", "ok")
        if status == "failed":
            text, color = "failed", _COLORS["failed"]
        else:
            text, color = ("no score" if math.isnan(score) else f"{score:.4f}") + (
                " (pruned)" if status == "pruned" else ""), "#222222"
        if row["trial_id"] == winner:
            text = "winner\n" + text
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, height), xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=7, color=color)
    ax.set_xticks(range(n), labels, fontsize=7, rotation=0 if n <= 8 else 45, ha="center" if n <= 8 else "right")
    ax.set_ylabel(objective, fontsize=8)
    ax.set_ylim(bottom, top)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or f"{objective} per value tried", fontsize=10, pad=16)  # room for the top bar's label
    fig.tight_layout()
    return _save(fig, Path(path))


# --- the whole search ----------------------------------------------------------------------------
def plot_search_path(board: pd.DataFrame, stage_names: dict[int, str], stage_params: dict[int, Sequence[str]],
                     objective: str, path: str | Path) -> Path:
    """Stage by stage: every trial's objective as grey dots, the winner's as a line, its value written beside."""
    stages = sorted(int(s) for s in board["stage"].unique())
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(stages) + 2.0), 3.6))
    xs, ys = [], []
    for x, stage in enumerate(stages):
        rows = stage_rows(board, stage)
        scores = [s for s in _finite(rows[rows["status"] != "failed"].get(objective, [])) if not math.isnan(s)]
        ax.scatter([x] * len(scores), scores, color="#999999", s=18, zorder=2,
                   label="every trial" if x == 0 else None)
        winner = stage_winner(rows)
        if winner is None:
            continue
        row = rows[rows["trial_id"] == winner].iloc[0]
        score = _finite([row.get(objective)])[0]
        xs.append(x)
        ys.append(score)
        chosen = " ".join(f"{n}={format_value(row[n])}" for n in stage_params.get(stage, ()) if n in row)
        ax.annotate(f"{winner}\n{chosen}", (x, score), xytext=(0, -10), textcoords="offset points",
                    ha="center", va="top", fontsize=7)  # below: the axis ends near the best score
    ax.plot(xs, ys, marker="o", color=_COLORS["winner"], linewidth=2, markersize=7, zorder=3,
            label="stage winner")
    ax.set_xticks(range(len(stages)), [f"{s}\n{stage_names.get(s, '')}" for s in stages], fontsize=8)
    ax.set_xlim(-0.6, len(stages) - 0.4)
    ax.set_ylabel(objective, fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(*zoomed_limits([*ys, *board.loc[board["status"] != "failed", objective]]
                               if objective in board else ys, objective))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"search path: {objective} of each stage's winner", fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


# --- calibration ---------------------------------------------------------------------------------
def plot_reliability(before: Any, after: Any, path: str | Path, *, title: str = "") -> Path:
    """Reliability diagrams side by side: accuracy per confidence bin against the diagonal, ECE in the title.

    `before` and `after` are `probabilities.Reliability`. A bar per non-empty bin (its sample count
    above it), the bin's mean confidence as an orange tick: a bar below its tick is overconfidence.
    """
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.0), sharey=True)
    for ax, (name, bins) in zip(axes, (("before", before), ("after", after))):
        edges = [i / len(bins.count) for i in range(len(bins.count) + 1)]
        filled = [i for i, n in enumerate(bins.count) if n > 0]
        ax.plot([0, 1], [0, 1], linestyle="--", color="#444444", linewidth=1, label="perfectly calibrated")
        ax.bar([edges[i] for i in filled], [bins.accuracy[i] for i in filled], width=edges[1], align="edge",
               color=_COLORS["train"], edgecolor="#444444", linewidth=0.6, label="accuracy in the bin")
        for i in filled:
            ax.plot([edges[i], edges[i + 1]], [bins.confidence[i]] * 2, color=_COLORS["validation"], linewidth=2,
                    label="mean confidence" if i == filled[0] else None)
            ax.annotate(str(int(bins.count[i])), (edges[i] + edges[1] / 2, bins.accuracy[i]), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.08)
        ax.set_xlabel("confidence (top probability)", fontsize=8)
        ax.set_title(f"{name}: ECE {bins.expected_calibration_error:.4f}", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy", fontsize=8)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))
