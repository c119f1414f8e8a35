"""Read a training log made elsewhere, and diagnose it: what `python -m gridsearch diagnose` and
`gridsearch.diagnose_log` do.

Read without options: a Keras CSVLogger file (any separator of , ; tab |, CR/LF/CRLF line ends, a byte-order mark,
runs appended by `append=True` with or without a repeated header: the last run of MIN_EPOCHS or more is diagnosed
and the note says so; empty or NA cells; decimal commas where the comma separates no cells; Keras 2 names; a pandas
index column; rows without the header's cells, left out and named), a `history.history` dumped as JSON (also as one
record per epoch, as a summary per metric with its "values" list, or as several runs under names or prefixes of
their own: the last is diagnosed), a TensorBoard log folder (or one event file), read with TensorBoard's own event
reader, and what `model.fit` printed, saved as text, and other texts a training script leaves (a line per epoch, a
history dict printed inside a log, a table printed by pandas), also among a Jupyter notebook's saved cell outputs.
Epochs keep the numbers the log gives them (CSVLogger and TensorBoard count from 0; a file without epoch numbers
from 1, as Keras prints them).
"""
from __future__ import annotations

import ast
import csv
import dataclasses
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gridsearch.diagnosis.curves import MIN_EPOCHS, canonical_name, infer_num_classes
from gridsearch.diagnosis.labels import Diagnosis
from gridsearch.diagnosis.rules import NEEDS_CLASSES, diagnose

_MISSING_CELLS = {"", "na", "n/a", "none", "null"}  # CSVLogger writes "NA" for a metric absent in an epoch
_SEPARATORS = (",", ";", "\t", "|")
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+(?:[eE][-+]?\d+)?%?")  # "0,157": a spreadsheet's number, ; tab or |-separated
_OUTPUT_ACCURACY_SUFFIXES = ("_sparse_categorical_accuracy", "_categorical_accuracy", "_binary_accuracy", "_accuracy",
                             "_acc")
_EPOCH_NAMES = {"epoch", "epochs", "", "unnamed:_0", "index"}  # pandas writes its index with an empty name
_JSON_START = re.compile(r"\s*(\{|\[\s*[{\[\]])")  # a dict, or a list of records: not "[2025-12-19 00:09] Epoch 1"
_LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\r?\n)+")  # "#" lines and blank lines at a text's start
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # the colours of Keras 3's progress bar
# What a fit printed as it ran: Keras' own lines, or a callback's line per epoch (_is_training)
_CONSOLE = "Keras console output"
_EPOCH_LINES = "a log line per epoch"
# A JSON string, with the comma missing before a string on the next line; or a comma before "]" or "}" outside a
# string: the slips of a notebook edited by hand (_notebook_outputs)
_COMMA_SLIP = re.compile(r'("(?:\\.|[^"\\])*")(\s*\n\s*(?="))?|,(\s*[\]}])')
# df.head() or hist.tail(3) in a cell's code: the table it shows is a frame's first or last rows, never a whole run
_PART_OF_A_FRAME = re.compile(r"\.(?:head|tail)\(")
# "Epoch k/N" ends its line; it starts one, or follows the last number of a bar that lost its line end (the
# twenty-seventh corpus' 27a009: "- accuracy: 0.5123Epoch 2/100", so that epoch 1's own metrics were never saved)
_CONSOLE_EPOCH = re.compile(r"(?:^|(?<=\d))Epoch (\d+)/(\d+)[ \t\r]*$", re.MULTILINE)
_CONSOLE_STEP = re.compile(r"(\d+)/(\d+)")  # "972/972 ━━━ 89s 75ms/step - ...": the batch the bar stands at
# " - head/f1-score: 0.81 - ": one metric between Keras' separators (not "ETA: 2s", not "my test loss: 0.9"); what
# follows the number, from a colon or a dash (spaced or not), a letter or a spaced digit on, is the rest of an
# overwritten bar ("0.8512: 2s", "0.8512ccuracy: 0.8", "0.8512- ETA: 0s", "0.8512 1s - loss: 0.41": 37g003; "0.8512 -",
# a separator left at the line's end: 88g004)
_CONSOLE_METRIC = re.compile(r"\s*([^\s:]+): (-?(?:\d+(?:\.\d*)?(?:e[-+]?\d+)?|nan|inf))"
                             r"(?:\s*|\s+\d.*|\s*[:\-].*|[A-Za-z_].*)", re.IGNORECASE | re.DOTALL)
# "96s 40ms/step": the epoch is over, its metrics follow; the time a step, in _SECONDS' units
_STEP_TIME = re.compile(r"(\d[\d.]*)\s*([mµu]?s)/(?:step|sample)\b")
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
_RAN_OUT = "Your input ran out of data"  # Keras' warning when a generator ends before steps_per_epoch * epochs


@dataclass(frozen=True)
class TrainingLog:
    """One run's per-epoch history as read, the number of its first epoch, and what the reader had to decide."""

    history: dict[str, list[float]]
    first_epoch: int = 1
    source: str = "history"  # "CSV (';'-separated)", "history JSON", "TensorBoard folder", ...
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def epochs(self) -> int:
        return next((len(values) for name, values in self.history.items() if canonical_name(name) == "loss"), 0)


@dataclass(frozen=True)
class LogDiagnosis:
    """A log's diagnosis with what it rests on: the log, the classes used and how they were found, what was skipped."""

    diagnosis: Diagnosis
    log: TrainingLog
    num_classes: int | None
    classes_from: str  # "given", or how they were inferred, or why not
    skipped: tuple[str, ...] = ()  # checks that need the number of classes, with what it would add
    # Classes unknown: the diagnosis of the same log as a binary task, where its label differs. A binary task's
    # chance accuracy is 0.5, not the 0 an unknown one is read with, and binary logs are where --classes matters
    # most: on the real-log corpus' held-out part, 6 of the 7 logs --classes gets right are binary; on its binary
    # logs this diagnosis, where it differs, is right on 6 of 7 (design: 13 of 22), the one without classes on 0 (6).
    if_binary: Diagnosis | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.log.epochs, "first_epoch": self.log.first_epoch, "format": self.log.source,
                "columns": list(self.log.history), "notes": list(self.log.notes), "classes": self.num_classes,
                "classes_from": self.classes_from, "skipped": list(self.skipped), **self.diagnosis.to_dict(),
                "if_binary": self.if_binary.to_dict() if self.if_binary else None}


def diagnose_log(log: Mapping[str, Sequence[float]] | str | os.PathLike | TrainingLog,
                 num_classes: int | None = None, *, second_opinion: bool = True) -> LogDiagnosis:
    """Diagnose a history dict (Keras' `history.history`) or a log file/folder, the number of classes optional.

    Without `num_classes` it is inferred where the log shows it (curves.infer_num_classes); otherwise the checks
    that need it are skipped and listed. `second_opinion` False: the rules' label alone (rules.diagnose says why
    a log made elsewhere gets the forest's too, and a gridsearch trial does not).
    """
    if not isinstance(log, TrainingLog):
        log = TrainingLog({k: list(v) for k, v in log.items()}) if isinstance(log, Mapping) else read_training_log(log)
    if not _has_loss(log.history):
        raise ValueError(f"no 'loss' in the history (keys: {', '.join(log.history) or 'none'})")
    log = _with_output_accuracies(log)
    classes_from = "given"
    if num_classes is None:
        num_classes, classes_from = infer_num_classes(log.history)
    skipped = () if num_classes else tuple(f"{label}: {what}" for label, what in NEEDS_CLASSES.items())
    result = diagnose(log.history, num_classes, first_epoch=log.first_epoch, second_opinion=second_opinion)
    binary = None if num_classes else diagnose(log.history, 2, first_epoch=log.first_epoch,
                                               second_opinion=second_opinion)
    return LogDiagnosis(result, log, num_classes, classes_from, skipped,
                        binary if binary and binary.label != result.label else None)


