"""How fast can one epoch of the default digits trial go? Each way Keras allows, side by side.

    python benchmarks/epoch_speed.py            # 3 interleaved rounds of 20 epochs per variant
    python benchmarks/epoch_speed.py --rounds 1 --epochs 8

Every variant trains the default config of `search_spaces/digits_cnn.py` (the built-in CNN, Adam 1e-3,
batch 32, the shared split) in its own fresh process, so that TensorFlow's thread settings can differ
and nothing traced by one variant helps the next. Rounds are interleaved (A B C ... A B C ...) so that
the noise of a shared machine hits every variant alike; the table gives medians and each variant's
ratio to the default `model.fit`. "steady epoch" leaves out the first epoch, where the graph is traced.
"fit CPU s" is the process's CPU time
over the fit (all threads), which a busy machine inflates less than the wall time. Final validation accuracy is printed to show a variant does not change the results beyond noise.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = {
    "default": "model.fit on numpy arrays, as Keras' docs show",
    "steps_per_execution=4": "4 batches per call into the traced train step",
    "steps_per_execution=16": "16 batches per call",
    "steps_per_execution=32": "a whole epoch (27 batches) per call",
    "tf.data cache+prefetch": "a cached, shuffled, prefetched tf.data pipeline",
    "jit_compile": "XLA (Keras' 'auto' turns it off on CPU)",
    "threads intra=2 inter=1": "TensorFlow thread pools sized to the 2 cores",
    "threads intra=1 inter=1": "one thread for everything",
}


def child(variant: str, epochs: int) -> dict:
    if variant.startswith("threads"):
        intra, inter = (int(part.split("=")[1]) for part in variant.split()[1:])
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    import keras
    import tensorflow as tf

    from gridsearch.data.dataset import load_dataset
    from gridsearch.space.hyperparams import builtin_defaults
    from gridsearch.training.models import simple_cnn

    data = load_dataset("digits", seed=0, validation_split=0.2, test_split=0.2, folder=".")
    config = {**builtin_defaults(), "epochs": epochs}
    x_train, x_val, _ = data.prepared_split(config)
    keras.utils.set_random_seed(0)
    model = simple_cnn(config, x_train.shape[1:], data.num_classes)
    if variant.startswith("steps_per_execution"):
        model.steps_per_execution = int(variant.split("=")[1])  # read when the train step is first traced
    if variant == "jit_compile":
        model.jit_compile = True

    times: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    train, validation = (x_train, data.y_train), (x_val, data.y_val)
    fit_args = {"x": x_train, "y": data.y_train, "batch_size": 32}
    if variant == "tf.data cache+prefetch":
        fit_args = {"x": tf.data.Dataset.from_tensor_slices(train).cache().shuffle(len(x_train), seed=0)
                    .batch(32).prefetch(tf.data.AUTOTUNE)}
        validation = tf.data.Dataset.from_tensor_slices(validation).batch(32).cache().prefetch(tf.data.AUTOTUNE)
    start, cpu_start = time.perf_counter(), time.process_time()
    history = model.fit(**fit_args, validation_data=validation, epochs=epochs, verbose=0, callbacks=[EpochTimer()])
    return {"fit_s": time.perf_counter() - start, "fit_cpu_s": time.process_time() - cpu_start, "first_epoch_s": times[0],
            "steady_epoch_s": statistics.median(times[1:]), "val_accuracy": history.history["val_accuracy"][-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.epochs)), flush=True)
        return
    runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for round_number in range(1, args.rounds + 1):
        for name in VARIANTS:
            print(f"round {round_number}/{args.rounds}: {name}", file=sys.stderr, flush=True)
            out = subprocess.run([sys.executable, __file__, "--child", name, "--epochs", str(args.epochs)],
                                 capture_output=True, text=True, env=env, check=False)
            lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
            if not lines:
                sys.exit(f"{name} failed:\n{out.stderr[-2000:]}")
            runs[name].append(json.loads(lines[-1][len("RESULT "):]))
    median = {name: {key: statistics.median(r[key] for r in results) for key in results[0]}
              for name, results in runs.items()}
    base = median["default"]
    print(f"\n{args.epochs} epochs, default digits config, median of {args.rounds} interleaved rounds, "
          f"{os.cpu_count()} cores\n")
    print("| variant | fit s | fit CPU s | first epoch s | steady epoch s | steady epoch vs default | val accuracy |")
    print("|---|---|---|---|---|---|---|")
    for name, m in median.items():
        print(f"| {name} | {m['fit_s']:.2f} | {m['fit_cpu_s']:.2f} | {m['first_epoch_s']:.2f} | "
              f"{m['steady_epoch_s']:.3f} | {m['steady_epoch_s'] / base['steady_epoch_s']:.2f}x | "
              f"{m['val_accuracy']:.4f} |")


if __name__ == "__main__":
    main()
