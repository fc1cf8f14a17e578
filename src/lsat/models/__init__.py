"""TRAR, MCAN-small and LSAT networks and build_model."""
