"""The MCAN-small encoder–decoder network shared by TRAR, MCAN and LSAT (docs/sources.md).

Only the decoder's image self-attention (``dec_list.{i}.mhatt1``) differs between the
families, and the spatial masks it needs, built once per forward by a parameter-free module
(``backbone.img_masks``) and shared by all layers. :data:`FAMILY_PARTS` says what each
family file (:mod:`~lsat.models.trar`, :mod:`~lsat.models.mcan`, :mod:`~lsat.models.lsat`)
contributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lsat.errors import LsatError
from lsat.models import lsat, mcan, trar
from lsat.models.config import ModelConfig
from lsat.models.layers import FFN, AttFlat, Dropout, LayerNorm, MHAtt


@dataclass(frozen=True)
class Family:
    """A family's parts: its ``mhatt1``, its image-mask builder and its τ schedule."""

    image_attention: Callable[[ModelConfig], nn.Module]
    # (B, 1, 1, N) padding mask → what ``image_attention`` takes; None: the padding mask.
    image_masks: Callable[[ModelConfig], nn.Module] | None = None
    # Gumbel temperature of an epoch (cfg, epoch, max_epoch, warmup) or None; None: no τ.
    tau: Callable[[ModelConfig, int, int, int], float | None] | None = None


# One entry per name of ``config.FAMILIES`` (a test checks it).
FAMILY_PARTS: dict[str, Family] = {
    "trar": Family(trar.image_attention, trar.image_masks, trar.gumbel_tau),
    "mcan": Family(mcan.image_attention),
    "lsat": Family(lsat.image_attention, lsat.image_masks),
}

# The official name of the feature adapter per dataset format.
ADAPTER_NAMES = {"vqa": "frcn_linear", "clevr": "grid_linear"}


class Encoder(nn.Module):
    """Question self-attention layer (post-norm)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h, p = cfg.hidden_size, cfg.dropout_r
        self.mhatt = MHAtt(h, cfg.multi_head, p)
        self.ffn = FFN(h, cfg.ff_size, p)
        self.dropout1, self.norm1 = Dropout(p), LayerNorm(h)
        self.dropout2, self.norm2 = Dropout(p), LayerNorm(h)

    def forward(self, y: Tensor, y_mask: Tensor) -> Tensor:
        y = self.norm1(y + self.dropout1(self.mhatt(y, y, y, y_mask)))
        return self.norm2(y + self.dropout2(self.ffn(y)))


class Decoder(nn.Module):
    """Image layer: self-attention (family-specific), guided attention to words, FFN."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        h, p = cfg.hidden_size, cfg.dropout_r
        self.mhatt1 = FAMILY_PARTS[cfg.name].image_attention(cfg)
        self.mhatt2 = MHAtt(h, cfg.multi_head, p)
        self.ffn = FFN(h, cfg.ff_size, p)
        self.dropout1, self.norm1 = Dropout(p), LayerNorm(h)
        self.dropout2, self.norm2 = Dropout(p), LayerNorm(h)
        self.dropout3, self.norm3 = Dropout(p), LayerNorm(h)

    def forward(
        self, x: Tensor, y: Tensor, x_masks: Tensor | lsat.WindowMasks, y_mask: Tensor, tau: Tensor
    ) -> Tensor:
        x = self.norm1(x + self.dropout1(self.mhatt1(x, x_masks, tau)))
        x = self.norm2(x + self.dropout2(self.mhatt2(y, y, x, y_mask)))
        return self.norm3(x + self.dropout3(self.ffn(x)))