def _with_output_accuracies(log: TrainingLog) -> TrainingLog:
    """A model with several outputs logs `<output>_accuracy` per output and no overall accuracy: their mean stands in
    for it, and the note says so (the corpus' n003, three heads of one deepfake detector: left without accuracies,
    its val above train went unseen)."""
    names = {canonical_name(name): name for name in log.history}
    if "accuracy" in names:
        return log
    columns = {}  # output -> its train accuracy column's name (the longest suffix: x_binary_accuracy is x's)
    for name in names:
        suffix = next((s for s in _OUTPUT_ACCURACY_SUFFIXES if name.endswith(s) and len(name) > len(s)), None)
        if suffix and not name.startswith("val_") and f"val_{name}" in names:
            columns[name[:-len(suffix)]] = name
    if not columns:
        return log
    outputs = sorted(columns)
    history = dict(log.history)
    for prefix in ("", "val_"):
        values = [log.history[names[prefix + columns[output]]] for output in outputs]
        history[prefix + "accuracy"] = [float(np.mean(epoch)) for epoch in zip(*values, strict=True)]
    note = (f"no overall accuracy: the mean of {len(outputs)} outputs' ({', '.join(outputs)}) stands in for it"
            if len(outputs) > 1 else f"accuracy: the one output's ({outputs[0]})")
    return dataclasses.replace(log, history=history, notes=(*log.notes, note))


def read_training_log(path: str | os.PathLike) -> TrainingLog:
    """Read a CSV log, a history JSON or a TensorBoard folder/event file (by its content, not its name)."""
    path = Path(path)
    if path.is_dir() or ".tfevents." in path.name:
        return _read_tensorboard(path)
    data = path.read_bytes()
    text = _decode(data)
    if "\0" in text[:1024]:
        raise ValueError(f"{path}: a binary file; expected a CSV log, a history JSON or a TensorBoard folder")
    if (cells := _notebook_outputs(text)) is not None:
        return _read_notebook(path, cells)
    return _read_text(path, text)


def _read_text(path: Path, text: str) -> TrainingLog:
    """A log by its content: console output, JSON, metric lists, a line per epoch, a printed table, a CSV."""
    if _CONSOLE_EPOCH.search(plain := _ANSI_ESCAPE.sub("", text)):  # before JSON: a script may print a dict first
        try:
            return _read_console(path, plain)
        except ValueError:  # "Epoch k/N", then a callback's own line of metrics, not Keras' bar ("loss: 0.52; acc:
            # 0.81; val_loss: ...": the Coursera course's TqdmProgressCallback, the forty-seventh corpus' 47b005)
            lines = _epoch_lines(plain)
            if not any(_has_loss(metrics) for _, metrics in lines):
                raise
            return _read_epoch_lines(path, lines)
    if _JSON_START.match(text) or _python_repr_in_json(text) is not None:
        return _read_json(path, text)
    if lists := _metric_lists(text):
        return _from_mapping(path, lists, [], "metric lists, one per line")
    lines = _epoch_lines(text)
    if any(_has_loss(metrics) for _, metrics in lines):
        return _read_epoch_lines(path, lines)
    if (aligned := _aligned_table(text)) is not None:
        table, notes = aligned
        log = _read_csv(path, table)
        return dataclasses.replace(log, source="a whitespace-aligned table", notes=(*notes, *log.notes))
    try:
        return _read_csv(path, text)
    except ValueError:
        if not (printed := _printed_histories(text)):  # last: a CSV cell or an evaluate() may print a dict too
            raise
    notes = [_last_run_note(len(printed), "histories printed in the text", f"the one at line "
                            f"{text.count(chr(10), 0, printed[-1][0]) + 1}")] if len(printed) > 1 else []
    return _from_mapping(path, printed[-1][1], notes, "a history dict printed in a text")


def _mended_comma(slip: re.Match) -> str:
    """A _COMMA_SLIP match as JSON wants it: a string kept, with the comma its next line's string lacks; a comma before
    "]" or "}" dropped."""
    string, line_break, closing = slip.groups()
    if string is None:
        return closing
    return f"{string},{line_break}" if line_break else string


def _notebook_outputs(text: str) -> list[tuple[int, int | None, str]] | None:
    """The saved outputs of a Jupyter notebook's code cells, as (cell number, execution count, text), or None if
    the text is no notebook. A cell's printed output and its value's text form join in order, as the notebook shows
    them; tracebacks, images and HTML are left out."""
    # Comment lines before the JSON: a notebook saved with its licence cell's text pasted above (the TensorFlow
    # tutorials' "#@title MIT License" header, the eighty-third corpus' 83g002)
    text = _LEADING_COMMENTS.sub("", text, count=1)
    if not text.lstrip().startswith("{") or '"nbformat"' not in text:  # at the end: Jupyter sorts the keys
        return None
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError:
        try:  # a comma left before "]" or "}" where an output was cut by hand (the fifty-eighth corpus' 58c002), or
            # none between two lines of a cell's text typed by hand (the ninety-fifth's 95a012): Jupyter refuses both
            notebook = json.loads(_COMMA_SLIP.sub(_mended_comma, text))
        except json.JSONDecodeError:
            return None
    if not isinstance(notebook, dict) or "nbformat" not in notebook:
        return None
    try:
        return _cell_outputs(notebook)
    except (AttributeError, TypeError, KeyError):  # "nbformat" in a JSON that is no notebook, or a broken one
        return None


def _cell_outputs(notebook: dict) -> list[tuple[int, int | None, str, bool]]:
    """Each code cell's number, execution count, output text, and whether its code shows part of a frame."""
    cells = notebook.get("cells") or [cell for sheet in notebook.get("worksheets") or [] for cell in sheet["cells"]]
    found = []
    for number, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        joined = ""
        for output in cell.get("outputs") or []:
            text = _output_text(output)
            if output.get("output_type") != "stream" and text:  # a value's text: lines of its own, not a stream's
                text = ("" if joined.endswith("\n") or not joined else "\n") + text + "\n"
            joined += text
        if joined:
            code = cell.get("source", cell.get("input", ""))
            part = bool(_PART_OF_A_FRAME.search("".join(code) if isinstance(code, list) else code))
            found.append((number, cell.get("execution_count", cell.get("prompt_number")), joined, part))
    return found


def _output_text(output: dict) -> str:
    """What a cell output shows as text: printed (stream), or a value's plain form (nbformat 4's execute_result and
    display_data, 3's pyout); "" for tracebacks, images and HTML alone."""
    kind = output.get("output_type")
    if kind in ("stream", "pyout"):
        text = output.get("text", "")
    elif kind in ("execute_result", "display_data"):
        text = (output.get("data") or {}).get("text/plain", "")
    else:
        return ""
    return "".join(text) if isinstance(text, list) else text


def _read_notebook(path: Path, cells: Sequence[tuple[int, int | None, str, bool]]) -> TrainingLog:
    """A Jupyter notebook (the eighteenth corpus' ipynb files): the training log among its cells' saved outputs.
    As for runs appended to a CSV, the last cell that holds one is diagnosed and the note says so; a later one too
    short to have a curve's shape (a fit stopped by hand after an epoch: 18b006) is named, not diagnosed."""
    logs, parts = [], set()
    for number, count, text, part in cells:
        try:
            logs.append((f"cell {number}" + (f" (In [{count}])" if count else ""), _read_text(path, text)))
        except ValueError:
            continue
        if part and not _is_training(logs[-1][1]):
            parts.add(logs[-1][0])
    if not logs:
        raise ValueError(f"{path}: a Jupyter notebook without a training log in the saved outputs of its "
                         f"{len(cells)} code cell{'s' * (len(cells) != 1)} with output; expected what model.fit "
                         "printed, or a printed history.history")
    views = [where for at, (where, log) in enumerate(logs)
             if not _is_training(log) and _shown_before(log, [earlier for _, earlier in logs[:at]])]
    # A frame's head or tail whose numbers no earlier cell printed: another run's history reloaded from a file (the
    # sixty-third corpus' 63f004: pd.read_csv(...).head() after a 20-epoch fit), left out while a log remains
    heads = [where for where, _ in logs if where in parts and where not in views]
    heads = heads if len(heads) + len(views) < len(logs) else []
    logs = [(where, log) for where, log in logs if where not in views and where not in heads]
    chosen, notes = _chosen_run([(where, log.epochs) for where, log in logs], "notebook cells with a training log")
    where, log = logs[chosen]
    if views:  # hist.tail() after the fit: the TensorFlow tutorials' habit
        notes.append(f"showing part of earlier cells' histories (a head or tail), left out: {', '.join(views)}")
    if heads:
        notes.append(f"showing a frame's first or last rows (.head(), .tail()), left out: {', '.join(heads)}")
    return dataclasses.replace(log, source=f"{log.source} in a Jupyter notebook's {where}", notes=(*notes, *log.notes))


