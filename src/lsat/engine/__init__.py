"""Training loop, evaluation, prediction, checkpoints and distributed set-up."""