class Backbone(nn.Module):
    """All encoder layers on the words first, then every decoder layer on the image."""

    tau: Tensor  # a buffer (nn.Module's attribute lookup is untyped)

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.enc_list = nn.ModuleList(Encoder(cfg) for _ in range(cfg.layer))
        self.dec_list = nn.ModuleList(Decoder(cfg) for _ in range(cfg.layer))
        masks = FAMILY_PARTS[cfg.name].image_masks
        self.img_masks = masks(cfg) if masks is not None else None
        # τ is a buffer, not a float attribute: changing it never recompiles a compiled model.
        self.register_buffer("tau", torch.tensor(float(cfg.tau_max)), persistent=False)

    def forward(
        self, y: Tensor, x: Tensor, y_mask: Tensor, x_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        x_masks = self.img_masks(x_mask) if self.img_masks is not None else x_mask
        for enc in self.enc_list:
            y = enc(y, y_mask)
        for dec in self.dec_list:
            x = dec(x, y, x_masks, y_mask, self.tau)
        return y, x


class Adapter(nn.Module):
    """Grid features C → hidden (``frcn_linear`` for VQA, ``grid_linear`` for CLEVR)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attr = ADAPTER_NAMES[cfg.format]
        self.add_module(self.attr, nn.Linear(cfg.img_feat_size, cfg.hidden_size))

    def forward(self, feat: Tensor) -> Tensor:
        return getattr(self, self.attr)(feat)


class Net(nn.Module):
    """Question + grid features → answer logits (TRAR ``Net`` with official names)."""

    def __init__(self, cfg: ModelConfig, token_size: int, answer_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(token_size, cfg.word_embed_size)
        self.lstm = nn.LSTM(cfg.word_embed_size, cfg.hidden_size, num_layers=1, batch_first=True)
        self.adapter = Adapter(cfg)
        self.backbone = Backbone(cfg)
        h, p = cfg.hidden_size, cfg.dropout_r
        self.attflat_img = AttFlat(h, cfg.flat_mlp_size, cfg.flat_glimpses, cfg.flat_out_size, p)
        self.attflat_lang = AttFlat(h, cfg.flat_mlp_size, cfg.flat_glimpses, cfg.flat_out_size, p)
        self.proj_norm = LayerNorm(cfg.flat_out_size)
        self.proj = nn.Linear(cfg.flat_out_size, answer_size)

    def forward(self, img_feat: Tensor, ques_ix: Tensor) -> Tensor:
        """``img_feat`` (B, N, C) float, ``ques_ix`` (B, T) long (0 = PAD) → (B, A) logits."""
        self._check_shapes(img_feat, ques_ix)
        lang_mask = (ques_ix == 0)[:, None, None, :]
        img_mask = (img_feat.abs().sum(-1) == 0)[:, None, None, :]
        # The LSTM runs in fp32 even under autocast: oneDNN has no bf16 LSTM on CPUs without
        # AVX-512 BF16 (it fails outright), and 14 steps of it are a negligible cost anyway.
        with torch.autocast(ques_ix.device.type, enabled=False):
            lang, _ = self.lstm(self.embedding(ques_ix))
        img = self.adapter(img_feat)
        lang, img = self.backbone(lang, img, lang_mask, img_mask)
        fused = self.attflat_lang(lang, lang_mask) + self.attflat_img(img, img_mask)
        return self.proj(self.proj_norm(fused))

    def _check_shapes(self, img_feat: Tensor, ques_ix: Tensor) -> None:
        cfg = self.cfg
        if img_feat.dim() != 3 or img_feat.shape[-1] != cfg.img_feat_size:
            raise LsatError(
                f"{cfg.name}: image features must be (batch, cells, {cfg.img_feat_size}), "
                f"got {tuple(img_feat.shape)} (set model option img_feat_size to the channels)"
            )
        if cfg.uses_grid and img_feat.shape[1] != cfg.img_scale**2:
            raise LsatError(
                f"{cfg.name}: {img_feat.shape[1]} image cells but img_scale={cfg.img_scale} "
                f"needs {cfg.img_scale**2} (an S×S grid); set model option img_scale"
            )
        if ques_ix.dim() != 2 or ques_ix.shape[0] != img_feat.shape[0]:
            raise LsatError(
                f"{cfg.name}: questions must be (batch, tokens) with the images' batch "
                f"{img_feat.shape[0]}, got {tuple(ques_ix.shape)}"
            )

    def update_tau(self, epoch: int, max_epoch: int, warmup_epochs: int) -> float | None:
        """Set the Gumbel temperature for 0-based ``epoch``; None unless hard routing."""
        schedule = FAMILY_PARTS[self.cfg.name].tau
        tau = schedule(self.cfg, epoch, max_epoch, warmup_epochs) if schedule else None
        if tau is not None:
            self.backbone.tau.fill_(tau)
        return tau
