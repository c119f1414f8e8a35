"""The forest behind the diagnosis' second opinion (gridsearch/diagnosis/second_opinion.py): its training table, and
the leave-one-corpus-out scores that say what it is worth on logs it never saw.

    python benchmarks/diagnosis/learned.py     # rewrites src/gridsearch/diagnosis/real_logs*.csv from real/

A table holds one row of measurements (second_opinion.measurements) per labelled design log of the real-log
corpus (real/split.json): real_logs.csv scaled with the number of classes its source shows, real_logs_without_classes
.csv measured as if it were unknown (a log diagnosed without --classes). Derived numbers only, as real/curves/ is.
Rewrite them when a held-out corpus becomes design data, never while one is being scored.
"""
from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))

from gridsearch.diagnosis import second_opinion  # noqa: E402
from gridsearch.diagnosis.curves import Curves  # noqa: E402


def measured(curve: dict, with_classes: bool = True) -> dict[str, float]:
    """A log of real/curves/ measured as the diagnosis measures it (C = 2 where the source gave none)."""
    classes = (curve.get("num_classes") or 2) if with_classes else None
    return second_opinion.measurements(Curves.from_history(curve["columns"], classes))


def matrix(logs: Iterable[dict]) -> np.ndarray:
    rows = [measured(curve) for curve in logs]
    names = sorted({name for row in rows for name in row})
    return np.array([second_opinion.as_row(row, names) for row in rows])


def leave_one_corpus_out(curves: dict[str, dict], labels: dict[str, str], corpus_of: dict[str, str],
                         design: Iterable[str]) -> dict[str, tuple[str, float]]:
    """Each log's label and vote share from a forest trained on the design logs of every other corpus (a held-out
    corpus: on all of them)."""
    ids = np.array(sorted(labels))
    features, truth = matrix(curves[i] for i in ids), np.array([labels[i] for i in ids])
    groups, trainable = np.array([corpus_of[i] for i in ids]), np.isin(ids, list(design))
    predicted = {}
    for corpus in dict.fromkeys(groups):
        test = groups == corpus
        model = second_opinion.forest(features[trainable & ~test], truth[trainable & ~test])
        for log_id, votes in zip(ids[test], model.predict_proba(features[test])):
            best = int(np.argmax(votes))
            predicted[log_id] = (str(model.classes_[best]), float(votes[best]))
    return predicted


def write_table(curves: dict[str, dict], labels: dict[str, str], design: Iterable[str],
                path: Path = second_opinion.TABLE, with_classes: bool = True) -> int:
    rows = {i: measured(curves[i], with_classes) for i in sorted(design) if i in labels}
    names = sorted({name for row in rows.values() for name in row})
    with path.open("w", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["label", *names])
        for log_id, row in rows.items():
            writer.writerow([labels[log_id], *(repr(float(row[name])) if name in row else "" for name in names)])
    return len(rows)


if __name__ == "__main__":
    import real

    labels, curves, split = real.load()
    for path, with_classes in ((second_opinion.TABLE, True), (second_opinion.TABLE_WITHOUT_CLASSES, False)):
        count = write_table(curves, {i: row["label"] for i, row in labels.items()}, split["design"], path, with_classes)
        print(f"wrote {count} design logs to {path}")
