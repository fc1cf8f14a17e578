"""LSAT-VQA: reproducible grid-feature transformers (TRAR, LSAT, MCAN) for VQA-v2 and CLEVR."""

__version__ = "0.1.0"
