"""The same images as an .npz (held in memory) and as .npy files (memory-mapped, streamed), side by side.

    python benchmarks/loaders.py [--sizes 6000 12000] [--pixels 64]

Writes 3-class uint8 images (a per-class tint plus noise) once under /tmp as x.npy/y.npy and as an .npz,
then runs `python -m gridsearch run` of a one-stage, one-config, 1-epoch space on each (pre-flight, the
trial, the retrain on train+validation) as a whole process under /usr/bin/time -v (`scale.timed`). Prints
peak RSS and wall of each and the ratios .npy / .npz: the memory-mapped run should not grow with the data
set the way the in-memory one does.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from scale import ROOT, timed

SPACE = """
from gridsearch import SearchSpace, Stage
space = SearchSpace(name="loaders", data={data!r}, stages=[Stage("learning_rate", [1e-3])], epochs=1,
                    batch_size=32, seed=0, validation_split=0.2, test_split=0.1)
"""


def make_arrays(n: int, pixels: int) -> Path:
    folder = ROOT / f"arrays_{n}_{pixels}px"
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.uint8, shape=(n, pixels, pixels, 3))
    for start in range(0, n, 1000):  # written in slices: the benchmark itself stays small
        block = rng.integers(0, 160, (len(y[start:start + 1000]), pixels, pixels, 3), dtype=np.uint8)
        block[np.arange(len(block)), ..., y[start:start + 1000]] += 80
        x[start:start + 1000] = block
    x.flush()
    np.save(folder / "y.npy", y)
    np.savez(folder / "d.npz", x=np.load(folder / "x.npy"), y=y)
    (folder / "done").write_text("")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6000, 12000])
    parser.add_argument("--pixels", type=int, default=64)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        folder = make_arrays(n, args.pixels)
        row = {"images": n}
        for name, data in (("npz", "d.npz"), ("npy", ("x.npy", "y.npy"))):
            (folder / "space.py").write_text(SPACE.format(data=data))
            row[f"{name}_rss"], row[f"{name}_wall"], _ = timed(
                [sys.executable, "-m", "gridsearch", "run", "space.py", "--overwrite", "--quiet"], folder)
        rows.append(row)
    print(f"| images ({args.pixels}x{args.pixels}x3 uint8) | .npz peak RSS | .npy peak RSS | ratio | "
          f".npz wall | .npy wall | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['images']:,} | {r['npz_rss']:.2f} GB | {r['npy_rss']:.2f} GB | {r['npy_rss'] / r['npz_rss']:.2f} | "
              f"{r['npz_wall']:.1f} s | {r['npy_wall']:.1f} s | {r['npy_wall'] / r['npz_wall']:.2f} |")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        for name in ("npz", "npy"):
            print(f"{name}: {last['images'] / first['images']:.1f}x the images, "
                  f"{last[f'{name}_rss'] / first[f'{name}_rss']:.2f}x the peak RSS")


if __name__ == "__main__":
    main()
