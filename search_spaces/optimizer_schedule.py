"""Tune the optimizer first, then its learning rate and schedule, then early stopping.

The practitioners' playbook when the loss moves but slowly or noisily: pick the optimizer,
then its step size together with a schedule (a joint grid), then stop early on the objective.
"""
from gridsearch import SearchSpace, Stage

space = SearchSpace(
    name="digits_optimizer_schedule",
    data="digits",
    defaults={"optimizer": "adam", "learning_rate": 1e-3, "lr_schedule": "none", "normalize": "scale"},
    stages=[
        Stage("optimizer", ["adam", "rmsprop", "sgd_momentum", "adagrad"]),
        Stage({"learning_rate": [3e-2, 1e-2, 1e-3], "lr_schedule": ["none", "reduce_on_plateau", "step"]}),
        Stage("early_stopping", [0, 5]),
    ],
    epochs=15,
    batch_size=32,
)
