"""Trials per hour of the Keras Tuner backend: one process, then `--workers 1` and `--workers 2`.

    python benchmarks/workers.py                 # a 6-config grid on the bundled digits, 5 epochs
    python benchmarks/workers.py --epochs 10 --repeat 2

Each run is a fresh `python -m gridsearch run ... --overwrite --quiet` subprocess on the same space.
"search s" is the run's own "done in" time: the stages (worker start-up included, since workers start
their TensorFlow while the first trials wait) and the final retrain, not the chief's own imports and
data loading; "wall s" is the whole command. Trials per hour = trained trials / search time.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPACE = """
from gridsearch import SearchSpace, Stage
space = SearchSpace(
    name="workers_bench", data="digits",
    stages=[Stage({{"learning_rate": [1e-2, 3e-3, 1e-3], "batch_norm": [False, True]}})],
    epochs={epochs}, batch_size=32, seed=0,
)
"""
MODES = [("one process", []), ("--workers 1", ["--workers", "1"]), ("--workers 2", ["--workers", "2"])]


def run(space: Path, results: Path, extra: list[str]) -> tuple[float, float, int]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gridsearch", "run", str(space), "--results-dir", str(results),
                           "--overwrite", "--quiet", *extra], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True)
    wall = time.perf_counter() - started
    match = re.search(r"done in (\d+)s: \d+ trials, (\d+) trained", done.stdout)
    return float(match.group(1)), wall, int(match.group(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode; the table shows the fastest")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "space.py"
        space.write_text(SPACE.format(epochs=args.epochs))
        rows = []
        for label, extra in MODES:
            best = min((run(space, Path(tmp) / "results", extra) for _ in range(args.repeat)), key=lambda r: r[0])
            rows.append((label, *best))
    base = rows[0][3] / rows[0][1] * 3600
    print(f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}, {args.epochs} epochs, "
          f"{rows[0][3]} configs")
    print("| mode | search s | wall s | trials/hour | vs one process |\n|---|---|---|---|---|")
    for label, search_s, wall_s, trained in rows:
        per_hour = trained / search_s * 3600
        print(f"| {label} | {search_s:.0f} | {wall_s:.0f} | {per_hour:.0f} | {per_hour / base:.2f}x |")


if __name__ == "__main__":
    main()
