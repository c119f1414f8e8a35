"""Process-wide workarounds that keep long searches fast and flat, and the fault-injection hooks of the tests.

Nothing here is about one trial's logic: it is what a process running hundreds of Keras fits needs
(garbage collection kept cheap, TensorFlow's global gradient registry emptied, its start-up noise kept off the
terminal), and the deterministic kill points through which the crash/resume tests stop a run at an exact place.
"""
from __future__ import annotations

import gc
import importlib.abc
import importlib.machinery
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

KILL_ENV = "GRIDSEARCH_KILL_AT"
# GRIDSEARCH_KILL_WORKER=<worker id>:<event>:<n>: GRIDSEARCH_KILL_AT=<event>:<n> for that worker of a
# distributed search only (the chief and the other workers, which inherit the environment, are spared).
KILL_WORKER_ENV = "GRIDSEARCH_KILL_WORKER"
_fault_counts: dict[str, int] = {}


def fault_point(event: str) -> None:
    """Fault-injection hook for the crash/resume tests; inert unless GRIDSEARCH_KILL_AT is set.

    GRIDSEARCH_KILL_AT=<event>:<n> kills this process with SIGKILL (no cleanup, like a power cut)
    the n-th time `event` is reached; GRIDSEARCH_KILL_SIGNAL=SIGTERM (SIGINT, SIGSTOP) sends that one instead.
    Events: trial_start, epoch_end, trial_saved, stage_end, write:<file name> (temp file written, not renamed).
    """
    spec = os.environ.get(KILL_ENV)
    target, _, count = (spec or "").rpartition(":")
    if target != event:
        return
    _fault_counts[event] = _fault_counts.get(event, 0) + 1
    if _fault_counts[event] == int(count):
        os.kill(os.getpid(), getattr(signal, os.environ.get("GRIDSEARCH_KILL_SIGNAL", "SIGKILL")))


def fault_callbacks() -> list[Any]:
    """The fault-injection hook's kill points inside training: trial_start (every fit, the final
    retrain included) and epoch_end. Only when GRIDSEARCH_KILL_AT is set (tests); see `fault_point`."""
    if not os.environ.get(KILL_ENV):
        return []
    import keras

    class FaultPoints(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            fault_point("trial_start")

        def on_epoch_end(self, epoch, logs=None):
            fault_point("epoch_end")

    return [FaultPoints()]


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """Keep Keras' per-trial garbage collection cheap.

    `keras.backend.clear_session()`, called before every build, runs a full `gc.collect()`. With
    TensorFlow, Keras Tuner and pandas imported that pass walks ~430,000 objects that live for the whole
    run: 0.4 to 1.6 s a trial, the largest per-trial cost outside `model.fit` in the profile of a staged
    run. Moving them to the permanent generation first (`gc.freeze`) leaves each pass only the objects
    created since, and it drops to ~0.06 s; nothing is frozen for good (`gc.unfreeze` at the end).
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def release_traced_graphs() -> None:
    """After a trial, let its traced graphs go: memory stays flat over hundreds of trials.

    `keras.backend.clear_session()` (before every build) is not enough with TensorFlow 2.x: each trace
    through `tf.custom_gradient` registers a gradient function in TensorFlow's global registry that is
    never removed, and its closure keeps the whole traced train step alive (~5 MB a trial here;
    tensorflow/tensorflow#61791). An entry is only needed while its own trace is differentiated, which
    is over once the trial has finished. `benchmarks/memory.py` measures the effect.
    """
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
    except (ImportError, AttributeError):  # another TensorFlow, or none: nothing to release
        return
    for name in [name for name in registry if name.startswith("CustomGradient-")]:
        del registry[name]


@contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """File descriptor 2 itself, not sys.stderr: TensorFlow's C++ code writes there directly."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Runs `import tensorflow`, wherever it first happens, with stderr closed.

    TF_CPP_MIN_LOG_LEVEL=3 silences TensorFlow's later C++ logs (e.g. "E0000 ... failed call to cuInit" on
    a CPU machine, which reads as a failure), but not the lines it writes while importing: abseil writes
    everything logged before `absl::InitializeLog()` to stderr whatever the level (abseil/abseil-cpp#1718,
    still open as #1957), and TensorFlow 2.21 does that twice per process. A Python error while importing
    still shows: the descriptor is restored before it propagates.
    """

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module) -> None:
            with _stderr_to_devnull():
                run(module)

        spec.loader.exec_module = exec_module
        return spec


def quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up noise off the terminal (before it is imported; a no-op after): the command line's
    process, and each joblib worker of the sklearn backend (as its initializer)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices: every trial is a new model, by design
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
