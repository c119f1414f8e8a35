"""What pruning and successive halving save on the default digits grid, and whether they ever cost the winner.

    python benchmarks/pruning.py            # seeds 0-4, 20 epochs: 5 searches (about 12 minutes on 2 cores)
    python benchmarks/pruning.py 0 1        # the seeds to run
    python benchmarks/pruning.py --quick    # seed 0, 8 epochs

Each seed runs search_spaces/digits_cnn.py once with `--no-prune`, then replays the stopping rules on the
recorded histories: a stopper (pruning.HopelessTrialStopper) fed each trial's history epoch by epoch,
with the stage's finished (and, once replayed, truncated) histories as its siblings, in the order the
search trains them. A rule only ever truncates a run, and the same config trains the same way, so the
replay gives the epochs a real run with the rule would train, as long as every stage keeps its winner
(the column says; if one changed, the stages after it would have tried other configs). Rules: the
default pruning (per-trial rules and the sibling rule) and `--halving` (the same plus successive halving).
The seed changes the split and the weights.
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
TUNED = ("learning_rate", "batch_norm", "l2", "noise")


def search(seed: int, epochs: int | None, root: Path):
    """The default digits space with pruning off: every trial's full history."""
    from gridsearch import Reporter, RunOptions, load_space, run_search
    from gridsearch.training.fit import space_dataset

    loaded = load_space(HERE.parent / "search_spaces" / "digits_cnn.py")
    space = dataclasses.replace(loaded.space, seed=seed, epochs=epochs or loaded.space.epochs,
                                name=f"digits_seed{seed}_noprune")
    loaded = dataclasses.replace(loaded, space=space)
    start = time.perf_counter()
    summary = run_search(loaded, RunOptions(results_root=root, prune=False), Reporter())
    return summary, space_dataset(loaded), time.perf_counter() - start


def replay(results, num_classes: int, majority_rate: float | None, halving: bool) -> dict[str, int]:
    """Epochs each trained config runs under the rules, replayed stage by stage in the search's order."""
    import keras

    from gridsearch.training.pruning import HopelessTrialStopper, halving_rungs

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])  # the stopper sets model.stop_training
    ran: dict[str, int] = {}

    def cut(row) -> dict[str, list[float]]:
        return {name: values[:ran[row.config_id]] for name, values in row.history.items()}

    for stage in sorted({row.stage for row in results}):
        rows = [row for row in results if row.stage == stage]
        finished = [cut(row) for row in rows if row.config_id in ran]  # reused: as replayed in its own stage
        for row in rows:
            if row.config_id in ran:
                continue
            epochs = len(row.history["loss"])
            stopper = HopelessTrialStopper(num_classes, majority_rate=majority_rate, siblings=list(finished),
                                           rungs=halving_rungs(row.config["epochs"]) if halving else ())
            stopper.set_model(model)
            model.stop_training = False
            stopper.on_train_begin()
            for epoch in range(epochs):
                stopper.on_epoch_end(epoch, {name: values[epoch] for name, values in row.history.items()})
                if model.stop_training:
                    break
            ran[row.config_id] = epoch + 1
            finished.append(cut(row))
    return ran


def stage_winners(results, ran: dict[str, int] | None) -> dict[int, str]:
    """Each stage's winner by val_accuracy, a stopped trial after every finished one (as the leaderboard ranks)."""
    winners = {}
    for stage in sorted({row.stage for row in results}):
        rows = [row for row in results if row.stage == stage]

        def key(row):
            epochs = ran[row.config_id] if ran else len(row.history["loss"])
            stopped = epochs < row.config["epochs"]
            return stopped, -max(row.history["val_accuracy"][:epochs])
        winners[stage] = min(rows, key=key).config_id
    return winners


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="*", type=int, default=None, help="seeds to run (default 0-4)")
    parser.add_argument("--quick", action="store_true", help="seed 0 only, 8 epochs instead of 20")
    args = parser.parse_args(argv)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2, 3, 4])
    epochs = 8 if args.quick else None
    head = ("seed", "rules", "epochs run", "saved", "stage winners kept", "winner stopped", "winner (lr, bn, l2, noise)",
            "val acc")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    totals = {"pruning": [0, 0, True], "halving": [0, 0, True]}  # saved, planned, winner always kept and never stopped
    with tempfile.TemporaryDirectory(prefix="gridsearch-pruning-") as tmp:
        for seed in seeds:
            summary, data, wall = search(seed, epochs, Path(tmp))
            trained = [row for row in summary.results if not row.reused_from]
            planned = sum(row.config["epochs"] for row in trained)
            winner = summary.winner
            described = ", ".join(f"{winner.config[name]:g}" if not isinstance(winner.config[name], bool)
                                  else str(winner.config[name]) for name in TUNED)
            lines.append(f"| {seed} | none ({wall:.0f} s) | {planned}/{planned} | 0 (0%) | - | - | {described} | "
                         f"{winner.objective('val_accuracy'):.4f} |")
            plain = stage_winners(summary.results, None)
            for rules in ("pruning", "halving"):
                ran = replay(summary.results, data.num_classes, data.majority_rate, halving=rules == "halving")
                saved = planned - sum(ran.values())
                kept = stage_winners(summary.results, ran) == plain
                stopped = ran[winner.config_id] < winner.config["epochs"]
                totals[rules][0] += saved
                totals[rules][1] += planned
                totals[rules][2] &= kept and not stopped
                lines.append(f"| {seed} | {rules} | {planned - saved}/{planned} | {saved} ({saved / planned:.0%}) | "
                             f"{'yes' if kept else 'NO'} | {'YES' if stopped else 'no'} | | |")
                for row in trained:
                    if ran[row.config_id] < row.config["epochs"]:
                        lines.append(f"|  | {rules} stopped {row.trial_id} at epoch {ran[row.config_id]} | | | | | "
                                     + ", ".join(f"{row.config[n]:g}" if not isinstance(row.config[n], bool)
                                                 else str(row.config[n]) for n in TUNED)
                                     + f" | {max(row.history['val_accuracy']):.4f} |")
    print("\n".join(lines))
    for rules, (saved, planned, safe) in totals.items():
        print(f"\n{rules}: saved {saved}/{planned} = {saved / max(1, planned):.0%} of the planned epochs over "
              f"{len(seeds)} seed(s); every stage winner kept and the winner never stopped: {'yes' if safe else 'NO'}"
              + (" (issue 12's target for sibling pruning: >= 40% saved, winner never stopped)" if rules == "pruning"
                 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
