"""The doctor on a model that does not learn: Adam at learning_rate=0.5 sits at chance on the digits.

No stages: with plan="auto" the doctor trains these defaults once, reads the diagnosis
(stuck_at_chance) and builds each stage from the built-in tunables, learning rate first
(see "The doctor" in the README). `python -m gridsearch run search_spaces/doctor_digits.py`
"""
from gridsearch import SearchSpace

space = SearchSpace(
    name="doctor_digits",
    data="digits",
    model="simple_cnn",
    defaults={"filters": 8, "dense_units": 32, "conv_blocks": 1, "learning_rate": 0.5},
    stages=[],
    plan="auto",
    epochs=6,
    batch_size=32,
    seed=0,
)