def _is_training(log: TrainingLog) -> bool:
    """Whether a cell's log is what a fit printed as it ran (Keras' "Epoch k/N" lines, or a callback's line per
    epoch): a training of its own, never a history shown again, however close its numbers come to earlier ones. The
    fifty-eighth corpus' 58b004: fits of one model continued in three later cells, each stopped by hand, whose
    losses and val losses near a plateau each matched some earlier epoch's, in order, within the tolerances below."""
    return log.source in (_CONSOLE, _EPOCH_LINES)


def _shown_before(log: TrainingLog, earlier: Sequence[TrainingLog]) -> bool:
    """Whether a log's epochs were all printed, in order, in earlier cells (the val loss alike, rounded to 4 decimals
    or 6 digits, and the loss within 10%; without a val loss, the loss alike), with fewer epochs than they hold: a
    history printed again, not a training. A stretch of one fit's (hist.tail()), or rows of several fits' (a
    DataFrame joining the histories of fits continued in later cells). Asked only of a log that is no training
    (_is_training): a fit continued near an earlier plateau can match it in order, val loss and all (58b004)."""
    def rows(x: TrainingLog) -> np.ndarray:
        val = x.history.get("val_loss")
        return np.column_stack([np.asarray(x.history[_loss_key(x.history)], dtype=float),
                                np.asarray(val if val is not None else [math.nan] * x.epochs, dtype=float)])
    part = rows(log)
    seen = np.concatenate([rows(x) for x in earlier]) if earlier else np.empty((0, 2))
    if not 0 < len(part) < len(seen):
        return False
    at = -1
    for loss, val in part:
        later = seen[at + 1:]
        validated = ~np.isnan(later[:, 1]) & ~np.isnan(val)
        # Where the val loss matches, the training loss may differ by a few percent: Keras' bar shows a running mean
        # that History does not keep (keras-team/keras#20212, tensorflow/tensorflow#43470; the forty-seventh
        # corpus' 47b002: a tail() of the history after the fit, 0.4282 beside the bar's 0.4235)
        same = np.where(validated, np.isclose(later[:, 1], val, rtol=1e-3, atol=1e-4)
                        & np.isclose(later[:, 0], loss, rtol=0.1), np.isclose(later[:, 0], loss, rtol=1e-3, atol=1e-4))
        if not same.any():
            return False
        at += 1 + int(np.argmax(same))
    return True


def _has_loss(history: Mapping) -> bool:
    return any(canonical_name(str(name)) == "loss" for name in history)


def _last_run_note(count: int, how: str, last: str) -> str:
    """What a reader says when a file holds several runs: the last one is diagnosed, as Keras' own last fit."""
    return f"{count} runs in the file ({how}): the last one, {last}, is diagnosed"


def _chosen_run(runs: Sequence[tuple[str, int]], how: str) -> tuple[int, list[str]]:
    """Of several runs (name, epochs), the last long enough for a curve's shape, and the note that says so: a later
    one too short (a fit stopped by hand after an epoch or two: 18b006's cell, 23d004's second fit in one cell) is
    named, not diagnosed. Runs kept under names of their own (training phases) and histories printed in a text keep
    the last: their names, not their lengths, say which is which."""
    chosen = max((at for at, (_, epochs) in enumerate(runs) if epochs >= MIN_EPOCHS), default=len(runs) - 1)
    named = [f"{name}, {epochs} epoch{'s' * (epochs != 1)}" for name, epochs in runs]
    if len(runs) < 2:
        return chosen, []
    if chosen == len(runs) - 1:
        return chosen, [_last_run_note(len(runs), how, named[chosen])]
    return chosen, [f"{len(runs)} runs in the file ({how}): {named[chosen]}, the last long enough for a curve's "
                    f"shape, is diagnosed (left out, too short: {'; '.join(named[chosen + 1:])})"]


def _decode(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), UTF-16 with its mark (a PowerShell `>` redirect writes it; a file
    cut off mid-character keeps what it has), else Latin-1: any byte decodes, so a line written in Windows' cp1252
    (an em dash) cannot hide the numbers around it. Zero-width spaces, which no log means, are dropped."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = data.decode("utf-16", errors="replace")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return text.replace("\u200b", "")  # a zero-width space pasted after a dict (18e003)


def _read_csv(path: Path, text: str) -> TrainingLog:
    numbered = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not numbered:
        raise ValueError(f"{path}: empty file; expected a Keras CSVLogger log with a header row")
    separator = _separator(numbered[0][1])
    parsed = csv.reader([line for _, line in numbered], delimiter=separator)
    try:
        rows = [(number, [_decimal_point(cell.strip(), separator) for cell in row])
                for (number, _), row in zip(numbered, parsed, strict=False)]
    except csv.Error as exc:  # a quote never closed: the rest of the file in one cell (a notebook's text, 19e002)
        raise ValueError(f"{path}: not a CSV log ({exc}; its first line: {numbered[0][1][:80]!r})") from None
    header = _header(rows[0][1])
    notes = []
    if (wide := _wide_from_long(header, [cells for _, cells in rows[1:]])) is not None:
        notes.append(f"a long table ({', '.join(filter(None, header))}): one row per metric and epoch, read as one "
                     "column per metric")
        header, rows = wide[0], list(enumerate(wide, start=1))  # a row per epoch, each with every cell
    elif (unrolled := _runs_from_list_cells(header, [cells for _, cells in rows[1:]])) is not None:
        table, settings, dropped = unrolled
        notes.append("a row per run, each cell a list of per-epoch values: read as a run each" + (
            f"; per-run settings, not curves, left out: {', '.join(settings)}" if settings else "") + (
            f"; {dropped} row{'s' * (dropped != 1)} without a list of losses left out" if dropped else ""))
        header, rows = table[0], list(enumerate(table, start=1))
    names = ", ".join(header)
    shown = f"{names if len(names) <= 300 else names[:300] + f'... ({len(names)} characters)'}; separator {separator!r}"
    if "loss" not in [canonical_name(column) for column in header]:
        raise ValueError(f"{path}: no 'loss' column (columns: {shown}); expected a Keras CSVLogger log")
    runs, run, malformed = [], [], []
    epoch_col = _epoch_column(header)
    for number, cells in rows[1:]:
        if _is_header(cells):  # the header again (CSVLogger(append=True)), or the next run's own
            runs.append((header, run))
            header, run = _header(cells), []
            epoch_col = _epoch_column(header)
            continue
        if len(cells) < len(header) or any(cells[len(header):]):  # lines run together, a fragment, a cut-off row
            malformed.append((number, len(cells)))
            continue
        if epoch_col is not None and run and _restarts(cells, run[-1], epoch_col):  # appended without a header
            runs.append((header, run))
            run = []
        run.append(cells)
    runs = [(h, r) for h, r in [*runs, (header, run)] if r]
    if not runs:
        if malformed:
            raise ValueError(f"{path}: none of its {len(malformed)} data rows has the header's {len(header)} cells "
                             f"(columns: {shown}; the first: line {malformed[0][0]}, {malformed[0][1]} cells)")
        raise ValueError(f"{path}: a header row ({shown}) and no epochs")
    chosen, chosen_note = _chosen_run([(f"run {at + 1}", len(rows)) for at, (_, rows) in enumerate(runs)], "appended")
    header, run = runs[chosen]
    notes += chosen_note
    if malformed:
        shown_rows = ", ".join(f"line {number} ({width} cell{'s' * (width != 1)})" for number, width in malformed[:5])
        more = f" and {len(malformed) - 5} more" if len(malformed) > 5 else ""
        notes.append(f"rows that do not have the header's {len(header)} cells, left out: {shown_rows}{more}")
    epoch_col = _epoch_column(header)
    first = _first_epoch(run, epoch_col)
    notes += _renumbered(run, epoch_col, first)
    history, column_notes = _columns(path, header, [canonical_name(_PERCENT_MARK.sub("", column)) for column in header],
                                     run)
    sep_name = {"\t": "tab"}.get(separator, repr(separator))
    return TrainingLog(history, first, f"CSV ({sep_name}-separated)", tuple(notes + column_notes))


