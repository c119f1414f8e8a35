"""Memory stays flat across trials: RSS after 100 short trials within 150 MB of RSS after 10.

    python benchmarks/memory.py                 # 100 tiny trials, a few minutes on 2 cores
    python benchmarks/memory.py --trials 200    # longer

Runs a real search (space file -> Keras Tuner backend -> trial records -> leaderboard) whose one
stage holds N distinct learning rates, so every trial builds, trains and discards a model; the
process's resident set size is read after each trial. Prints a table of RSS at trials 10, 50 and
N and exits with 1 if RSS grew by more than the budget between trial 10 and trial N.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # every trial is a new model: retracing notices are expected

from gridsearch import Reporter  # noqa: E402  (after the log level)

BUDGET_MB = 150.0
SPACE = """
from gridsearch import SearchSpace, Stage

space = SearchSpace(
    name="memory",
    data="tiny.npz",
    defaults={{"filters": 4, "dense_units": 8, "conv_blocks": 1}},
    stages=[Stage("learning_rate", [round(1e-3 * (1 + i / 1000), 7) for i in range({trials})])],
    epochs=1,
    batch_size=64,
    seed=0,
)
"""


def rss_mb() -> float:
    """Current (not peak) resident set size of this process, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import resource  # not Linux: the peak is the best there is

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 2**20)


class RssRecorder(Reporter):
    """A search reporter that notes the RSS after every finished trial."""

    def __init__(self) -> None:
        self.rss: list[float] = []
        self.started = time.perf_counter()

    def stage_started(self, stage, total_stages, to_train, reused) -> None:
        print(f"{to_train} trials to train ...", flush=True)

    def trial_finished(self, result, objective) -> None:
        self.rss.append(rss_mb())
        n = len(self.rss)
        if n % 10 == 0:
            print(f"  trial {n:4d}  RSS {self.rss[-1]:7.1f} MB  ({time.perf_counter() - self.started:.0f}s)",
                  flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100, help="number of trials (at least 50; default 100)")
    parser.add_argument("--budget-mb", type=float, default=BUDGET_MB, help="allowed growth from trial 10 to the last")
    args = parser.parse_args(argv)
    if args.trials < 50:
        parser.error("--trials must be at least 50")

    import numpy as np
    from sklearn.datasets import load_digits

    from gridsearch import RunOptions, load_space, run_search

    with tempfile.TemporaryDirectory(prefix="gridsearch-memory-") as tmp:
        folder = Path(tmp)
        digits = load_digits()
        picks = np.concatenate([np.flatnonzero(digits.target == c)[:30] for c in range(3)])
        np.savez(folder / "tiny.npz", x=digits.images[picks], y=digits.target[picks])
        (folder / "space.py").write_text(textwrap.dedent(SPACE.format(trials=args.trials)))
        recorder = RssRecorder()
        before = rss_mb()
        summary = run_search(load_space(folder / "space.py"), RunOptions(results_root=folder / "results", prune=False),
                             recorder)

    if len(recorder.rss) != args.trials or summary.trained != args.trials:
        print(f"expected {args.trials} trained trials, got {len(recorder.rss)}", file=sys.stderr)
        return 1
    marks = [10, 50, args.trials] if args.trials != 50 else [10, 50]
    base = recorder.rss[9]
    print()
    print(f"RSS before the search (TensorFlow imported, nothing trained): {before:.1f} MB")
    print("| trial | RSS (MB) | vs trial 10 (MB) |")
    print("|------:|---------:|-----------------:|")
    for mark in marks:
        print(f"| {mark:5d} | {recorder.rss[mark - 1]:8.1f} | {recorder.rss[mark - 1] - base:+16.1f} |")
    growth = recorder.rss[-1] - base
    verdict = "OK" if growth <= args.budget_mb else "TOO MUCH"
    print(f"\ngrowth from trial 10 to trial {args.trials}: {growth:+.1f} MB (budget {args.budget_mb:.0f} MB): {verdict}; "
          f"{summary.duration_s:.0f}s for {args.trials} trials")
    return 0 if growth <= args.budget_mb else 1


if __name__ == "__main__":
    sys.exit(main())
