"""What a run shows: terminal progress, plots, TensorBoard logs and the HTML report."""