_PERCENT_MARK = re.compile(r"\s*[(\[]%[)\]]\s*$|\s*%$")  # a column named in percent: "Accuracy (%)", "acc%"
_ALIGNED_GAP = re.compile(r"\s{2,}")  # pandas pads its columns with two spaces or more; a name may hold one
_SUMMARY_ROWS = {"count", "mean", "std", "min", "max"}
_ELIDED_ROW = re.compile(r"[\s.]*\.\.\.[\s.]*")  # the "..." row of a long frame pandas prints shortened


def _separator(line: str) -> str:
    """A delimited file's separator: the one its header line holds most of."""
    return max(_SEPARATORS, key=line.count)


def _aligned_table(text: str) -> tuple[str, list[str]] | None:
    """A history printed as a whitespace-aligned table (print(df), df.to_string(), a logging report holding them),
    as tab-separated text for the CSV reader, with notes on what was not its rows; None for a delimited file (its
    first line names a loss) or a text holding no such table. Every table is a run, as a repeated CSV header is.
    Seen in the fifteenth corpus' 15c002: a logging report with a table per run, under "Training Summary:"."""
    lines = [line.strip() for line in text.splitlines()]
    if _SUMMARY_ROWS <= {line.split(maxsplit=1)[0] for line in lines if line}:
        return None  # df.describe(): count, mean, std, quartiles and max of each column, no epochs
    first = next((line for line in lines if line), "")[:10_000]  # a header's length: not a notebook's 2 MB line
    if _is_header(next(csv.reader([first], delimiter=_separator(first)), [])):
        return None
    rows: list[str] = []
    header, width, elided, other, hidden = None, 0, 0, 0, False
    for line in _unwrapped(lines):
        tokens = line.split()
        cells = [cell for cell in tokens if cell != "..."]  # "...": columns pandas did not print
        hidden |= len(cells) < len(tokens) and not _ELIDED_ROW.fullmatch(line)
        if cells and all(map(_is_number, cells)) and header is not None:
            if not width:  # the first row says how the header splits: names with single spaces, and an index
                width = len(cells)
                splits = ([name for name in split if name != "..."] for split in (_ALIGNED_GAP.split(header),
                                                                                   header.split()))
                names = next((["", *split][-width:] for split in splits if len(split) in (width, width - 1)), None)
                if names is None:
                    header, width = None, 0
                    continue
                rows.append("\t".join(names))
            rows.append("\t".join(cells))
        elif cells and (_is_header(_ALIGNED_GAP.split(line)) or _is_header(cells)):
            header, width = line, 0
        elif header is not None and not width and len(cells) == 1:  # pandas prints the index's name below
            header = f"{cells[0]}  {header}"
        elif _ELIDED_ROW.fullmatch(line) and width:
            elided += 1
        else:
            other += bool(line)
            header, width = (None, 0) if width else (header, width)
    if not rows:
        return None
    notes = [f"{other} line{'s' * (other != 1)} around the table, not its rows, left out"] if other else []
    if elided:
        notes.append("rows pandas printed as '...' are missing: the epochs are the rows read")
    if hidden:
        notes.append("columns pandas printed as '...' are missing")
    return "\n".join(rows), notes


def _unwrapped(lines: list[str]) -> list[str]:
    """pandas wraps a frame wider than its display into blocks of columns, one under the other, each header but the
    last ending in "\\": the blocks side by side again, a block's index (printed again on each) kept once."""
    lines = list(lines)
    at = 0
    while at < len(lines):
        if not lines[at].endswith("\\"):
            at += 1
            continue
        lines[at] = lines[at][:-1].rstrip()
        end = next((i for i in range(at, len(lines)) if not lines[i]), len(lines))
        after = next((i for i in range(end + 1, len(lines)) if not lines[i]), len(lines))
        block, more = lines[at:end], lines[end + 1:after]
        if len(block) != len(more) or len(block) < 2:
            continue  # not a wrap that can be joined: read as it is
        indexed = len(more[-1].split()) == len(_ALIGNED_GAP.split(more[0].rstrip("\\").strip())) + 1
        rows = [right.split(None, 1)[1] if " " in right else "" for right in more[1:]] if indexed else more[1:]
        lines[at:after] = [f"{left}  {right}".strip() for left, right in zip(block, [more[0], *rows])]
    return lines


def _wide_from_long(header: list[str], rows: list[list[str]]) -> list[list[str]] | None:
    """A history melted for plotting (pd.melt, seaborn: epoch, variable, value) as the wide table Keras writes, header
    first; None for any other table (one with a loss column is wide already, whatever else it holds). A value goes to
    the epoch its row names (a cut-off row or a metric logged in some epochs only leaves a gap); without an epoch
    column, a metric's rows are its epochs 1, 2, ... in order, as melt keeps them."""
    names = [canonical_name(column) for column in header]
    key = next((names.index(name) for name in ("variable", "metric") if name in names), None)
    if key is None or "value" not in names or "loss" in names:
        return None
    value, epoch = names.index("value"), names.index("epoch") if "epoch" in names else None
    cells_by_metric: dict[str, dict[str, str]] = {}
    for cells in rows:
        if len(cells) > max(key, value, epoch or 0):
            metric = cells_by_metric.setdefault(cells[key], {})
            metric[cells[epoch] if epoch is not None else str(len(metric) + 1)] = cells[value]
    epochs = list(dict.fromkeys(number for metric in cells_by_metric.values() for number in metric))
    if all(map(_is_number, epochs)):
        epochs.sort(key=float)
    return [["epoch", *cells_by_metric], *([number, *(metric.get(number, "") for metric in cells_by_metric.values())]
                                         for number in epochs)] if epochs else None


def _runs_from_list_cells(header: list[str], rows: list[list[str]]) -> tuple[list[list[str]], list[str], int] | None:
    """A table of runs, one row each, whose loss cell is a list ("[1.08, 0.81, ...]": pd.DataFrame of a grid search's
    histories written with to_csv; the sixteenth corpus' 16c002), as a table per run, its header repeated as appended
    runs repeat theirs; with the names of the columns that are no curves (the run's settings, a list of another
    length among them: layers "[64, 32]") and the number of rows whose loss is no list. None for any other table."""
    names = [canonical_name(column) for column in header]
    loss = names.index("loss") if "loss" in names else len(header)
    if not rows or len(rows[0]) <= loss or not rows[0][loss].startswith("["):
        return None
    table, settings, dropped = [], set(), 0
    for cells in rows:
        lists = {col: _list_cell(cell) for col, cell in enumerate(cells[:len(header)])}
        epochs = len(lists.get(loss) or ())
        curves = [col for col, values in lists.items() if values is not None and len(values) == epochs]
        if not epochs:
            dropped += 1  # a row that is not a run's lists: left out and counted
            continue
        settings |= {col for col in lists if col not in curves and names[col] not in _EPOCH_NAMES}
        table.append(["epoch", *(header[col] for col in curves)])
        table += [[str(epoch), *("nan" if lists[col][epoch - 1] is None else str(lists[col][epoch - 1])
                                 for col in curves)] for epoch in range(1, epochs + 1)]
    return (table, [header[col] for col in sorted(settings)], dropped) if table else None


