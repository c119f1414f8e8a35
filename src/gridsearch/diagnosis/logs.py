"""Read a training log made elsewhere into the history `diagnose` takes."""
from __future__ import annotations

import csv
import os

from gridsearch.diagnosis.rules import canonical_name

_MISSING_CELLS = {"", "na", "n/a", "none"}  # CSVLogger writes "NA" for a metric absent in an epoch


def read_training_log(path: str | os.PathLike) -> dict[str, list[float]]:
    """Read a Keras CSVLogger file into the history `diagnose` takes (epoch column dropped, names canonical)."""
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        rows = [row for row in reader if row]
    if not header:
        raise ValueError(f"{path}: empty file; expected a Keras CSVLogger log with a header row")
    names = [canonical_name(column.strip()) for column in header]
    if "loss" not in names:
        raise ValueError(f"{path}: no 'loss' column (columns: {', '.join(header)}); expected a Keras CSVLogger log")
    history: dict[str, list[float]] = {}
    for col, name in enumerate(names):
        if name == "epoch":
            continue
        cells = [row[col].strip() if col < len(row) else "" for row in rows]
        missing = [i for i, cell in enumerate(cells) if cell.lower() in _MISSING_CELLS]
        if missing and name == "loss":
            raise ValueError(f"{path}: 'loss' is empty in data row {missing[0] + 1}")
        if missing:
            continue  # a metric logged in some epochs only (validation_freq > 1) is no curve
        try:
            history[name] = [float(cell) for cell in cells]
        except ValueError as exc:
            raise ValueError(f"{path}: column {header[col]!r} holds a non-number: {exc}") from None
    return history
