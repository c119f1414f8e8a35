"""`python -m gridsearch report results/<name>`: one self-contained HTML page of a finished search.

The page holds the summary, the sortable leaderboard, the pre-flight findings, each stage's
chart and each trial's curves with its diagnosis and advice. Images are embedded as base64
data URIs and the table sorter is a few lines of inline JavaScript: the file opens offline,
can be mailed, and loads nothing from the network.

It reads the results folder only (leaderboard.csv, trials/, run.json, best_config.json,
preflight.json); any plot a run did not leave is drawn first, into plots/.
"""
from __future__ import annotations

import base64
import html
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from gridsearch.reports import plots
from gridsearch.results.atomic import atomic_write_text
from gridsearch.results.layout import (
    BEST_CONFIG,
    CALIBRATION_REPORT,
    DOCTOR_REPORT,
    ENSEMBLE_REPORT,
    PREFLIGHT,
    REPORT_HTML,
    RUN_MANIFEST,
)
from gridsearch.results.leaderboard import fold_reused, format_number, read_leaderboard, whole_number_columns
from gridsearch.results.store import ResultsStore
from gridsearch.training.trial import METRICS, TrialResult

_SEVERITY_ORDER = {"error": 0, "warning": 1, "ok": 2}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _esc(value: Any) -> str:
    return html.escape("" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value))


def _img(path: Path, alt: str) -> str:
    if not path.is_file():
        return f'<p class="missing">(no figure: {_esc(path.name)})</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'


class ReportData:
    """Everything the page shows, read from the folder once."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.board = read_leaderboard(self.folder)
        self.run = _read_json(self.folder / RUN_MANIFEST) or {}
        self.best = _read_json(self.folder / BEST_CONFIG)
        self.preflight = _read_json(self.folder / PREFLIGHT)
        self.doctor = _read_json(self.folder / DOCTOR_REPORT)
        self.ensemble = _read_json(self.folder / ENSEMBLE_REPORT)
        self.calibration = _read_json(self.folder / CALIBRATION_REPORT) or {}
        self.records = ResultsStore(self.folder).finished_trials()  # by config id
        space = self.run.get("space") or {}
        provenance = (self.best or {}).get("provenance", {})
        self.name = provenance.get("space_name") or self.run.get("name") or self.folder.name
        self.objective = provenance.get("objective") or space.get("objective") or self._guess_objective()
        self.hyperparameters = self._hyperparameter_columns()
        self.stages = sorted(int(s) for s in self.board["stage"].dropna().unique())
        self.stage_names = {s: str(plots.stage_rows(self.board, s)["stage_name"].iloc[0]) for s in self.stages}
        self.stage_params = {s: self._stage_params(s, space) for s in self.stages}

    def _guess_objective(self) -> str:
        columns = list(self.board.columns)
        after = columns[columns.index("trial_id") + 1:]
        return next((c for c in after if c.startswith("val_")), "val_accuracy")

    def _hyperparameter_columns(self) -> list[str]:
        """The leaderboard's columns between trial_id and the objective are the hyperparameters."""
        columns = list(self.board.columns)
        start = columns.index("trial_id") + 1
        end = next((i for i, c in enumerate(columns) if i >= start and c in (self.objective, *METRICS)), len(columns))
        return columns[start:end]

    def _stage_params(self, stage: int, space: dict[str, Any]) -> list[str]:
        """The names the stage tuned: from run.json when it describes this plan, else what varies."""
        rows = plots.stage_rows(self.board, stage)
        planned = space.get("stages") or []
        if self.stage_names[stage] == "full_grid":
            names = [n for s in planned for n in s.get("grid", {})]
        elif stage <= len(planned) and planned[stage - 1].get("name") == self.stage_names[stage]:
            names = list(planned[stage - 1].get("grid", {}))
        else:
            names = []
        names = [n for n in names if n in rows.columns]
        return names or plots.varying_names(rows, self.hyperparameters) or self.hyperparameters[:1]

    def record(self, row: pd.Series) -> TrialResult | None:
        """The trial record that trained this row's config (its own, or the one it reused)."""
        return self.records.get(row["config_id"])

    def ensure_plots(self) -> None:
        """Draw what a run did not leave (older or killed runs); stage charts are redrawn from the board."""
        tuned = [n for s in self.stages for n in self.stage_params[s]]
        for _, row in self.board.iterrows():
            record, path = self.record(row), plots.trial_plot_path(self.folder, row["trial_id"])
            reused = isinstance(row.get("reused_from"), str) and row.get("reused_from")
            if record is not None and not reused and not path.is_file():
                plots.plot_trial(record, self.objective, path, list(dict.fromkeys(tuned)))
        for stage in self.stages:
            plots.plot_stage(plots.stage_rows(self.board, stage), self.stage_params[stage], self.objective,
                             plots.stage_plot_path(self.folder, stage),
                             title=f"stage {stage}: {self.stage_names[stage]}  ({self.objective} per value tried)")
        if self.stages:
            plots.plot_search_path(self.board, self.stage_names, self.stage_params, self.objective,
                                   plots.search_path_plot_path(self.folder))