def _list_cell(cell: str) -> list | None:
    """A cell's list of per-epoch numbers, as Python prints a list (or NumPy an array: "[1.08 0.81 0.6 ]"); None
    for any other cell."""
    if not cell.startswith("["):
        return None
    for text in (cell, re.sub(r"(?<=[\d.nf])\s+(?=[-\d.ni])", ", ", cell.strip())):
        try:
            values = _python_literal(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(values, list) and all(v is None or isinstance(v, (int, float)) for v in values):
            return values
    return None


def _header(cells: list[str]) -> list[str]:
    """A header row without the empty names a trailing separator leaves ("epoch,loss,val_loss,")."""
    while cells and not cells[-1]:
        cells = cells[:-1]
    return cells


def _is_header(cells: list[str]) -> bool:
    """A row that names a loss and holds no number: a header, repeated or a new run's."""
    return not any(_is_number(cell) for cell in cells) and "loss" in [canonical_name(cell) for cell in cells]


def _is_number(cell: str) -> bool:
    try:
        _number(cell)
    except ValueError:
        return False
    return True


def _renumbered(run: list[list[str]], epoch_col: int | None, first: int) -> list[str]:
    """A note where the file's epoch numbers skip (rows left out, or none written): the log counts its rows."""
    for i, cells in enumerate(run if epoch_col is not None else ()):
        if _is_number(cells[epoch_col]) and _number(cells[epoch_col]) != first + i:
            return [f"epochs are counted by the rows read: the file's epoch {cells[epoch_col]} is epoch {first + i} "
                    "here"]
    return []


def _decimal_point(cell: str, separator: str) -> str:
    """A decimal comma as a point where the comma separates no cells (the thirteenth corpus' l013: "0,157;0,71")."""
    return cell.replace(",", ".") if separator != "," and _DECIMAL_COMMA.fullmatch(cell) else cell


def _epoch_column(header: list[str]) -> int | None:
    """The column of epoch numbers: one named so before pandas' unnamed index, which a history DataFrame written
    with its own epoch column also has (",epoch,loss,...")."""
    names = [canonical_name(column) for column in header]
    numbered = [col for col, name in enumerate(names) if name in _EPOCH_NAMES]
    return min(numbered, key=lambda col: names[col] not in ("epoch", "epochs"), default=None)


def _restarts(cells: list[str], previous: list[str], epoch_col: int) -> bool:
    try:
        return float(cells[epoch_col]) <= float(previous[epoch_col])
    except ValueError:
        return False


def _first_epoch(run: list[list[str]], epoch_col: int | None) -> int:
    try:
        return int(float(run[0][epoch_col])) if epoch_col is not None else 1
    except ValueError:
        return 1


def _columns(path: Path, header: list[str], names: list[str],
             run: list[list[str]]) -> tuple[dict[str, list[float]], list[str]]:
    history: dict[str, list[float]] = {}
    skipped, partial, empty, percent, notes = [], [], [], [], []
    for col, name in enumerate(names):
        if name in _EPOCH_NAMES or name in history:  # epoch numbers and row indexes are no curves
            continue
        cells = [row[col] for row in run]
        missing = [i for i, cell in enumerate(cells) if cell.lower() in _MISSING_CELLS]
        if missing and name != "loss":  # logged in some epochs only (validation_freq > 1), or never: no curve
            (empty if len(missing) == len(cells) else partial).append(header[col])
            continue
        if in_percent := bool(_PERCENT_MARK.search(header[col])):  # "Training Accuracy (%)": sixteenth corpus' 16e006
            cells = [cell if cell.endswith("%") or cell.lower() in _MISSING_CELLS else cell + "%" for cell in cells]
        try:
            history[name] = [math.nan if i in set(missing) else _number(cell) for i, cell in enumerate(cells)]
            percent += [header[col]] * in_percent
        except ValueError as exc:
            if name == "loss":
                raise ValueError(f"{path}: column {header[col]!r} holds a non-number: {exc}") from None
            skipped.append(header[col])  # e.g. a grid's optimizer name beside its per-epoch numbers
        if missing:  # pandas' to_csv writes a NaN loss as an empty cell (the real-log corpus' k007: every row)
            rows = ("every data row" if len(missing) == len(cells) else
                    f"{len(missing)} of {len(cells)} data rows (the first: row {missing[0] + 1})")
            notes.append(f"'loss' is empty in {rows}: read as NaN (pandas writes a NaN as an empty cell)")
    if partial:
        notes.append(f"empty in some epochs only, left out: {', '.join(partial)}")
    if empty:
        notes.append(f"empty in every epoch, left out: {', '.join(empty)}")
    if skipped:
        notes.append(f"not per-epoch numbers, left out: {', '.join(skipped)}")
    if percent:
        notes.append(f"percentages, read as shares (/ 100): {', '.join(percent)}")
    return history, notes


def _number(cell: str) -> float:
    """A cell's number; "93.07%" is 0.9307 (a hand-written log's accuracy as a percentage, the corpus' h005)."""
    return float(cell[:-1]) / 100 if cell.endswith("%") else float(cell)


def _python_repr_in_json(text: str) -> str | None:
    """The text of a JSON string that holds a dict's Python repr (`json.dump(str(history.history), f)`), else None.

    The real-log corpus' n020 and n033 (benchmarks/diagnosis/real) are such files; a CSV log with a quoted header
    ("epoch","loss") is no JSON string.
    """
    if text.lstrip()[:1] != '"':
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, str) and data.lstrip()[:1] == "{" else None


def _read_json(path: Path, text: str) -> TrainingLog:
    """history.history as JSON, or as its Python repr (single quotes; `f.write(str(history.history))`), either bare
    or inside a JSON string."""
    text = _python_repr_in_json(text) or text
    notes = []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        try:
            data = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            still_open, in_string, cuts = _scan(text)
            unclosed = in_string or bool(still_open)  # a file cut off while it was written
            data, kept = _complete_part(text, cuts) if unclosed else (None, 0)
            if data is None:
                cut = "; it ends with brackets still open: cut off while it was written?" if unclosed else ""
                raise ValueError(f"{path}: not valid JSON ({exc}{cut}), nor a Python dict literal") from None
            notes.append(f"the file is cut off (brackets still open at its end): read up to its last complete "
                         f"entry, the last {len(text) - kept} characters left out")
    if isinstance(data, Mapping) and isinstance(data.get("history"), Mapping):
        data = data["history"]  # {"history": {...}, "params": ...}
    if isinstance(data, list) and data and all(isinstance(row, Mapping) and isinstance(row.get(_loss_key(row)), list)
                                               for row in data):  # one history per run: [{...}, {...}]
        chosen, chosen_note = _chosen_run([(f"run {at + 1}", len(row[_loss_key(row)])) for at, row in enumerate(data)],
                                          "a JSON list of histories")
        notes += chosen_note
        data = data[chosen]
    if isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):  # one record per epoch
        data = {key: [row.get(key) for row in data] for key in dict.fromkeys(k for row in data for k in row)}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: JSON of a {type(data).__name__}; expected Keras' history.history (a dict of lists)")
    return _from_mapping(path, data, notes, "history JSON")


def _from_mapping(path: Path, data: Mapping, notes: list[str], source: str) -> TrainingLog:
    """A history as a mapping of names to per-epoch lists (one run, or runs under names of their own)."""
    if runs := _named_runs(data):
        data = runs[-1][1]
        if len(runs) > 1:
            notes.append(_last_run_note(len(runs), ", ".join(repr(name) for name, _ in runs), repr(runs[-1][0])))
    history, skipped = {}, []
    for key, values in data.items():
        if isinstance(values, Mapping) and isinstance(values.get("values"), list):
            values = values["values"]  # a summary per metric: {"values": [...], "max": ..., "mean": ...}
        elif isinstance(values, Mapping) and values and all(str(k).isdigit() for k in values):
            values = [values[k] for k in sorted(values, key=int)]  # pandas' to_json: {"loss": {"0": ..., "1": ...}}
        if isinstance(values, list) and values and all(v is None or isinstance(v, (int, float)) for v in values):
            history[str(key)] = [math.nan if v is None else float(v) for v in values]
        else:
            skipped.append(str(key))
    if not _has_loss(history):
        what = "list in the JSON" if source == "history JSON" else "list"
        cut = "; the file is cut off (brackets still open at its end) before its loss list was complete" if any(
            note.startswith("the file is cut off") for note in notes) else ""
        raise ValueError(f"{path}: no 'loss' {what} (keys: {', '.join(map(str, data)) or 'none'}){cut}")
    epoch_key = next((k for k in history if canonical_name(k) in _EPOCH_NAMES), None)
    first = int(history.pop(epoch_key)[0]) if epoch_key else 1
    if skipped:
        notes.append(f"not per-epoch lists, left out: {', '.join(skipped)}")
    return TrainingLog(history, first, source, tuple(notes))


def _loss_key(history: Mapping) -> str | None:
    return next((key for key in history if canonical_name(str(key)) == "loss"), None)


_NEXT_CHAR = re.compile(r"\s*(.?)", re.DOTALL)
CUT_OFF_TRIES = 20  # a cut-off file parses at its last whole entry, or at one of the few before it


def _complete_part(text: str, cuts: Sequence[tuple[int, str]]) -> tuple[Any, int]:
    """What a JSON cut off while it was written (a run killed mid-dump) holds before the cut, and its length.

    The text is cut back to its last comma that ends a whole entry (one followed by a key, or by the next record or
    run), never inside a list of numbers, so no kept list is missing its last values; the brackets still open there
    are closed. (None, 0) when no such cut parses. Only the last CUT_OFF_TRIES cuts are tried: a file broken
    earlier on (not only cut off) would otherwise be parsed once per entry.
    """
    for index, closing in reversed(cuts[-CUT_OFF_TRIES:]):
        try:
            return json.loads(text[:index] + closing), index
        except json.JSONDecodeError:
            continue
    return None, 0


