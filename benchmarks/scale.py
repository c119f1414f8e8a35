"""Real image folders at real size: gridsearch against the plain Keras script, side by side, in one run.

    python benchmarks/scale.py [--sizes 2250 4500] [--large]

Generates 3-class folders of 160x160 JPEGs under /tmp (and, with --large, 20,000 at 224x224), then runs, as
whole processes under /usr/bin/time -v: `python -m gridsearch run` of a one-stage, one-config, 1-epoch space
(pre-flight, the trial, the retrain on train+validation), and the plain script of issue 17
(`image_dataset_from_directory(..., validation_split=0.2, subset="both")`, prefetch, `fit` of the same
built-in CNN behind a Rescaling layer) for 2 epochs, timing each. The plain 1-epoch script's wall is the
2-epoch process's wall less its epoch 2. A trial's steady epoch is epoch 2 of a 2-epoch trial (the run's own
`run_trial`, in a process of its own, at the largest 160px size), against the plain script's epoch 2.
Prints peak RSS and wall of each, the trial's and the plain epoch's seconds (epoch 2 also in CPU seconds: on a
busy machine its wall holds what the other processes took), the pre-flight's seconds and, apart, the input
statistics fitted just before it, the ratios, and each target of issue 17 met or MISSED.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(tempfile.gettempdir()) / "gridsearch_scale"
SRC = Path(__file__).resolve().parents[1] / "src"
PLAIN = """
import sys, time, keras, tensorflow as tf
sys.path.insert(0, {src!r})
from gridsearch.space.hyperparams import builtin_defaults
from gridsearch.training.models import simple_cnn
keras.utils.set_random_seed(0)
train, val = keras.utils.image_dataset_from_directory({folder!r}, image_size={size}, batch_size=32,
    validation_split=0.2, subset="both", seed=0)
train, val = train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)
cnn = simple_cnn({{**builtin_defaults(), "epochs": 2}}, {size} + (3,), 3)
inputs = keras.Input({size} + (3,))
model = keras.Model(inputs, cnn(keras.layers.Rescaling(1 / 255)(inputs)))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
{timer}model.fit(train, validation_data=val, epochs=2, verbose=0, callbacks=[Timer()])
"""
STEADY = """
import sys, time, keras
sys.path.insert(0, {src!r})
from pathlib import Path
from gridsearch.plans.stages import base_config
from gridsearch.training.fit import training_context
from gridsearch.space.loader import load_space
from gridsearch.training.fit import run_trial
{timer}loaded = load_space(Path("steady_space.py"))
ctx = training_context(loaded, extra_callbacks=[Timer()])
print("STATUS", run_trial("s1_t1", 1, "steady", "steady", base_config(loaded.space), ctx).status)
"""
# Wall and CPU seconds (all threads of the process) of each epoch: on a shared machine the CPU seconds show
# the work an epoch did when the wall also holds what other processes took.
TIMER = """
class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.cpu = time.perf_counter(), time.process_time()
    def on_epoch_end(self, epoch, logs=None):
        print("EPOCH_S", time.perf_counter() - self.start, time.process_time() - self.cpu, flush=True)
"""
SPACE = """
from gridsearch import SearchSpace, Stage
space = SearchSpace(name="scale", data={folder!r}, data_options={{"image_size": {size}}},
                    stages=[Stage("learning_rate", [1e-3])], epochs={epochs}, batch_size=32, seed=0,
                    validation_split=0.2, test_split=0.1)
