"""Data layer: demo world, VQA-v2/VG/CLEVR readers, answers, tokens, HDF5 features, Dataset."""