# --- the page ------------------------------------------------------------------------------------
_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1400px;margin:0 auto;padding:16px 20px 48px;box-sizing:border-box}
h1{font-size:1.6em;margin:.4em 0 .1em}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:1.8em}
.sub{color:#666;margin:0 0 1em}.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}
.card .v{font-size:1.4em;font-weight:600}.card .k{color:#666;font-size:.85em}
table{border-collapse:collapse;background:#fff;font-size:.85em;width:100%}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0;position:sticky;top:0;white-space:nowrap}#leaderboard td{white-space:nowrap}
#leaderboard td.wrap{white-space:normal;min-width:9em}#leaderboard td.advice{min-width:18em}
table.small{width:auto}.also{color:#555;font-size:.9em}td.diag{font-weight:600}
table.sortable th{cursor:pointer;user-select:none}table.sortable th:after{content:" \\2195";color:#aaa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td{background:#fdecea}tr.pruned td{background:#f3f3f3;color:#666}tr.winner td{background:#eaf7ea}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:.85em;font-weight:600}
.sev-error{background:#d62728}.sev-warning{background:#e6550d}.sev-ok{background:#2ca02c}
.trial{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:12px 0}
.trial h3{margin:.2em 0;font-size:1.05em}.trial img,.stage img,.path img{max-width:100%;height:auto}
.advice{margin:.3em 0}.evidence{color:#555;font-size:.85em;margin:.2em 0}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:.8em;white-space:pre-wrap}
.missing{color:#999}a{color:#1f5fa8}nav a{margin-right:14px}
"""

_SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var asc = th.getAttribute("data-dir") !== "asc";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
      th.setAttribute("data-dir", asc ? "asc" : "desc");
      var key = function (row) {
        var text = row.cells[col].textContent.trim(), num = parseFloat(text);
        return text === "" ? null : (isNaN(num) || !/^[-+0-9.eE]+$/.test(text) ? text.toLowerCase() : num);
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
        if (typeof x !== typeof y) { x = String(x); y = String(y); }
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _badge(label: str) -> str:
    color = plots.label_color(label) if label else "#999"
    return f'<span class="badge" style="background:{color}">{_esc(label or "?")}</span>'


def _values(row: pd.Series | dict, names: list[str]) -> str:
    return " ".join(f"{n}={plots.format_value(row[n])}" for n in names if n in row)


def _summary(data: ReportData) -> str:
    board, best = data.board, data.best
    counts = board["status"].value_counts().to_dict()
    reused = int(board["reused_from"].fillna("").astype(str).ne("").sum()) if "reused_from" in board else 0
    training = float(pd.to_numeric(board["duration_s"], errors="coerce").fillna(0).sum())
    cards = [("trials", len(board)), ("trained configs", len(data.records)), ("reused rows", reused),
             ("ok / pruned / failed", f"{counts.get('ok', 0)} / {counts.get('pruned', 0)} / {counts.get('failed', 0)}"),
             ("training: the trials' fits", f"{training:.0f} s")]
    run_time = _run_seconds(data)
    if run_time is not None:
        cards.append(("run: first stage to winner", f"{run_time:.0f} s"))
    out = []
    tuned = list(dict.fromkeys(n for s in data.stages for n in data.stage_params[s]))
    if best:
        metrics, diagnosis = best.get("metrics", {}), best.get("diagnosis") or {}
        cards = [(f"best {data.objective}", format_number(metrics.get(data.objective))),
                 ("test accuracy", format_number(metrics.get("test_accuracy"))),
                 ("test loss", format_number(metrics.get("test_loss"))), *cards]
        trial_id = best.get("trial_id", "")
        out.append(f'<p><b>Winner</b> <a href="#trial-{_esc(trial_id)}">{_esc(trial_id)}</a>: '
                   f'<code>{_esc(_values(best.get("hyperparameters", {}), tuned))}</code> '
                   f'{_badge(diagnosis.get("label", ""))} (best epoch {_esc(metrics.get("best_epoch"))}; retrained '
                   f'on train+validation for {_esc(metrics.get("retrained_epochs"))} epochs, then scored once on the '
                   f'test split)</p>')
        if diagnosis.get("advice"):
            out.append(f'<p class="advice">{_esc(diagnosis["advice"])}</p>')
    else:
        out.append("<p><b>No winner yet</b>: the run did not finish (no best_config.json); the tables below show "
                   "what was finished.</p>")
    out.insert(0, '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{_esc(v)}</div><div class="k">{_esc(k)}</div></div>' for k, v in cards)
        + "</div>")
    return "\n".join(out)


def _run_seconds(data: ReportData) -> float | None:
    """The last run's wall clock as its `done in` line counts it: from run.json's start (written just before
    the first stage) to best_config.json's creation (the winner retrained and saved)."""
    try:
        started = datetime.fromisoformat(data.run["started"])
        created = datetime.fromisoformat(data.best["provenance"]["created"])
    except (KeyError, TypeError, ValueError):
        return None
    seconds = (created - started).total_seconds()
    return seconds if seconds >= 0 else None


# The leaderboard's columns in the order a reader looks for them: which trial, how good, what its curves say
# and what to do, then the values. Measured on the digits run at 1400 px: with every CSV column the table was
# 2.3 screens wide and the diagnosis columns came last. Identifiers a reader never needs stay in the CSV, and
# so do values no trial changed (they are in each trial's card).
_LEADING_COLUMNS = ("rank", "stage", "trial_id")
_DIAGNOSIS_COLUMNS = ("status", "diagnosis", "flags", "advice", "reused_as")
_HIDDEN_COLUMNS = ("stage_name", "config_id", "reused_from", "error")  # error: in the trial's card


def _leaderboard_columns(board: pd.DataFrame, objective: str, hyperparameters: list[str]) -> list[str]:
    first = [c for c in (*_LEADING_COLUMNS, objective, *_DIAGNOSIS_COLUMNS) if c in board.columns]
    constant = {c for c in hyperparameters if c in board and board[c].astype(str).nunique() <= 1}
    return first + [c for c in board.columns if c not in first and c not in _HIDDEN_COLUMNS and c not in constant]


def _leaderboard_table(data: ReportData) -> str:
    board = fold_reused(data.board)  # one row per config: a reused row is named in its original's reused_as
    columns = _leaderboard_columns(board, data.objective, data.hyperparameters)
    same = [f"{c}={plots.format_value(board[c].iloc[0])}" for c in data.hyperparameters
            if c in board and c not in columns]
    winner = (data.best or {}).get("trial_id")
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    whole = whole_number_columns(board)
    body = []
    for _, row in board.iterrows():
        classes = [str(row["status"])] + (["winner"] if row["trial_id"] == winner else [])
        cells = []
        for c in columns:
            value = row[c]
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            text = _esc(str(int(value)) if c in whole and value == value else format_number(value))
            if c == "trial_id":
                text = f'<a href="#trial-{text}">{text}</a>'
            elif c == "status" and value != "ok" and isinstance(row.get("error"), str):
                text = f'<span title="{_esc(row["error"])}">{text}</span>'
            wrap = ' class="wrap advice"' if c == "advice" else ' class="wrap"' if c in ("flags", "reused_as") else ""
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td{wrap}>{text}</td>")
        body.append(f'<tr class="{" ".join(classes)}">{"".join(cells)}</tr>')
    folded = len(data.board) - len(board)
    return (f'<p class="sub">Best first, one row per config; click a column to sort. {len(board)} rows'
            + (f" ({folded} reused rows folded into the trial they repeat: see reused_as)" if folded else "")
            + (f"; the same in every trial: <code>{_esc(' '.join(same))}</code>" if same else "") + ".</p>"
            f'<div style="overflow-x:auto"><table class="sortable" id="leaderboard"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _findings(preflight: Any) -> list[dict[str, Any]]:
    if isinstance(preflight, dict):
        for key in ("findings", "checks", "results"):
            if isinstance(preflight.get(key), list):
                return [f for f in preflight[key] if isinstance(f, dict)]
        if all(isinstance(v, dict) for v in preflight.values()):
            return [{"check": k, **v} for k, v in preflight.items()]
    if isinstance(preflight, list):
        return [f for f in preflight if isinstance(f, dict)]
    return []


def _preflight(data: ReportData) -> str:
    if data.preflight is None:
        return '<p class="missing">No pre-flight findings (no preflight.json in this folder).</p>'
    findings = _findings(data.preflight)
    if not findings:
        return f"<pre>{_esc(json.dumps(data.preflight, indent=2, default=str))}</pre>"
    findings.sort(key=lambda f: _SEVERITY_ORDER.get(str(f.get("severity", "")).lower(), 3))
    keys = list(dict.fromkeys(["severity", "check", "message", *[k for f in findings for k in f]]))
    keys = [k for k in keys if any(k in f for f in findings)]
    rows = []
    for f in findings:
        cells = []
        for k in keys:
            value = f.get(k, "")
            if k == "severity":
                cells.append(f'<td><span class="badge sev-{_esc(str(value).lower())}">{_esc(value)}</span></td>')
            else:
                cells.append(f"<td>{_esc(value if isinstance(value, str) else json.dumps(value, default=str))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(f"<th>{_esc(k)}</th>" for k in keys)
    return f'<table id="preflight"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _stages(data: ReportData) -> str:
    out = []
    for stage in data.stages:
        rows = plots.stage_rows(data.board, stage)
        winner = plots.stage_winner(rows)
        chosen = ""
        if winner is not None:
            row = rows[rows["trial_id"] == winner].iloc[0]
            chosen = (f' winner <a href="#trial-{_esc(winner)}">{_esc(winner)}</a>: '
                      f'<code>{_esc(_values(row, data.stage_params[stage]))}</code> '
                      f'({_esc(data.objective)}={_esc(format_number(row.get(data.objective)))})')
        out.append(f'<div class="stage" id="stage-{stage}"><h3>Stage {stage}: {_esc(data.stage_names[stage])}</h3>'
                   f'<p>{len(rows)} configs tried;{chosen or " no trial finished"}</p>'
                   f'{_img(plots.stage_plot_path(data.folder, stage), f"stage {stage} chart")}</div>')
    return "\n".join(out)


def _trials(data: ReportData) -> str:
    out = []
    for stage in data.stages:
        names = data.stage_params[stage]
        for _, row in plots.stage_rows(data.board, stage).iterrows():
            trial_id = str(row["trial_id"])
            if _reused_from(row):
                continue  # folded into the card of the trial it repeats
            record = data.record(row)
            diagnosis = record.diagnosis if record else {"label": row.get("diagnosis"), "advice": row.get("advice")}
            label = str(diagnosis.get("label") or "")
            repeats = [r for _, r in data.board.iterrows() if _reused_from(r) == trial_id]
            parts = [f'<div class="trial" id="trial-{_esc(trial_id)}">'
                     + "".join(f'<span id="trial-{_esc(r["trial_id"])}"></span>' for r in repeats),
                     f'<h3>{_esc(trial_id)} <code>{_esc(_values(row, names))}</code> {_badge(label) if label else ""}'
                     + ("" if row["status"] == "ok" else f' <span class="badge sev-error">{_esc(row["status"])}</span>')
                     + "</h3>",
                     f'<p class="evidence">{_esc(data.objective)}={_esc(format_number(row.get(data.objective)))} at epoch '
                     f'{_esc(format_number(row.get("best_epoch")))} of {_esc(format_number(row.get("epochs_run")))}; '
                     f'{_esc(format_number(row.get("duration_s")))} s; all values: '
                     f'<code>{_esc(_values(row, data.hyperparameters))}</code></p>']
            for r in repeats:
                parts.append(f'<p class="also">Also {_esc(r["trial_id"])} (stage {_esc(r["stage"])}, '
                             f'{_esc(r["stage_name"])}): the same config, reused, not trained again.</p>')
            if label:
                parts.append(f'<p class="advice"><b>Diagnosis: {_esc(label)}.</b> {_esc(diagnosis.get("advice"))}</p>')
            else:
                parts.append('<p class="advice"><b>No diagnosis:</b> no epoch finished, '
                             'so there is no curve to read.</p>')
            if diagnosis.get("evidence"):
                parts.append(f'<p class="evidence">Evidence: {_esc(diagnosis["evidence"])}</p>')
            if diagnosis.get("flags"):
                parts.append(f'<p class="evidence">Also: {_esc(", ".join(map(str, diagnosis["flags"])))}</p>')
            for cause in diagnosis.get("causes") or []:  # probe-batch causes: their own evidence and advice
                parts.append(f'<p class="evidence">Cause {_esc(cause.get("label"))}: {_esc(cause.get("evidence"))}; '
                             f'{_esc(cause.get("advice"))}</p>')
            error = record.error if record else row.get("error")
            if isinstance(error, str) and error:
                parts.append(f"<pre>{_esc(error)}</pre>")
            parts.append(_img(plots.trial_plot_path(data.folder, trial_id), f"{trial_id} curves"))
            parts.append("</div>")
            out.append("\n".join(parts))
    return "\n".join(out)


def _reused_from(row: pd.Series) -> str:
    source = row.get("reused_from")
    return source if isinstance(source, str) else ""


def _test(data: ReportData) -> str:
    """The winner's confusion matrix on the test split, with each class's precision and recall."""
    best = data.best or {}
    matrix = best.get("metrics", {}).get("test_confusion_matrix")
    classes = [str(c) for c in best.get("data", {}).get("classes") or []]
    if not matrix or len(matrix) != len(classes):
        return '<p class="missing">No confusion matrix (no finished run, or one of an older gridsearch).</p>'
    counts = pd.DataFrame(matrix, index=classes, columns=classes)
    predicted, actual = counts.sum(axis=0), counts.sum(axis=1)
    rows = []
    for i, name in enumerate(classes):
        right = int(counts.iloc[i, i])
        cells = "".join(f'<td class="num{" diag" if i == j else ""}">{int(n)}</td>' for j, n in enumerate(counts.iloc[i]))
        scores = [right / predicted.iloc[i] if predicted.iloc[i] else math.nan,
                  right / actual.iloc[i] if actual.iloc[i] else math.nan]
        rows.append(f"<tr><th>{_esc(name)}</th>{cells}"
                    + "".join(f'<td class="num">{format_number(float(v))}</td>' for v in scores)
                    + f'<td class="num">{int(actual.iloc[i])}</td></tr>')
    head = "".join(f"<th>{_esc(c)}</th>" for c in classes)
    return (f'<p class="sub">The winner {_esc(best.get("trial_id", ""))}, retrained on train+validation, on the '
            f'{int(actual.sum())} test images: a row per true class, a column per predicted class.</p>'
            f'<table class="small" id="confusion"><thead><tr><th>true \\ predicted</th>{head}<th>precision</th>'
            f'<th>recall</th><th>images</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _doctor(data: ReportData) -> str:
    """doctor.json as a table: the baseline, each step with its reason, the final winner."""
    report = data.doctor
    objective = report.get("objective", data.objective)

    def state(summary: dict[str, Any]) -> str:
        score = summary.get("score")
        value = f"{objective}={format_number(score)}" if score is not None else f"no {objective}"
        return (f'<a href="#trial-{_esc(summary.get("trial_id"))}">{_esc(summary.get("trial_id"))}</a> '
                f'{_badge(summary.get("label") or "")} {_esc(value)}')

    rows = [f"<tr><td>baseline</td><td></td><td>{state(report['baseline'])}</td>"
            f"<td>{_esc(report['baseline'].get('evidence'))}</td></tr>"]
    for number, step in enumerate(report.get("steps", []), start=1):
        chosen = " ".join(f"{k}={plots.format_value(v)}" for k, v in step.get("chosen", {}).items())
        rows.append(f"<tr><td>step {number}: stage {_esc(step.get('stage'))} [{_esc(step.get('name'))}]</td>"
                    f"<td><code>{_esc(chosen)}</code></td><td>{state(step['winner'])}</td>"
                    f"<td>{_esc(step.get('reason'))}</td></tr>")
    rows.append(f"<tr><td>final</td><td></td><td>{state(report['final'])}</td>"
                f"<td>stopped: {_esc(report.get('stopped'))}</td></tr>")
    changed = ", ".join(f"{_esc(name)} {_esc(plots.format_value(old))} &rarr; {_esc(plots.format_value(new))}"
                        for name, (old, new) in report.get("changed", {}).items()) or "nothing"
    return (f"<p>What the baseline's diagnosis pointed to and what each step changed: {changed}.</p>"
            f'<table id="doctor-steps"><thead><tr><th>step</th><th>chosen</th><th>result</th><th>why</th></tr>'
            f"</thead><tbody>{''.join(rows)}</tbody></table>")


def _ensemble(data: ReportData) -> str:
    """ensemble.json: the ensemble against each member, the winner first, ECE beside accuracy and log loss."""
    report = data.ensemble
    rows = [("ensemble", report), *[(f"{m.get('trial_id')}{' (winner)' if i == 0 else ''}", m)
                                    for i, m in enumerate(report.get("members", []))]]
    body = "".join(f"<tr><td>{_esc(name)}</td>" + "".join(f'<td class="num">{format_number(r.get(k))}</td>'
                                                           for k in ("test_accuracy", "test_log_loss", "test_ece"))
                   + "</tr>" for name, r in rows)
    return (f'<p>The top {_esc(report.get("size"))} distinct configs, each retrained like the winner, their '
            f'probabilities averaged; scored on the {_esc(report.get("test_samples"))} test images (ECE: expected '
            f'calibration error, {_esc(report.get("ece_bins", ""))} bins, what `calibrate` then corrects).</p>'
            f'<table class="small" id="ensemble-table"><thead><tr><th>model</th><th>test accuracy</th>'
            f"<th>test log loss</th><th>test ECE</th></tr></thead><tbody>{body}</tbody></table>")


def _calibration(data: ReportData) -> str:
    """calibration.json: per calibrated model, its temperature, the test ECE before and after, the diagram."""
    out = []
    for which, report in sorted(data.calibration.items()):
        test = report.get("test", {})
        out.append(f'<div class="stage" id="calibration-{_esc(which)}"><h3>The {_esc(which)}: temperature '
                   f'T={format_number(report.get("temperature"))}</h3><p>Fitted on the validation split; on the '
                   f'{_esc(test.get("samples"))} test images ECE {format_number(test.get("ece_before"))} &rarr; '
                   f'{format_number(test.get("ece_after"))}, log loss {format_number(test.get("log_loss_before"))} '
                   f'&rarr; {format_number(test.get("log_loss_after"))}, accuracy '
                   f'{format_number(test.get("accuracy"))} (unchanged). Saved as '
                   f'<code>{_esc(report.get("model"))}</code>.</p>'
                   + _img(data.folder / str(report.get("reliability_diagram", "")), f"reliability diagram, {which}")
                   + "</div>")
    return "\n".join(out)


def build_report(folder: str | Path) -> str:
    data = ReportData(folder)
    data.ensure_plots()
    provenance = (data.best or {}).get("provenance", {})
    space_file = provenance.get("space_file") or data.run.get("space_file", "")
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sections = [
        ("summary", "Summary", _summary(data) + '<div class="path">'
         + _img(plots.search_path_plot_path(data.folder), "search path") + "</div>"),
        ("preflight", "Pre-flight findings", _preflight(data)),
        ("leaderboard", "Leaderboard", _leaderboard_table(data)),
        ("stages", "Stages", _stages(data)),
        ("test", "The winner on the test split", _test(data)),
        ("trials", "Trials", '<p class="sub">Loss and accuracy per epoch; the star and the dashed line mark '
                             "the best epoch.</p>" + _trials(data)),
    ]
    extra = [("doctor", "The doctor: before and after", _doctor, data.doctor),
             ("ensemble", "Ensemble", _ensemble, data.ensemble),
             ("calibration", "Calibration", _calibration, data.calibration)]
    sections[4:4] = [(key, title, make(data)) for key, title, make, present in extra if present]
    nav = "".join(f'<a href="#{key}">{title}</a>' for key, title, _ in sections)
    body = "\n".join(f'<section id="{key}"><h2>{title}</h2>\n{content}\n</section>' for key, title, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>gridsearch report: {_esc(data.name)}</title><style>{_CSS}</style></head>\n<body><main>"
            f"<h1>gridsearch report: {_esc(data.name)}</h1>"
            f'<p class="sub">space file <code>{_esc(space_file)}</code>; objective <b>{_esc(data.objective)}</b>'
            f'; backend {_esc(provenance.get("backend") or data.run.get("backend", "?"))}'
            f"; results <code>{_esc(data.folder)}</code>; report written {created}</p>"
            f"<nav>{nav}</nav>\n{body}\n<script>{_SORT_JS}</script></main></body></html>\n")


def write_report(folder: str | Path, output: str | Path | None = None) -> Path:
    path = Path(output) if output else Path(folder) / REPORT_HTML
    atomic_write_text(path, build_report(folder))
    return path
