"""Run one real-log corpus: folder layout, briefs, import, labellers' sheets and plots, batches, agreed labels.

    python benchmarks/diagnosis/corpus/corpus.py new DIR --excluded-from benchmarks/diagnosis/real/sources.csv
    python benchmarks/diagnosis/corpus/corpus.py brief DIR collector 24a --listings a.ipynb,b.ipynb --stop-at 18:00
    python benchmarks/diagnosis/corpus/corpus.py import DIR
    python benchmarks/diagnosis/corpus/corpus.py sheets DIR
    python benchmarks/diagnosis/corpus/corpus.py batches DIR --pairs 3
    python benchmarks/diagnosis/corpus/corpus.py brief DIR labeller a --batch 1
    python benchmarks/diagnosis/corpus/corpus.py agree DIR
    python benchmarks/diagnosis/corpus/corpus.py hold-out DIR --ordinal forty-third --commit abc1234
    python benchmarks/diagnosis/corpus/corpus.py add-labels DIR --ordinal forty-third

README.md beside this file gives the steps in order and what may be committed.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from string import ascii_lowercase

HERE = Path(__file__).resolve().parent
REAL = HERE.parent / "real"
LABELS_MD = REAL / "LABELS.md"
# An original above this size is named in its sources row, not copied into real/raw: a notebook's bytes are mostly
# the images its cells embed, and the repository keeps the derived curves anyway
RAW_LIMIT = 250_000
# What a collector writes in a row's notes where the original holds an API key or token: licence or not, such a file
# stays in the corpus' private/ folder and out of the repository
CREDENTIAL_NOTE = "holds a credential"
# split.json's "how" ends so while no corpus is held out; hold_out names the corpus there instead
NO_CORPUS_HELD_OUT = ("heldout: none; the next corpus goes here, held out from the rules and second opinions of the "
                      "commit named in real.py, and is scored once")
FOLDERS = ("private", "curves", "sheets", "plots", "batches", "labels", "prompts")
# What the collectors of one session write to as they go, shared by a corpus collected beside another: the
# repositories each claimed, and the copies of each course or tutorial template accepted (the cap counts across
# collectors: the fifty-seventh's three collectors of one listing each kept 3 copies of TensorFlow's Fashion-MNIST
# tutorial, 6 of them left out at import)
SHARED = ("CLAIMED.txt", "TEMPLATES.txt")


def new(folder: Path, excluded_from: Path, also_claimed: Sequence[Path] = (), beside: Path | None = None) -> None:
    """Make an empty corpus folder. The repositories of every earlier corpus (the repo's sources.csv) and those
    claimed by collectors of corpora not yet merged are excluded, so that no repository is sampled twice. A corpus
    collected beside another one under way (the same session) shares its CLAIMED.txt and TEMPLATES.txt (SHARED), and
    its collectors check their files against the other's originals too (BESIDE.txt: the same template caught twice,
    or the same log)."""
    if (folder / "CLAIMED.txt").exists():
        raise SystemExit(f"{folder} already holds a corpus (CLAIMED.txt): not overwritten")
    if beside is not None and not (beside / "CLAIMED.txt").exists():
        raise SystemExit(f"{beside} holds no corpus under way (no CLAIMED.txt) to collect beside")
    for name in FOLDERS:
        (folder / name).mkdir(parents=True, exist_ok=True)
    with excluded_from.open(newline="") as f:
        repos = {row["repo"].strip().lower() for row in csv.DictReader(f)}
    for earlier in also_claimed:
        lines = (earlier / "CLAIMED.txt").read_text().splitlines()
        repos |= {line.split()[0].lower() for line in lines if line.strip()}
    (folder / "EXCLUDED_REPOS.txt").write_text("".join(f"{r}\n" for r in sorted(repos)))
    if beside is None:
        for shared in SHARED:
            (folder / shared).write_text("")
    else:
        for shared in SHARED:
            (folder / shared).symlink_to((beside / shared).resolve())
        (folder / "BESIDE.txt").write_text("".join(f"{f}\n" for f in [beside.resolve(), *_beside(beside)]))
    shutil.copyfile(LABELS_MD, folder / "LABELS.md")  # the labellers read this copy, never the repository
    print(f"{folder}: {len(repos)} repositories excluded")


def _beside(folder: Path) -> list[Path]:
    """The corpus folders this one was collected beside (new --beside), nearest first."""
    listed = folder / "BESIDE.txt"
    return [Path(line) for line in listed.read_text().splitlines() if line] if listed.exists() else []


def fill_brief(folder: Path, role: str, name: str, **values: str) -> Path:
    """Write briefs/<role>.md filled in as DIR/prompts/<role>_<name>.md: every collector and labeller gets the
    same rules, only the placeholders differ."""
    template = (HERE / "briefs" / f"{role}.md").read_text()
    originals = " or ".join(f"{f}/private/" for f in [folder.resolve(), *_beside(folder)])
    text = template.format(corpus_dir=folder.resolve(), work_dir=folder.resolve().parent, originals=originals, **values)
    out = folder / "prompts" / f"{role}_{name}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    return out


def read_sources(folder: Path) -> list[dict[str, str]]:
    """The rows of every collector's DIR/sources_*.csv; they must share one header, the repo's sources.csv's."""
    rows: list[dict[str, str]] = []
    with (REAL / "sources.csv").open(newline="") as f:
        header = next(csv.reader(f))  # their rows are appended to it as they are
    for path in sorted(folder.glob("sources_*.csv")):
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != header:
                raise SystemExit(f"{path.name}: header {reader.fieldnames} differs from real/sources.csv's {header}")
            rows += list(reader)
    return rows


