"""Feature extraction backends and the grid pre-processing."""
