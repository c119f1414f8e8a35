"""The diagnosis on real training logs: public Keras logs, labelled blind by two labellers (real/LABELS.md).

    python benchmarks/diagnosis/real.py                          # scores, writes benchmarks/DIAGNOSIS_real.md
    python benchmarks/diagnosis/real.py --raw-dir /path/to/logs  # also read every original file kept elsewhere

real/sources.csv records every log's repository, path, commit and licence; real/raw/ keeps the files whose
licence allows it, real/curves/ the per-epoch numbers derived from every file (what the labellers saw, and what
is scored: the run of a file that holds several is the one labelled). real/labels.csv keeps the logs whose
primary label both labellers gave; real/split.json was drawn before any label was seen: the rules were designed
on its design ids only, and the held-out accuracy below is the yardstick. A log is scored with the number of
classes its source shows (sources.csv), and once more without it, as `diagnose FILE` without --classes does.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL = HERE / "real"
sys.path.insert(0, str(HERE.parents[1] / "src"))

from gridsearch import read_training_log  # noqa: E402
from gridsearch.diagnosis.logs import TrainingLog, diagnose_log  # noqa: E402

ACCURACY_TARGET = 0.85
FALSE_ALARM_TARGET = 0.10


def load() -> tuple[dict[str, dict], dict[str, dict], dict[str, list[str]]]:
    labels = {row["id"]: row for row in csv.DictReader((REAL / "labels.csv").open())}
    curves = {path.stem: json.loads(path.read_text()) for path in sorted((REAL / "curves").glob("*.json"))}
    return labels, curves, json.loads((REAL / "split.json").read_text())


def first_epoch(curve: dict) -> int:
    """The number the file gives its first epoch (no epoch column: 1, as Keras prints them)."""
    if curve.get("epochs"):
        return int(curve["epochs"][0])
    return 1 if curve.get("epoch_base") is None else int(curve["epoch_base"])


def predict(curve: dict, with_classes: bool) -> tuple[str, str]:
    log = TrainingLog(curve["columns"], first_epoch(curve))
    result = diagnose_log(log, curve.get("num_classes") if with_classes else None).diagnosis
    return result.label.value, result.cause


def pct(k: int, n: int) -> str:
    return f"{k}/{n} ({k / n:.0%})" if n else "n/a"


def table(header: Sequence[str], rows: Iterable[Sequence]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def read_files(folder: Path) -> tuple[int, int, list[str]]:
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    failed = []
    for path in files:
        try:
            read_training_log(path)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            failed.append(f"{path.name}: {exc}")
    return len(files) - len(failed), len(files), failed


def score(ids: list[str], labels: dict, predicted: dict) -> tuple[int, int]:
    return sum(predicted[i][0] == labels[i]["label"] for i in ids), len(ids)


def report(labels: dict, curves: dict, split: dict, raw_dir: Path | None) -> list[str]:
    with_c = {i: predict(curves[i], True) for i in labels}
    without_c = {i: predict(curves[i], False) for i in labels}
    design = [i for i in split["design"] if i in labels]
    heldout = [i for i in split["heldout"] if i in labels]
    lines = ["# Diagnosis on real training logs", "",
             f"{len(curves)} public Keras logs (real/sources.csv: repository, path, commit, licence), {len(labels)} "
             f"with a label both blind labellers gave (real/labels.csv); split drawn before labelling: "
             f"{len(design)} labelled design logs (the rules were tuned on these only), {len(heldout)} held out. "
             "Regenerate with `python benchmarks/diagnosis/real.py`.", ""]
    read, total, failed = read_files(REAL / "raw")
    lines += ["## Files read", "", f"- the redistributable originals in real/raw: {pct(read, total)}"]
    if raw_dir:
        read, total, failed_all = read_files(raw_dir)
        lines.append(f"- every original file, from {raw_dir}: {pct(read, total)}")
        failed += failed_all
    lines += [f"  - not read: {f}" for f in failed] + [""]
    lines += ["## Accuracy", ""]
    rows = []
    for name, ids in (("held out", heldout), ("design", design)):
        healthy = [i for i in ids if labels[i]["label"] == "healthy"]
        alarms = [sum(pred[i][0] != "healthy" for i in healthy) for pred in (with_c, without_c)]
        rows.append([name, pct(*score(ids, labels, with_c)), pct(*score(ids, labels, without_c)),
                     pct(alarms[0], len(healthy)), pct(alarms[1], len(healthy))])
    lines += table(["part", "right (classes known)", "right (no --classes)", "false alarms on healthy",
                    "false alarms (no --classes)"], rows)
    right, n = score(heldout, labels, with_c)
    healthy = [i for i in heldout if labels[i]["label"] == "healthy"]
    alarms = sum(with_c[i][0] != "healthy" for i in healthy)
    lines += ["", f"- held-out accuracy >= {ACCURACY_TARGET:.0%}: {pct(right, n)}, "
              f"{'met' if n and right / n >= ACCURACY_TARGET else 'MISSED'}",
              f"- false alarms on held-out healthy logs <= {FALSE_ALARM_TARGET:.0%}: {pct(alarms, len(healthy))}, "
              f"{'met' if not healthy or alarms / len(healthy) <= FALSE_ALARM_TARGET else 'MISSED'}", ""]
    for name, ids in (("held out", heldout), ("all labelled logs", design + heldout)):
        names = sorted({labels[i]["label"] for i in ids} | {with_c[i][0] for i in ids})
        lines += [f"## Per label ({name}, classes known)", ""]
        rows = []
        for label in names:
            truth = [i for i in ids if labels[i]["label"] == label]
            given = [i for i in ids if with_c[i][0] == label]
            hits = sum(with_c[i][0] == label for i in truth)
            rows.append([label, pct(hits, len(given)), pct(hits, len(truth))])
        lines += table(["label", "precision", "recall"], rows) + ["", f"## Confusion matrix ({name})", ""]
        pairs = Counter((labels[i]["label"], with_c[i][0]) for i in ids)
        lines += table(["labelled \\ predicted", *names],
                       ([t, *(pairs.get((t, p), "") for p in names)] for t in names)) + [""]
    causes = [i for i in design + heldout if labels[i]["cause"]]
    found = sum(with_c[i][1] == labels[i]["cause"] for i in causes)
    extra = sum(bool(with_c[i][1]) for i in design + heldout if not labels[i]["cause"])
    shown = ", ".join(f"{i}: {labels[i]['cause']}" for i in causes)
    lines += ["## Causes", "", f"- the labellers' cause found: {pct(found, len(causes))} ({shown})",
              f"- a cause named where the labellers gave none: {extra}",
              "", "## Misses (held out)", ""]
    lines += [f"- {i}: labelled {labels[i]['label']}, diagnosed {with_c[i][0]}" for i in heldout
              if with_c[i][0] != labels[i]["label"]]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw-dir", type=Path, help="a folder with every original log, to count the files read")
    parser.add_argument("--out", type=Path, default=HERE.parent / "DIAGNOSIS_real.md")
    args = parser.parse_args(argv)
    lines = report(*load(), args.raw_dir)
    print("\n".join(lines))
    args.out.write_text("\n".join(lines) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