def _scan(text: str) -> tuple[list[str], bool, list[tuple[int, str]]]:
    """One pass over a JSON text: the brackets still open at its end, whether it ends inside a string, and each comma
    that ends a whole entry with the brackets that would close the text there."""
    stack: list[str] = []
    in_string, escaped, cuts = False, False, []
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif in_string:
            escaped, in_string = char == "\\", char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
        elif char == "," and stack:
            following = _NEXT_CHAR.match(text, index + 1).group(1)
            if (stack[-1] == "{" and following == '"') or (stack[-1] == "[" and following in ("{", "[")):
                cuts.append((index, "".join("]" if b == "[" else "}" for b in reversed(stack))))
    return stack, in_string, cuts


def _named_runs(data: Mapping) -> list[tuple[str, Mapping]]:
    """The histories a JSON keeps side by side under names of its own, in file order, when it has no 'loss' list of
    its own: training phases ({"phase_a": {...}, "phase_b": {...}}: a head, then fine-tuning; or {"p1_loss": [...],
    "p2_loss": [...], ...}) or runs numbered by a loop ({"0": {...}}). As with runs appended to a CSV, the last is the
    one diagnosed. The real-log corpus' z009, z014 and p006 are such files."""
    if _has_loss(data):
        return []
    nested = [(str(key), run) for key, value in data.items()
              if isinstance(value, Mapping) and isinstance(run := value.get("history", value), Mapping) and _has_loss(run)]
    items = {str(key): value for key, value in data.items()}
    if nested or any(key.startswith("val_") for key in items):  # val_out1_loss: a model's outputs, not its runs
        return nested
    prefixes = [key.removesuffix("_loss") for key in items if key.endswith("_loss") and not key.endswith("val_loss")]
    owner = {key: max((p for p in prefixes if key.startswith(p + "_")), key=len, default=None) for key in items}
    runs = [(prefix, {key.removeprefix(prefix + "_"): value for key, value in items.items() if owner[key] == prefix})
            for prefix in prefixes]
    return runs if len(runs) > 1 else []


def _read_console(path: Path, text: str) -> TrainingLog:
    """What `model.fit(verbose=1 or 2)` printed, saved as text: an "Epoch k/N" line, then progress lines, one of
    which holds the whole epoch's metrics (" - loss: 0.52 - accuracy: 0.81 - val_loss: ..."). A count that starts
    again (a second fit: fine-tuning) begins a new run; the last one long enough for a curve's shape is diagnosed,
    as for a CSV log (_chosen_run)."""
    runs: list[list[tuple[int, dict[str, float]]]] = []
    unfinished = []
    headless: list[tuple[int, int]] = []  # (run, epoch) read from the lines after an earlier epoch's "Epoch k/N"
    paces: list[dict[int, float]] = []  # by run, each epoch's seconds a step where printed
    marks = _without_validation_strays(text, list(_CONSOLE_EPOCH.finditer(text)))
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        epoch = int(mark.group(1))
        segment = text[mark.end():after.start() if after else len(text)]
        ends = _epoch_ends(segment)
        metrics = _most_metrics(ends)
        if after and after.group(1, 2) == mark.group(1, 2) and (metrics is None or runs and metrics == runs[-1][-1][1]):
            # its line again, after a callback's empty bar (tqdm's TqdmCallback, 28d008), or after the last epoch's
            # metrics printed again (a doubled stream, each line once more one line late: 36c002): one epoch
            continue
        if metrics is None:  # the run it belongs to: the one it continues, else the next
            unfinished.append((len(runs) - 1 if runs and epoch > runs[-1][-1][0] else len(runs), epoch))
            continue
        if not runs or epoch <= runs[-1][-1][0]:
            runs.append([])
            paces.append({})
        whole = [line for line in ends if line.keys() == metrics.keys()]
        if (after and after.group(2) == mark.group(2) and int(after.group(1)) == epoch + len(whole) > epoch + 1
                and len(set(_bar_totals(segment))) == 1):
            # as many whole epochs' lines as the count skips, all of one bar's length (not an evaluate() before a
            # resumed fit): the "Epoch k/N" lines between them were lost (87f001: "Epoch 6/10", two epochs' last
            # bars, "Epoch 8/10"), each line is its epoch's
            headless += [(len(runs) - 1, later) for later in range(epoch + 1, epoch + len(whole))]
            runs[-1] += [(epoch + offset, line) for offset, line in enumerate(whole)]
        else:
            runs[-1].append((epoch, metrics))
        if times := _STEP_TIME.findall(segment):
            paces[-1][epoch] = float(times[-1][0]) * _SECONDS[times[-1][1]]
    if not runs:
        raise ValueError(f"{path}: Keras' \"Epoch k/N\" lines without a line of metrics (\"- loss: ...\") after any")
    no_batch = [_no_batch_epochs(run) for run in runs]
    kept = [at for at, run in enumerate(runs) if len(run) > len(no_batch[at])]  # a run of empty epochs is no run
    if not kept:
        raise ValueError(f"{path}: Keras' console output whose every epoch has a loss of 0 and no batch: no training")
    runs = [[(epoch, metrics) for epoch, metrics in runs[at] if epoch not in no_batch[at]] for at in kept]
    no_batch = [no_batch[at] for at in kept]
    leftover = [_leftover_epochs(run, paces[at]) if _RAN_OUT in text else [] for at, run in zip(kept, runs)]
    runs = [[(epoch, metrics) for epoch, metrics in run if epoch not in leftover[at]] for at, run in enumerate(runs)]
    unfinished = [(kept.index(at), epoch) for at, epoch in unfinished if at in kept]
    headless = [(kept.index(at), epoch) for at, epoch in headless if at in kept]
    notes = []
    before, first = text[:marks[0].start()], text[marks[0].end():marks[1].start() if len(marks) > 1 else len(text)]
    cut = _epoch_metrics(before) if runs[0][0][0] == 2 else None
    if cut is not None and cut.keys() == runs[0][0][1].keys() and _bar_total(before) == _bar_total(first):
        runs[0].insert(0, (1, cut))  # copied from inside epoch 1 (16e002), not an evaluate() before a resumed fit
        notes.append('the output starts inside epoch 1, without its "Epoch 1/N" line: its metrics are read')
    for at, run in enumerate(runs):
        if len(run) > 2 and not set(run[-1][1]) >= set.intersection(*(set(metrics) for _, metrics in run[:-1])):
            # the last epoch lacks what every earlier one has (its val_ metrics): cut short by hand after its last
            # step, before validation (the twenty-seventh corpus' 27f004, Ctrl-C in epoch 4): no whole epoch. Two
            # earlier epochs or more, each validated: validation_freq > 1 leaves some of them without val_ metrics
            unfinished.append((at, run.pop()[0]))
    chosen, chosen_note = _chosen_run([(f"run {at + 1}", len(run)) for at, run in enumerate(runs)], "fit called again")
    run = runs[chosen]
    names = list(dict.fromkeys(name for _, metrics in run for name in metrics))
    partial = [name for name in names if not all(name in metrics for _, metrics in run)]
    if "loss" not in names or "loss" in partial:
        raise ValueError(f"{path}: Keras' console output without a number for 'loss' in every epoch of the run read")
    notes += chosen_note
    if lost := [epoch for at, epoch in headless if at == chosen]:
        notes.append(f'epoch {_epoch_list(lost)} without an "Epoch k/N" line: read from the whole epochs\' lines the '
                     f"count skipped")
    if cut_short := [str(epoch) for at, epoch in unfinished if at == chosen]:
        notes.append(f"epoch {', '.join(cut_short)} did not finish (no metrics for the whole epoch): left out")
    for emptied, how in ((no_batch[chosen], "every metric 0, no batch ran"),
                         (leftover[chosen], "the input's last batch at most, at a tenth of a validated epoch's time a "
                                            "step or less, not validated")):
        if emptied:
            notes.append(f"epoch {_epoch_list(emptied)} ran out of data ({how}): left out, the curve's epochs counted "
                         f"without them")
    if partial:  # validation_freq > 1: no curve to read
        notes.append(f"printed in some epochs only, left out: {', '.join(partial)}")
    history = {name: [metrics[name] for _, metrics in run] for name in names if name not in partial}
    return TrainingLog(history, run[0][0], _CONSOLE, tuple(notes))


