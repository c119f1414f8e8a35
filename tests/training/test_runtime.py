"""The process-wide workarounds: TensorFlow's start-up lines kept off the terminal."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

QUIET_IMPORT = """
import os, sys
from gridsearch.training.runtime import quiet_tensorflow
if os.environ.get("QUIET") == "1":
    quiet_tensorflow()
import keras, tensorflow as tf
keras.layers.Dense(2)(tf.zeros((1, 2)))  # the first op: TensorFlow looks for a GPU here (cuInit)
print("trained", file=sys.stderr)
"""


@pytest.mark.slow
def test_tensorflow_start_up_lines_stay_off_the_terminal_unless_asked_for():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", QUIET_IMPORT], capture_output=True, text=True, timeout=300,
                           env={**env, "QUIET": "1"})
    assert quiet.returncode == 0 and quiet.stderr == "trained\n", quiet.stderr
    noisy = subprocess.run([sys.executable, "-c", QUIET_IMPORT], capture_output=True, text=True, timeout=300, env=env)
    if noisy.stderr == "trained\n":
        pytest.skip("this TensorFlow prints nothing at start-up: nothing to silence")
    assert "I0000" in noisy.stderr or "absl" in noisy.stderr  # what --verbose (no hook) shows
