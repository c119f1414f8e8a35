"""The same images as an .npz (held in memory) and as .npy files (memory-mapped, streamed), side by side.

    python benchmarks/loaders.py [--sizes 6000 12000] [--pixels 64]

Writes 3-class uint8 images (a per-class tint plus noise) once under /tmp as x.npy/y.npy and as an .npz,
then runs `python -m gridsearch run` of a one-stage, one-config, 1-epoch space on each (pre-flight, the
trial, the retrain on train+validation) as a whole process under /usr/bin/time -v (`scale.timed`). Prints
peak RSS and wall of each and the ratios .npy / .npz: the memory-mapped run should not grow with the data
set the way the in-memory one does. With --pipeline, also a trial's steady epoch (epoch 2 of 2) on the
first size's images given as a user's tf.data pipelines, against a plain Keras `fit` of the same CNN on the
same pipelines, each in a process of its own.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from scale import ROOT, SRC, timed

SPACE = """
from gridsearch import SearchSpace, Stage
space = SearchSpace(name="loaders", data={data!r}, stages=[Stage("learning_rate", [1e-3])], epochs=1,
                    batch_size=32, seed=0, validation_split=0.2, test_split=0.1)
"""


PIPELINES = """
import sys, time, keras, numpy as np, tensorflow as tf
sys.path.insert(0, {src!r})
def load():
    x, y = np.load("x.npy", mmap_mode="r"), np.load("y.npy")
    cut = [0, int(0.7 * len(y)), int(0.9 * len(y)), len(y)]
    def part(a, b):  # the user's own reader: rows of the memory map, 128 at a time
        rows = tf.data.Dataset.from_tensor_slices(np.arange(a, b)).batch(128)
        read = lambda i: tf.ensure_shape(tf.numpy_function(lambda j: x[j], [i], tf.uint8), (None, *x.shape[1:]))
        return tf.data.Dataset.zip(rows.map(read), tf.data.Dataset.from_tensor_slices(y[a:b]).batch(128))
    return tuple(part(a, b) for a, b in zip(cut, cut[1:]))
class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        print("EPOCH_S", time.perf_counter() - self.start, flush=True)
"""
PLAIN = PIPELINES + """
from gridsearch.space.hyperparams import builtin_defaults
from gridsearch.training.models import simple_cnn
keras.utils.set_random_seed(0)
train, val, _ = load()
train = train.unbatch().shuffle(1024, seed=0).batch(32).prefetch(tf.data.AUTOTUNE)
cnn = simple_cnn({{**builtin_defaults(), "epochs": 2}}, x_shape := tuple(np.load("x.npy", mmap_mode="r").shape[1:]), 3)
inputs = keras.Input(x_shape)
model = keras.Model(inputs, cnn(keras.layers.Rescaling(1 / 255)(inputs)))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(train, validation_data=val.prefetch(tf.data.AUTOTUNE), epochs=2, verbose=0, callbacks=[Timer()])
"""
TRIAL = PIPELINES + """
from pathlib import Path
from gridsearch.data.dataset import load_dataset
from gridsearch.space.hyperparams import builtin_defaults
from gridsearch.training.fit import TrainingContext, run_trial
from gridsearch.training.models import simple_cnn
data = load_dataset(load, seed=0, validation_split=0.2, test_split=0.1, folder=Path("."))
ctx = TrainingContext(data, simple_cnn, 0, "val_accuracy", "max", prune=False, extra_callbacks=[Timer()])
print("STATUS", run_trial("t", 1, "s", "c", {{**builtin_defaults(), "epochs": 2}}, ctx).status)
"""


def pipeline_epochs(folder: Path) -> tuple[float, float]:
    """(a trial's epoch 2, the plain script's epoch 2) in seconds, on the same tf.data pipelines."""
    seconds = []
    for name, script in (("trial", TRIAL), ("plain", PLAIN)):
        (folder / f"{name}.py").write_text(script.format(src=str(SRC)))
        _, _, out = timed([sys.executable, f"{name}.py"], folder)
        seconds.append(float(re.findall(r"EPOCH_S ([\d.]+)", out)[1]))
    return seconds[0], seconds[1]


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
    parser.add_argument("--pipeline", action="store_true", help="also a trial's epoch on tf.data pipelines")
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
    if args.pipeline:
        trial, plain = pipeline_epochs(make_arrays(args.sizes[0], args.pixels))
        print(f"tf.data pipelines, {args.sizes[0]:,} images: a trial's epoch 2 {trial:.2f} s, the plain Keras "
              f"fit's {plain:.2f} s, ratio {trial / plain:.2f}")


if __name__ == "__main__":
    main()