def import_corpus(folder: Path, real: Path = REAL) -> list[str]:
    """Read every private original with gridsearch's own reader (the reader the diagnosis uses) into
    curves/<id>.json (a curve whose original was moved out of private/ goes too), and merge the collectors' sources
    into sources.csv. Returns the files that failed, and the copies of earlier logs (copies)."""
    from gridsearch import read_training_log

    rows = read_sources(folder)
    by_id = {row["id"]: row for row in rows}
    failed = []
    recounted = []  # not a failure: an epoch cut off, or the last of several fits, each to check against its notes
    originals = sorted((folder / "private").iterdir())
    for stale in set((folder / "curves").glob("*.json")) - {folder / "curves" / f"{p.stem}.json" for p in originals}:
        stale.unlink()
    for path in originals:
        if path.stem not in by_id:
            failed.append(f"{path.name}: no row in any sources_*.csv")
            continue
        try:
            log = read_training_log(path)
        except Exception as exc:  # any reader failure is reported, the other files still imported
            failed.append(f"{path.name}: {exc}")
            continue
        classes = by_id[path.stem]["num_classes"].strip()
        curve = {"id": path.stem, "columns": {k: [float(v) for v in vs] for k, vs in log.history.items()},
                 "epoch_base": log.first_epoch, "num_classes": int(classes) if classes.isdigit() else None}
        (folder / "curves" / f"{path.stem}.json").write_text(json.dumps(curve))
        counted = by_id[path.stem]["epochs"].strip()
        other_count = counted.isdigit() and int(counted) != log.epochs
        if other_count:
            recounted.append(f"{path.stem} ({counted} counted, {log.epochs} read)")
        print(f"{path.stem}: {log.epochs} epochs" + (f" (its collector counted {counted})" if other_count else "")
              + f", {list(log.history)}" + "".join(f"\n    {n}" for n in log.notes))
    failed += copies(folder, real)
    if rows:
        with (folder / "sources.csv").open("w", newline="") as f:  # csv defaults: CRLF, as real/sources.csv
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(sorted(rows, key=lambda row: row["id"]))
    if recounted:
        print(f"{len(recounted)} read with another epoch count than their collector's, to check against the notes "
              f"(an epoch cut off, the last of several fits): {', '.join(recounted)}")
    print(f"{len(rows)} source rows, {len(list((folder / 'curves').glob('*.json')))} curves, {len(failed)} failed"
          + "".join(f"\n  {f}" for f in failed))
    return failed


