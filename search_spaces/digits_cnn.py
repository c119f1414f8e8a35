"""The default search: the built-in simple CNN on scikit-learn's bundled 8x8 digits.

Stages run in order, each winner frozen for the next: 4 + 2 + 3 + 3 = 12 trials
(9 distinct configs: each stage's first point repeats the previous winner), not 72.
"""
from gridsearch import SearchSpace, Stage

space = SearchSpace(
    name="digits_cnn",
    data="digits",
    model="simple_cnn",
    defaults={"learning_rate": 1e-3, "batch_norm": False, "l2": 0.0, "noise": 0.0},
    stages=[
        Stage("learning_rate", [1e-1, 1e-2, 1e-3, 1e-4]),
        Stage("batch_norm", [False, True]),
        Stage("l2", [0.0, 1e-4, 1e-3]),
        Stage("noise", [0.0, 0.1, 0.3]),
    ],
    objective="val_accuracy",
    epochs=20,
    batch_size=32,
    backend="keras_tuner",
    seed=0,
)
