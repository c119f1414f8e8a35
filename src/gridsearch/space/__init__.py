"""What the user writes: the search space, its hyperparameters, and loading a space file."""
