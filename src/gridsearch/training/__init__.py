"""Train one config: the trial record, the models, the fit routine, lint, probes and pruning."""