def _without_validation_strays(text: str, marks: list[re.Match]) -> list[re.Match]:
    """The "Epoch k/N" lines less those TF 1.15's fit_generator prints as validation starts: "Epoch 1/N" again,
    once or more, after an epoch's own line and before its line of metrics (tensorflow/tensorflow#34619; the
    thirty-third corpus' 33g008 in every epoch, the ninety-fifth's 95h010 twice in epoch 2 only). Read as they are,
    the epoch would start a new fit. Each epoch's are judged on their own: strays where the count goes on after them
    ("Epoch 3/N" after epoch 2's), or where nothing follows them and the epoch is the last of its count, or strays
    were found in an earlier epoch. An "Epoch 1/N" after an unfinished epoch, then "Epoch 2/N", is a fit started again
    (a killed run, then a new one), whatever other epochs hold; a run resumed with initial_epoch right after one
    epoch of a new fit would read as strays."""
    groups: list[tuple[int, list[int]]] = []  # (the epoch's own mark, its strays)
    for at in range(1, len(marks)):
        own = groups[-1][0] if groups and at - 1 in groups[-1][1] else at - 1
        if (marks[at].group(1) == "1" != marks[own].group(1) and marks[at].group(2) == marks[own].group(2)
                and _epoch_metrics(text[marks[at - 1].end():marks[at].start()]) is None):
            if own == at - 1:
                groups.append((own, []))
            groups[-1][1].append(at)
    strays: set[int] = set()
    for own, group in groups:
        epoch, count = int(marks[own].group(1)), marks[own].group(2)
        if group[-1] + 1 < len(marks):  # the count goes on after them
            is_stray = marks[group[-1] + 1].group(1, 2) == (str(epoch + 1), count)
        else:  # nothing after them: the last epoch of its count, or strays seen before
            is_stray = bool(strays) or epoch == int(count)
        if is_stray:
            strays.update(group)
    return [mark for at, mark in enumerate(marks) if at not in strays]


def _no_batch_epochs(run: Sequence[tuple[int, Mapping[str, float]]]) -> list[int]:
    """The epochs of a run in which the input ran out before its first batch, printed as a loss and every metric of 0
    (val_ ones too when it validates): Keras 3 with `steps_per_epoch=len(generator)` and a generator that does not
    repeat empties every second epoch ("Your input ran out of data", keras-team/keras-io#285; 29b004, 24e002, 27e005,
    28f009). A model can reach a loss of 0, but not with an accuracy of 0, nor climb back from it in the next epoch:
    without an accuracy, only a zero epoch that a later non-zero loss follows is empty."""
    empty = []
    for at, (epoch, metrics) in enumerate(run):
        if metrics.get("loss") != 0 or any(value for name, value in metrics.items()
                                           if canonical_name(name) != "learning_rate"):
            continue
        if (any(canonical_name(name).endswith("accuracy") for name in metrics)
                or any(later.get("loss") for _, later in run[at + 1:])):
            empty.append(epoch)
    return empty