def training_losses(curve: dict) -> tuple[str, ...]:
    """What makes two logs one run: their training losses, to 4 decimals, as text (a NaN equals no other NaN)."""
    from gridsearch.diagnosis.curves import canonical_name

    return tuple(f"{value:.4f}" for name, values in curve["columns"].items() if canonical_name(name) == "loss"
                 for value in values)


def is_a_run(losses: tuple[str, ...]) -> bool:
    """Three finite epochs say something: two epochs alike, or two all-NaN runs (15b012 and 54d006), are no copy."""
    return sum(value not in ("nan", "inf") for value in losses) >= 3


def copies(folder: Path, real: Path = REAL) -> list[str]:
    """The new curves whose training losses are those of a log already in real/curves, in a corpus collected beside
    this one, or of another new one: one run's output in two repositories (the fifty-ninth corpus' 59h009, the
    fifty-fifth's 55f001 under its author's second repository). The collectors compare only the originals on hand; a
    copy is left out before any sheet (LEFT_OUT.txt)."""
    def losses(path: Path) -> tuple[str, ...]:
        return training_losses(json.loads(path.read_text()))

    seen: dict[tuple[str, ...], dict[str, None]] = {}
    for earlier in (real / "curves", *(beside / "curves" for beside in _beside(folder))):
        for path in sorted(earlier.glob("*.json")):
            seen.setdefault(losses(path), {})[path.stem] = None
    found = []
    for path in sorted((folder / "curves").glob("*.json")):
        key = losses(path)
        same = [other for other in seen.get(key, {}) if other != path.stem]  # itself, once held out into real/
        if is_a_run(key) and same:
            found.append(f"{path.stem}: the training losses of {', '.join(same)}, a copy: leave it out (LEFT_OUT.txt)")
        seen.setdefault(key, {})[path.stem] = None
    return found


def sheet(curve: dict) -> str:
    """The numbers a labeller reads: no source, no tool's answer; C with ln C and chance, epochs as in the file."""
    columns, classes = curve["columns"], curve["num_classes"]
    n = max(len(values) for values in columns.values())
    epochs = range(curve["epoch_base"], curve["epoch_base"] + n)
    known = f"{classes} (ln C = {math.log(classes):.3f}, chance accuracy ~ {1 / classes:.3f})" if classes else "unknown"
    lines = [f"log {curve['id']}", f"number of classes C: {known}",
             f"epochs {epochs[0]}..{epochs[-1]} ({n}), numbered as in the file", "", "\t".join(["epoch", *columns])]
    for k, epoch in enumerate(epochs):
        lines.append("\t".join([str(epoch), *(f"{v[k]:.6g}" if k < len(v) else "" for v in columns.values())]))
    return "\n".join(lines) + "\n"


def plot(curve: dict, path: Path) -> None:
    """One row of panels: loss, accuracy and other metrics, learning rate (log scale) where logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gridsearch.diagnosis.curves import canonical_name  # the diagnosis' own names: lr is learning_rate

    columns, base = curve["columns"], curve["epoch_base"]
    rates = [m for m in columns if canonical_name(m) == "learning_rate"]
    groups = [(title, names) for title, names in [
        ("loss", [m for m in columns if "loss" in m.lower()]),
        ("accuracy / other metrics", [m for m in columns if "loss" not in m.lower() and m not in rates]),
        ("learning rate", rates)] if names]
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4), squeeze=False)
    for ax, (title, names) in zip(axes[0], groups):
        for m in names:
            values = columns[m]
            ax.plot(range(base, base + len(values)), values, marker="." if len(values) <= 60 else None, label=m)
        ax.set(title=f"{curve['id']}: {title}", xlabel="epoch")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        if title == "learning rate":
            ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def sheets(folder: Path) -> None:
    """Write what the blind labellers see, sheets/<id>.txt and plots/<id>.png, from curves/ only."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit("the plots need matplotlib: pip install matplotlib") from None
    curves = [json.loads(p.read_text()) for p in sorted((folder / "curves").glob("*.json"))]
    for curve in curves:
        (folder / "sheets" / f"{curve['id']}.txt").write_text(sheet(curve))
        plot(curve, folder / "plots" / f"{curve['id']}.png")
    print(f"{len(curves)} sheets and plots")


