"""What pruning saves on the default digits grid, and whether it ever stops the eventual winner.

    python benchmarks/pruning.py            # seeds 0 1 2, 20 epochs: 6 searches (about 15 minutes on 2 cores)
    python benchmarks/pruning.py 0 1 2 3 4  # the seeds to run
    python benchmarks/pruning.py --quick    # seed 0, 8 epochs

Each seed runs search_spaces/digits_cnn.py twice, with `--no-prune` and with pruning (the per-trial rules
and the sibling rule), and prints one row per search: epochs run of the epochs planned, epochs saved, wall
time, the winner and whether it is the unpruned run's winner. The seed changes the split and the weights.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def search(seed: int, epochs: int | None, prune: bool, root: Path) -> dict:
    from gridsearch.progress import QuietReporter
    from gridsearch.search import RunOptions, run_search
    from gridsearch.space_file import load_space
    from gridsearch.trial import TrialStatus

    loaded = load_space(HERE.parent / "search_spaces" / "digits_cnn.py")
    space = dataclasses.replace(loaded.space, seed=seed, epochs=epochs or loaded.space.epochs,
                                name=f"digits_seed{seed}_{'prune' if prune else 'noprune'}")
    start = time.perf_counter()
    summary = run_search(dataclasses.replace(loaded, space=space), RunOptions(results_root=root, prune=prune),
                         QuietReporter())
    winner = summary.winner
    stopped = {row.config_id for row in summary.results if row.status is TrialStatus.PRUNED}
    return {"seed": seed, "prune": prune, "epochs": summary.epochs, "wall_s": time.perf_counter() - start,
            "winner": {name: winner.config[name] for name in ("learning_rate", "batch_norm", "l2", "noise")},
            "winner_id": winner.config_id, "score": winner.objective(space.objective), "stopped": stopped,
            "pruned": [f"{row.trial_id}: {row.error}" for row in summary.results
                       if row.status is TrialStatus.PRUNED and not row.reused_from]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="*", type=int, default=None, help="seeds to run (default 0 1 2)")
    parser.add_argument("--quick", action="store_true", help="seed 0 only, 8 epochs instead of 20")
    args = parser.parse_args(argv)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    epochs = 8 if args.quick else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="gridsearch-pruning-") as tmp:
        for seed in seeds:
            plain = search(seed, epochs, False, Path(tmp))
            pruned = search(seed, epochs, True, Path(tmp))
            pruned["same_winner"] = pruned["winner_id"] == plain["winner_id"]
            pruned["winner_stopped"] = plain["winner_id"] in pruned["stopped"]
            rows += [plain, pruned]
    head = ("seed", "pruning", "epochs run", "saved", "wall s", "winner (lr, bn, l2, noise)", "val acc",
            "same winner", "winner stopped")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        e = row["epochs"]
        w = row["winner"]
        cells = (row["seed"], "on" if row["prune"] else "off", f"{e['run']}/{e['planned']}",
                 f"{e['saved_by_pruning']} ({e['saved_by_pruning'] / e['planned']:.0%})", f"{row['wall_s']:.0f}",
                 f"{w['learning_rate']:g}, {w['batch_norm']}, {w['l2']:g}, {w['noise']:g}", f"{row['score']:.4f}",
                 "yes" if row.get("same_winner", True) else "NO", "YES" if row.get("winner_stopped") else "no")
        print("| " + " | ".join(map(str, cells)) + " |")
    for row in rows:
        for line in row["pruned"]:
            print(f"seed {row['seed']} pruned {line}")
    on = [row for row in rows if row["prune"]]
    saved = sum(r["epochs"]["saved_by_pruning"] for r in on) / max(1, sum(r["epochs"]["planned"] for r in on))
    safe = all(r["same_winner"] and not r["winner_stopped"] for r in on)
    print(f"\npruning saved {saved:.0%} of the planned epochs over {len(on)} seed(s); winner never stopped and "
          f"unchanged: {'yes' if safe else 'NO'} (issue 12's target: >= 40% saved, winner never stopped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
