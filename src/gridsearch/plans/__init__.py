"""Turn a space into the stages that run: staged, the full grid, or the doctor's diagnosis-driven plan."""