def batches(folder: Path, pairs: int) -> None:
    """Split the curve ids round-robin into batches/batch1.txt ... batchN.txt, one per pair of labellers, so that
    each batch mixes the collectors (ids are grouped by collector)."""
    ids = sorted(p.stem for p in (folder / "curves").glob("*.json"))
    for old in (folder / "batches").glob("batch*.txt"):  # a batch of an earlier split would be labelled too
        old.unlink()
    for k in range(pairs):
        (folder / "batches" / f"batch{k + 1}.txt").write_text("".join(f"{i}\n" for i in ids[k::pairs]))
    print(f"{len(ids)} ids in {pairs} batches")


def read_labels(path: Path) -> dict[str, dict[str, str]]:
    """A labeller's rows by id, label and cause as written by hand ("Healthy ") in the form LABELS.md gives."""
    with path.open(newline="") as f:
        return {row["id"].strip(): row | {key: row[key].strip().lower() for key in ("label", "cause")}
                for row in csv.DictReader(f)}


def agree(folder: Path) -> list[dict[str, str]]:
    """Pair the labellers by batch (the two who labelled one batch's ids) and keep the ids whose primary labels
    both gave, with the cause where both gave it: agreed.csv, the rows for real/labels.csv."""
    in_batch = {path.stem: path.read_text().split() for path in sorted((folder / "batches").glob("batch*.txt"))}
    batch_of = {i: batch for batch, ids in in_batch.items() for i in ids}
    by_batch: dict[str, list[tuple[str, dict[str, dict[str, str]]]]] = {}
    for path in sorted((folder / "labels").glob("labeller_*.csv")):
        labels = read_labels(path)
        batch = {batch_of.get(i, "no batch") for i in labels}
        if len(batch) != 1:
            raise SystemExit(f"{path.name}: its ids are not those of one batch ({sorted(batch)})")
        by_batch.setdefault(batch.pop(), []).append((path.stem.removeprefix("labeller_"), labels))
    agreed, total = [], 0
    for batch, pair in sorted(by_batch.items()):
        if len(pair) != 2:
            raise SystemExit(f"{batch}: {len(pair)} labellers ({', '.join(n for n, _ in pair)}), expected 2")
        (a, first), (b, second) = pair
        ids = in_batch[batch]  # an id a labeller left out counts as not agreed, and is named
        if missing := [i for i in ids if i not in first or i not in second]:
            print(f"{batch}: not labelled by both: {', '.join(missing)}")
        same = [i for i in ids if i in first and i in second and first[i]["label"] == second[i]["label"]]
        for i in same:
            cause = first[i]["cause"] if first[i]["cause"] == second[i]["cause"] else ""
            agreed.append({"id": i, "label": first[i]["label"], "cause": cause})
        total += len(ids)
        print(f"{batch} ({a} and {b}): {len(same)} of {len(ids)} agree")
    with (folder / "agreed.csv").open("w", newline="") as f:  # csv defaults: CRLF, as real/labels.csv
        writer = csv.DictWriter(f, fieldnames=["id", "label", "cause"])
        writer.writeheader()
        writer.writerows(sorted(agreed, key=lambda row: row["id"]))
    print(f"overall: {len(agreed)} of {total} agree")
    return agreed