"""


def make_folder(n: int, size: int) -> Path:
    """n JPEGs of size x size in 3 class folders (a per-class tint plus noise), made once and kept in /tmp."""
    from PIL import Image

    folder = ROOT / f"{n}_{size}px"
    if (folder / "done").exists():
        return folder
    rng = np.random.default_rng(0)
    for c in range(3):
        (folder / f"class_{c}").mkdir(parents=True, exist_ok=True)
        for i in range(n // 3):
            pixels = rng.integers(0, 160, (size, size, 3), dtype=np.uint8)
            pixels[..., c] += 80
            Image.fromarray(pixels).save(folder / f"class_{c}" / f"{i}.jpg", quality=90)
    (folder / "done").write_text("")
    return folder


def timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """(peak RSS in GB, wall seconds, stdout) of a whole process, measured from outside."""
    run = subprocess.run(["/usr/bin/time", "-v", *command], cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(SRC), "TF_CPP_MIN_LOG_LEVEL": "2"})
    if run.returncode:
        raise SystemExit(f"{command} failed:\n{run.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) / 2**20
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", run.stderr).group(1)
    seconds = sum(float(part) * 60**i for i, part in enumerate(reversed(wall.split(":"))))
    return rss, seconds, run.stdout


def _epochs(out: str) -> list[tuple[float, float]]:
    """(wall, CPU seconds) of each epoch a Timer printed."""
    return [(float(wall), float(cpu)) for wall, cpu in re.findall(r"EPOCH_S ([\d.]+) ([\d.]+)", out)]


def measure(n: int, size: int, steady: bool) -> dict[str, float]:
    folder = make_folder(n, size)
    work = ROOT / f"run_{n}_{size}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "plain.py").write_text(textwrap.dedent(PLAIN.format(src=str(SRC), folder=str(folder), size=(size, size), timer=TIMER)))
    (work / "space.py").write_text(SPACE.format(folder=str(folder), size=(size, size), epochs=1))
    plain_rss, plain_wall, out = timed([sys.executable, "plain.py"], work)
    epochs = _epochs(out)
    rss, wall, _ = timed([sys.executable, "-m", "gridsearch", "run", "space.py", "--overwrite", "--quiet"], work)
    results = work / "results" / "scale"
    trial = json.loads(next((results / "trials").glob("*.json")).read_text())
    preflight = json.loads((results / "preflight.json").read_text())
    row = {"images": n, "size": size, "rss": rss, "plain_rss": plain_rss, "wall": wall,
           "plain_wall": plain_wall - epochs[1][0], "trial_s": trial["duration_s"], "epoch_s": epochs[0][0],
           "plain_epoch2_s": epochs[1][0], "plain_epoch2_cpu": epochs[1][1], "preflight_s": preflight["seconds"],
           "statistics_s": preflight.get("statistics_seconds", 0.0),
           "steady_s": float("nan"), "steady_cpu": float("nan")}
    if steady:
        (work / "steady_space.py").write_text(SPACE.format(folder=str(folder), size=(size, size), epochs=2))
        (work / "steady.py").write_text(textwrap.dedent(STEADY.format(src=str(SRC), timer=TIMER)))
        _, _, out = timed([sys.executable, "steady.py"], work)
        row["steady_s"], row["steady_cpu"] = _epochs(out)[1]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2250, 4500])
    parser.add_argument("--large", action="store_true", help="also 20,000 images at 224x224 (about 20 minutes)")
    args = parser.parse_args()
    runs = [measure(n, 160, n == args.sizes[-1]) for n in args.sizes] + ([measure(20_000, 224, False)] if args.large else [])
    print("| images | px | gridsearch peak RSS | plain peak RSS | ratio | gridsearch wall | plain 1-epoch wall | ratio "
          "| trial (1 epoch, with setup) | plain epoch 1 | ratio | trial epoch 2 | plain epoch 2 | ratio "
          "| epoch 2 CPU s, trial / plain | ratio | pre-flight | pre-flight / plain epoch 1 "
          "| input statistics (before the pre-flight) | with them / plain epoch 1 |")
    print("|---" * 20 + "|")
    for r in runs:
        print(f"| {r['images']:,} | {r['size']} | {r['rss']:.2f} GB | {r['plain_rss']:.2f} GB | "
              f"{r['rss'] / r['plain_rss']:.2f}x | {r['wall']:.1f} s | {r['plain_wall']:.1f} s | "
              f"{r['wall'] / r['plain_wall']:.2f}x | {r['trial_s']:.1f} s | {r['epoch_s']:.1f} s | "
              f"{r['trial_s'] / r['epoch_s']:.2f}x | {r['steady_s']:.1f} s | {r['plain_epoch2_s']:.1f} s | "
              f"{r['steady_s'] / r['plain_epoch2_s']:.2f}x | {r['steady_cpu']:.1f} / {r['plain_epoch2_cpu']:.1f} | "
              f"{r['steady_cpu'] / r['plain_epoch2_cpu']:.2f}x | {r['preflight_s']:.1f} s | "
              f"{r['preflight_s'] / r['epoch_s']:.3f} | {r['statistics_s']:.1f} s | "
              f"{(r['preflight_s'] + r['statistics_s']) / r['epoch_s']:.3f} |")
    small, big = runs[0], runs[len(args.sizes) - 1]
    targets = [("peak RSS <= 1.5x plain at the largest 160px folder", big["rss"] / big["plain_rss"], 1.5),
               *([("doubling the images adds <= 15% to peak RSS", big["rss"] / small["rss"] - 1, 0.15)]
                 if big is not small else []),  # one 160px size: nothing to compare
               ("whole run <= 2.5x the plain 1-epoch script", big["wall"] / big["plain_wall"], 2.5),
               ("trial's steady epoch (epoch 2) <= 1.1x the plain epoch 2", big["steady_s"] / big["plain_epoch2_s"], 1.1),
               ("pre-flight <= 10% of one epoch", big["preflight_s"] / big["epoch_s"], 0.10)]
    if args.large:
        targets.append(("large folder peak RSS < 2.5 GB", runs[-1]["rss"], 2.5))
    for name, value, limit in targets:
        print(f"{'met   ' if value <= limit else 'MISSED'} {name}: {value:.3f} (limit {limit})")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"benchmark took {time.perf_counter() - started:.0f} s")
