"""TRAR, MCAN-small and LSAT networks and :func:`build_model`.

Models know nothing of files: the engine builds one with the vocabulary and answer sizes
and feeds it tensors. One file per family (``trar``, ``mcan``, ``lsat``) holds its image
self-attention and masks; ``net`` assembles them from a family table, ``layers`` holds the
shared transformer pieces, ``kernels`` the CPU kernels they call, ``config`` the options
and ``official`` loads the official TRAR checkpoints.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lsat.errors import LsatError
from lsat.models.config import FAMILIES, OPTION_KEYS, ModelConfig, make_config
from lsat.models.layers import set_attention_backend
from lsat.models.net import FAMILY_PARTS, Net

__all__ = [
    "FAMILIES",
    "FAMILY_PARTS",
    "OPTION_KEYS",
    "ModelConfig",
    "Net",
    "build_model",
    "build_model_for_data",
    "compile_model",
    "make_config",
    "set_attention_backend",
]


def build_model(
    name: str,
    *,
    format: str,
    token_size: int,
    answer_size: int,
    pretrained_emb: np.ndarray | torch.Tensor | None = None,
    **overrides: Any,
) -> Net:
    """Build ``name`` (trar, mcan, lsat) with the paper defaults of dataset ``format``.

    ``format`` is ``vqa`` or ``clevr`` (``ModelConfig.format``, formerly ``dataset``; a
    checkpoint's ``model_meta`` has always recorded it as ``format``).

    ``overrides`` are the lower-case keys of the config's ``model.options``. A
    ``pretrained_emb`` (token_size, word_embed_size) initialises the (trainable) embedding.
    """
    cfg = make_config(name, format, **overrides)
    if token_size < 1 or answer_size < 1:
        raise LsatError(
            f"build_model({name!r}): token_size={token_size} and answer_size={answer_size} "
            "must be positive (empty vocabulary or answer list?)"
        )
    model = Net(cfg, token_size, answer_size)
    if pretrained_emb is not None:
        emb = torch.as_tensor(pretrained_emb)
        expected = tuple(model.embedding.weight.shape)
        if tuple(emb.shape) != expected:
            raise LsatError(
                f"pretrained embedding has shape {tuple(emb.shape)}, expected {expected} "
                "(token_size × word_embed_size): was it built from this vocabulary?"
            )
        with torch.no_grad():
            model.embedding.weight.copy_(emb)
    return model


def build_model_for_data(
    name: str,
    fmt: str,
    options: dict[str, Any] | None,
    data: Any,
    pretrained_emb: np.ndarray | torch.Tensor | None = None,
) -> tuple[Net, dict[str, Any]]:
    """``name`` sized by a dataset (training's or prediction's) and the options it was built with.

    The features decide the input sizes (``img_feat_size``, ``img_scale``) unless the
    config's ``model.options`` pin them; ``data`` has ``channels``, ``grid``, ``token_size``
    and ``num_answers``. The returned options are what a checkpoint records to rebuild it.
    """
    opts = dict(options or {})
    opts.setdefault("img_feat_size", int(data.channels))
    opts.setdefault("img_scale", int(data.grid))
    model = build_model(
        name,
        format=fmt,
        token_size=data.token_size,
        answer_size=data.num_answers,
        pretrained_emb=pretrained_emb,
        **opts,
    )
    return model, opts


def compile_model(model: Net, **kwargs: Any) -> Net:
    """``torch.compile`` a model as one graph.

    Dynamo graph-breaks on ``nn.LSTM`` unless ``allow_rnn`` is set; with it the whole
    forward (LSTM, masks, SDPA, routing) compiles without a break. ``kwargs`` go to
    ``torch.compile`` (e.g. ``mode="max-autotune"``, ``fullgraph=True``).
    """
    torch._dynamo.config.allow_rnn = True
    return torch.compile(model, **kwargs)  # type: ignore[return-value]