def records_folder(real: Path, ordinal: str) -> Path:
    """real/<ordinal>_corpus/, where a corpus' picking records and labellers' files are kept."""
    return real / f"{ordinal.replace('-', '_')}_corpus"


def hold_out(folder: Path, ordinal: str, commit: str, real: Path = REAL) -> list[str]:
    """Step 9, before any label is read: the corpus' sources rows, curves and picking records into real/, its
    redistributable originals up to RAW_LIMIT into real/raw/ (a larger one, or one that holds a credential, named in
    its row's notes), and its ids under split.json's "heldout", held out from `commit`. A corpus collected while
    another waits to be scored joins it if both are held out from the same commit: the two are scored together, once.
    Returns the ids."""
    split = json.loads((real / "split.json").read_text())
    joined = f"), held out from the rules and second opinions of commit {commit} and scored once"
    waiting = joined in split["how"] if split["heldout"] else NO_CORPUS_HELD_OUT in split["how"]
    if not waiting:
        raise SystemExit(f"{real / 'split.json'}: a corpus is held out already ({len(split['heldout'])} ids) from "
                         f"another commit than {commit}; score it and make it design data first")
    with (folder / "sources.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{folder / 'sources.csv'}: no logs to hold out (run import first)")
    if taken := sorted({row["id"] for row in rows} & set(split["design"] + split["heldout"])):
        raise SystemExit(f"{folder / 'sources.csv'}: {len(taken)} of its ids are in split.json already ({taken[0]}, ...)")
    copied = 0
    for row in rows:
        if row["redistributable"].strip().lower() != "yes":
            continue
        original = next((folder / "private").glob(f"{row['id']}.*"))
        if CREDENTIAL_NOTE in row["notes"].lower():  # the collector brief asks for these words (step 6)
            note = "not copied into real/raw: it holds a credential; fetch it from the repository at the commit above"
        elif (size := original.stat().st_size) <= RAW_LIMIT:
            shutil.copy(original, real / "raw")
            copied += 1
            continue
        else:
            note = f"not copied into real/raw: {size / 1e6:.1f} MB; fetch it from the repository at the commit above"
        row["notes"] = f"{row['notes']}; {note}" if row["notes"] else note
    with (real / "sources.csv").open("a", newline="") as f:  # csv defaults: CRLF, as the rows before
        csv.DictWriter(f, fieldnames=list(rows[0])).writerows(rows)
    records = records_folder(real, ordinal)
    records.mkdir(exist_ok=True)
    for path in sorted(folder.glob("PICKING_*.md")):
        shutil.copy(path, records)
    ids = [row["id"] for row in rows]
    for i in ids:
        shutil.copy(folder / "curves" / f"{i}.json", real / "curves")
    prefixes = sorted({i.rstrip("0123456789") for i in ids})
    named = f"the {ordinal} corpus ({prefixes[0]} to {prefixes[-1]} ids"
    if split["heldout"]:  # "the A corpus (...) and the B corpus (...)" becomes "the A corpus (...), the B ... and the C"
        design, held = split["how"].split("heldout: ", 1)
        held = held.replace(") and the ", "), the ").replace(joined, f") and {named}{joined}")
        split["how"] = f"{design}heldout: {held}"
    else:
        split["how"] = split["how"].replace(NO_CORPUS_HELD_OUT, f"heldout: {named}{joined}")
    split["heldout"] += ids
    (real / "split.json").write_text(json.dumps(split, indent=1) + "\n")
    collectors = ascii_lowercase.index(prefixes[-1][-1]) + 1  # a collector who found nothing still holds a letter
    print(f"{len(ids)} logs held out ({prefixes[0]} to {prefixes[-1]}), {copied} originals copied to raw/; "
          f"add the corpus to LATER_CORPORA in real.py ({ordinal}, {commit}, {collectors} collectors)")
    return ids