def _leftover_epochs(run: Sequence[tuple[int, Mapping[str, float]]], paces: Mapping[int, float]) -> list[int]:
    """The epochs of a run that ran out of data after a batch or none, without the validation the others ran: Keras 3
    with `steps_per_epoch=len(x) // batch_size` on a generator that does not repeat runs what the last epoch left,
    its steps a tenth of a validated epoch's or less, and prints that batch's metrics, not 0s (keras-team/keras-io
    #285; the thirty-sixth corpus' 36f009, every second epoch). One without validation at the pace of the others is
    an epoch (validation_freq > 1)."""
    validated = {name for _, metrics in run for name in metrics if name.startswith("val_")}
    usual = sorted(paces[epoch] for epoch, metrics in run if epoch in paces and validated & metrics.keys())
    return [epoch for epoch, metrics in run if usual and not validated & metrics.keys()
            and paces.get(epoch, usual[0]) < usual[len(usual) // 2] / 10]


def _epoch_list(epochs: Sequence[int]) -> str:
    """Epoch numbers for a note, at most 6 of them named: "2, 4, 6, ..., 58 (29 epochs)"."""
    if len(epochs) <= 6:
        return ", ".join(map(str, epochs))
    return f"{epochs[0]}, {epochs[1]}, {epochs[2]}, ..., {epochs[-1]} ({len(epochs)} epochs)"


def _bar_total(segment: str) -> int | None:
    """The number of batches of the last bar in a segment ("972/972 ━━━ ..."): an epoch's, or an evaluate()'s."""
    totals = _bar_totals(segment)
    return totals[-1] if totals else None


def _bar_totals(segment: str) -> list[int]:
    """The number of batches of each bar update in a segment, its lines parted as _epoch_ends parts them: a notebook
    may keep the updates without a line end, between backspaces and carriage returns (87g002)."""
    return [int(bar[1]) for line in _bar_lines(segment) if (bar := re.match(r"\s*\d+/(\d+)\b", line))]


def _bar_lines(segment: str) -> list[str]:
    """A segment's lines as the terminal showed them: a carriage return or backspaces start a bar's update over."""
    return re.split(r"[\r\n\b]+", segment)


def _epoch_metrics(segment: str) -> dict[str, float] | None:
    """The metrics of the whole epoch among the lines after its "Epoch k/N": of the lines that may end it
    (_epoch_ends), the first with the most metrics (the full bar before validation has fewer than the one after it,
    and an evaluate() printed after the last epoch has no val_ metrics); None if the epoch did not finish."""
    return _most_metrics(_epoch_ends(segment))


def _most_metrics(ends: list[dict[str, float]]) -> dict[str, float] | None:
    return max(ends, key=len, default=None)


def _epoch_ends(segment: str) -> list[dict[str, float]]:
    """The metrics of each line after an "Epoch k/N" that may end its epoch, in order: a line whose bar is full (or
    that has no bar: verbose=2). A line that still shows an ETA is no epoch's end (the nineteenth corpus' 19e012:
    the data ran out before validation). A notebook keeps what a carriage return left of a longer bar after the line
    that overwrote it ("accuracy: 0.8512: 2s - loss: 0.41 - ", 18a007; "val_accuracy: 0.8512ccuracy: 0.8", 19d010):
    the line's own metrics come first. One that lost its backspaces runs every update of the epoch into one line,
    its end after the last step time (19c008). A bar may run past its total ("133/132": Keras 2's fit_generator with
    steps_per_epoch rounded down, the twenty-first corpus' 21d008): full too."""
    ends = []
    for line in _bar_lines(segment):
        pieces = line.split(" - ")
        bar = pieces[0].split()
        step = _CONSOLE_STEP.fullmatch(bar[0]) if bar else None
        timed = [at for at, piece in enumerate(pieces) if at and _STEP_TIME.search(piece)]
        if len(timed) > 1 or timed and _shows_eta(pieces[1:timed[-1]]):
            pieces, step = pieces[timed[-1]:], None  # the updates before the last step time are the epoch's past
        if timed:  # an ETA after the epoch's step time is what the carriage return left of a longer bar (29h010)
            pieces = pieces[:next((at for at, piece in enumerate(pieces) if at and _shows_eta([piece])), None)]
        metrics: dict[str, float] = {}
        for match in filter(None, map(_CONSOLE_METRIC.fullmatch, (p for p in pieces[1:] if not _shows_eta([p])))):
            metrics.setdefault(match[1], float(match[2]))  # a name again: the rest of a longer bar it overwrote
        # Validation metrics come at an epoch's end only: a bar left short of its total with "ETA: 0s" and the val_
        # metrics (TF 2.0's fit with steps_per_epoch on arrays, its line end lost too: tensorflow/tensorflow#24593;
        # Keras before keras-team/keras#8169 printed its ETA on the last line) has ended (85c009); an ETA without
        # them is an update within the epoch
        validated = any(name.startswith("val_") for name in metrics)
        if _shows_eta(pieces[1:]) and not validated:
            continue
        if "loss" in metrics and (step is None or validated or int(step[1]) >= int(step[2])):
            ends.append(metrics)
    return ends


def _shows_eta(pieces: Sequence[str]) -> bool:
    return any(piece.lstrip().startswith("ETA") for piece in pieces)


_METRIC_LIST_LINE = re.compile(r"""\s*['"]?([A-Za-z][\w ./-]*?)['"]?\s*[:=]\s*\[([^\[\]]*)\]\s*,?\s*""")


def _metric_lists(text: str) -> dict[str, list[float]] | None:
    """`for k, v in history.history.items(): print(f"{k}: {v}")` saved as text: one "name: [v1, v2, ...]" line per
    metric (the twelfth corpus' a009). None unless every non-empty line is one."""
    lines = [line for line in text.splitlines() if line.strip()]
    matches = [_METRIC_LIST_LINE.fullmatch(line) for line in lines]
    if not lines or not all(matches):
        return None
    try:
        return {m[1]: [math.nan if v is None else float(v) for v in _python_literal(f"[{m[2]}]")] for m in matches}
    except (ValueError, SyntaxError, TypeError):
        return None


_PRINTED_DICT = re.compile(r"""\{\s*['"][A-Za-z][\w ./-]*['"]\s*:\s*\[""")  # "{'loss': [": a history's repr
_NUMPY_SCALAR = re.compile(r"np\.float(?:32|64)\(([^()]*)\)")  # NumPy 2's repr of a metric: np.float64(0.41)
_NON_FINITE = {"nan": "None", "inf": "1e999", "-inf": "-1e999"}  # how Python prints them; None reads as NaN
_NON_FINITE_WORD = re.compile(r"-?\b(?:nan|inf)\b")


def _python_literal(text: str) -> Any:
    """A value Python printed (`str(history.history)`): NumPy 2's np.float64(0.41) and a diverged run's nan and inf
    read as numbers; ValueError or SyntaxError where it is none."""
    text = _NUMPY_SCALAR.sub(r"\1", text)
    return ast.literal_eval(_NON_FINITE_WORD.sub(lambda word: _NON_FINITE[word[0]], text))


def _closing_brace(text: str, start: int) -> int:
    """Where the dict that opens at start closes: it may hold another ({'params': {'epochs': 3}})."""
    depth = 0
    for at in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[at], 0)
        if not depth:
            return at
    return len(text)


def _printed_histories(text: str) -> list[tuple[int, dict]]:
    """Each `history.history` printed or logged inside a text (a logging line "...INFO-train:{'val_loss': [...]}",
    the sixteenth corpus' 16c001), with its offset; only dicts that hold a loss list."""
    found = []
    for start in (match.start() for match in _PRINTED_DICT.finditer(text)):
        try:
            data = _python_literal(text[start:_closing_brace(text, start) + 1])
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(data, dict) and _has_loss(data):
            found.append((start, data))
    return found


# "2024-10-30 13:34:20 - INFO - Epoch 3/20 - Loss: 0.41, Accuracy: 0.86, Val Loss: 0.45": a training loop's own log
_EPOCH_LINE = re.compile(r"\bepoch\s*\[?\s*(\d+)\s*(?:/\s*\d+)?\s*\]?\s*[-:,|]?(.*)$", re.IGNORECASE)
_BAR_ONLY = re.compile(r"\s*[*=#>.\-━█]{3,}\s*")
_LINE_METRIC = re.compile(r"([A-Za-z][\w ./-]*?)\s*[:=]\s*(-?(?:\d+(?:\.\d*)?(?:e[-+]?\d+)?|nan|inf))\b",
                          re.IGNORECASE)


def _epoch_lines(text: str) -> list[tuple[int, dict[str, float]]]:
    """Each line that names an epoch and gives metrics after it ("Loss: 0.41, Val Loss: 0.45"), or on the lines
    right after it that hold nothing else (tqdm's TqdmCallback logs "Epoch 1:", then "loss=4.82, accuracy=0.02,",
    then "val_loss=4.36, ...": the sixteenth corpus' 16d001), in file order."""
    found = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if mark := _EPOCH_LINE.search(line):
            metrics, after = _line_metrics(mark.group(2)), {}
            prefix = re.compile(re.sub(r"\\?\d", r"\\d", re.escape(line[:mark.start()])))  # a logger's, any time
            for following in lines[number + 1:]:
                if _BAR_ONLY.fullmatch(following):
                    continue  # a progress bar's line between an epoch's line and its metrics (47b005's "*****")
                start = prefix.match(following)
                more = _line_metrics(following[start.end():]) if start and not _EPOCH_LINE.search(following) else {}
                if not more or _LINE_METRIC.sub("", following[start.end():]).strip(" ,;|"):
                    break  # a line that holds more than metrics ends the epoch's
                if more.keys() & (metrics.keys() | after.keys()):
                    after = {}  # a name again: lines of running batch metrics, none of them the epoch's
                    break
                after |= more
            metrics |= after
            if metrics:
                found.append((int(mark.group(1)), metrics))
    return found


def _line_metrics(text: str) -> dict[str, float]:
    return {name.strip(): float(value) for name, value in _LINE_METRIC.findall(text)}


def _read_epoch_lines(path: Path, lines: Sequence[tuple[int, dict[str, float]]]) -> TrainingLog:
    """A hand-written training loop's log, one line per epoch: as for Keras' console output, a count that starts
    again begins a new run, and the last one long enough for a curve's shape is diagnosed (_chosen_run)."""
    runs: list[list[tuple[int, dict[str, float]]]] = []
    for epoch, metrics in lines:
        if not runs or epoch <= runs[-1][-1][0]:
            runs.append([])
        runs[-1].append((epoch, metrics))
    chosen, notes = _chosen_run([(f"run {at + 1}", len(run)) for at, run in enumerate(runs)],
                                "the epoch count starts again")
    run = runs[chosen]
    names = [name for name in dict.fromkeys(n for _, metrics in run for n in metrics)
             if all(name in metrics for _, metrics in run)]
    history = {"epoch": [epoch for epoch, _ in run]} | {name: [metrics[name] for _, metrics in run] for name in names}
    return _from_mapping(path, history, notes, _EPOCH_LINES)


def _read_tensorboard(path: Path) -> TrainingLog:
    """Epoch scalars of a Keras TensorBoard folder: train/ and validation/ subfolders (Keras 3: tensors named
    epoch_loss, ...) or one folder with loss, val_loss, ... (Keras 2: scalars). Several launches logged into
    the same folder: the last one, per curve."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if ".tfevents." in p.name)
    if not files:
        raise ValueError(f"{path}: no TensorBoard event files (events.out.tfevents.*) in the folder")
    points: dict[str, list[tuple[float, int, float]]] = {}
    for file in files:
        reader = event_accumulator.EventAccumulator(str(file), size_guidance={"scalars": 0, "tensors": 0})
        reader.Reload()
        folders = file.relative_to(path).parts[:-1] if path.is_dir() else ()
        prefix = "val_" if "validation" in folders else ""
        for tag in reader.Tags()["scalars"]:
            points.setdefault(_tensorboard_name(prefix, tag), []).extend(
                (e.wall_time, e.step, e.value) for e in reader.Scalars(tag))
        for tag in reader.Tags()["tensors"]:
            values = [(e.wall_time, e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in reader.Tensors(tag)]
            points.setdefault(_tensorboard_name(prefix, tag), []).extend(
                (t, s, float(v)) for t, s, v in values if v.size == 1 and v.dtype.kind in "fiu")  # not the model JSON
    history, launches, first = {}, 1, 0
    for name, series in points.items():
        if name is None or not series:
            continue
        series.sort()
        starts = [i for i in range(1, len(series)) if series[i][1] <= series[i - 1][1]]
        last = series[starts[-1] if starts else 0:]
        launches = max(launches, len(starts) + 1)
        history[name] = [value for _, _, value in last]
        if name == "loss":
            first = last[0][1]
    if "loss" not in history:
        raise ValueError(f"{path}: no epoch loss among the TensorBoard tags "
                         f"({', '.join(sorted(str(n) for n in points if n)) or 'none'})")
    notes = (f"{launches} launches logged into the folder: the last one is diagnosed",) if launches > 1 else ()
    return TrainingLog(history, first, "TensorBoard folder", notes)


def _tensorboard_name(prefix: str, tag: str) -> str | None:
    """epoch_loss -> loss (val_loss under validation/); batch_* and other per-step tags are no epoch curve."""
    if tag.startswith("batch_") or "/" in tag:
        return None
    return canonical_name(prefix + tag.removeprefix("epoch_"))