def add_labels(folder: Path, ordinal: str, real: Path = REAL) -> None:
    """Step 10's files, once the corpus is scored: agreed.csv's rows onto real/labels.csv, each labeller's file into
    the corpus' folder (its labels as agree read them)."""
    with (folder / "agreed.csv").open(newline="") as f:
        agreed = list(csv.DictReader(f))
    with (real / "labels.csv").open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=["id", "label", "cause"]).writerows(agreed)
    for path in sorted((folder / "labels").glob("labeller_*.csv")):
        with (records_folder(real, ordinal) / path.name).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "label", "cause", "confidence", "reasoning"])
            writer.writerows([i, row["label"], row["cause"], (row.get("confidence") or "").strip(), row.get("reason", "")]
                             for i, row in read_labels(path).items())
    print(f"{len(agreed)} labels added; the labellers' files in {records_folder(real, ordinal).name}/")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("new", help="make the folder layout, EXCLUDED_REPOS.txt, CLAIMED.txt, LABELS.md")
    p.add_argument("dir", type=Path)
    p.add_argument("--excluded-from", type=Path, required=True, help="the repo's real/sources.csv")
    p.add_argument("--also-claimed", type=Path, nargs="*", default=[], help="earlier corpus folders not yet merged")
    p.add_argument("--beside", type=Path, help="a corpus folder under way in this session: share its CLAIMED.txt "
                   "and TEMPLATES.txt")
    p = sub.add_parser("brief", help="write a filled brief to DIR/prompts/")
    p.add_argument("dir", type=Path)
    roles = p.add_subparsers(dest="role", required=True)
    c = roles.add_parser("collector")
    c.add_argument("name", help="the collector's id prefix, e.g. 24a")
    c.add_argument("--listings", required=True, help="comma-separated file names to walk with find_files, in order")
    c.add_argument("--stop-at", required=True, help="HH:MM UTC")
    c.add_argument("--max-accepted", type=int, default=16)
    lab = roles.add_parser("labeller")
    lab.add_argument("name", help="the labeller's letter, e.g. a")
    lab.add_argument("--batch", type=int, required=True)
    for name in ("import", "sheets", "agree"):
        sub.add_parser(name).add_argument("dir", type=Path)
    p = sub.add_parser("batches")
    p.add_argument("dir", type=Path)
    p.add_argument("--pairs", type=int, default=3)
    for name, what in (("hold-out", "the corpus into real/, held out (step 9)"),
                       ("add-labels", "the agreed labels and labellers' files into real/ (step 10)")):
        p = sub.add_parser(name, help=what)
        p.add_argument("dir", type=Path)
        p.add_argument("--ordinal", required=True, help="the corpus' ordinal in words, e.g. forty-third")
        p.add_argument("--real", type=Path, default=REAL, help="the repository's real-log folder (default: %(default)s)")
        if name == "hold-out":
            p.add_argument("--commit", required=True, help="the commit whose diagnosis scores it")
    args = parser.parse_args(argv)

    if args.command == "new":
        new(args.dir, args.excluded_from, args.also_claimed, args.beside)
    elif args.command == "brief" and args.role == "collector":
        listings = "\n".join(f"- {name.strip()}" for name in args.listings.split(",") if name.strip())
        print(fill_brief(args.dir, "collector", args.name, collector_id=args.name, listings=listings,
                         stop_at=args.stop_at, max_accepted=str(args.max_accepted)))
    elif args.command == "brief":
        print(fill_brief(args.dir, "labeller", args.name, labeller=args.name, batch=str(args.batch)))
    elif args.command == "import":
        return 1 if import_corpus(args.dir) else 0
    elif args.command == "sheets":
        sheets(args.dir)
    elif args.command == "batches":
        batches(args.dir, args.pairs)
    elif args.command == "hold-out":
        hold_out(args.dir, args.ordinal, args.commit, args.real)
    elif args.command == "add-labels":
        add_labels(args.dir, args.ordinal, args.real)
    else:
        agree(args.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
