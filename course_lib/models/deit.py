"""DeiT's distilled Vision Transformer (Touvron et al., 2021): a ViT with a second learned token.

``[cls; dist; patches] + position embeddings -> blocks -> norm``; the class token feeds ``head``
(trained on the labels), the distillation token feeds ``head_dist`` (trained on the teacher's
predictions). In training, with ``distilled_training`` on, ``forward`` returns both logits; at
inference it returns their average.

Parameter names equal timm's ``VisionTransformerDistilled`` (``dist_token``, ``head_dist``), so
``timm.create_model("deit_tiny_distilled_patch16_224")``'s state dict loads with ``strict=True``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course_lib.models.registry import register_model
from course_lib.models.vit import MINI, NANO, TINY, VisionTransformer


class DistilledVisionTransformer(VisionTransformer):
    """A ViT with a class token and a distillation token, each read by its own linear head.

    ``forward``: images ``(B, C, H, W)`` -> ``(logits_cls, logits_dist)``, each ``(B, K)``, when
    the model is in training mode and ``distilled_training`` is on; otherwise the average of the
    two, ``(B, K)``. The keyword arguments are :class:`VisionTransformer`'s (with
    ``global_pool="token"`` and a class token: the two tokens are what gets read).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.global_pool != "token" or self.cls_token is None:
            raise ValueError(
                "A distilled ViT reads its class and distillation tokens: it needs "
                "global_pool='token' and class_token=True."
            )
        dim = self.embed_dim
        self.num_prefix_tokens = 2
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim))
        if self.pos_embed is not None:
            self.pos_embed = nn.Parameter(torch.zeros(1, 2 + self.patch_embed.num_patches, dim))
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        elif self.pos_embed_kind == "sincos":
            zeros = torch.zeros(1, 1, dim)
            self.fixed_pos_embed = torch.cat([zeros, self.fixed_pos_embed], dim=1)
        nn.init.trunc_normal_(self.dist_token, std=0.02)
        self.head_dist = nn.Linear(dim, self.num_classes) if self.num_classes > 0 else nn.Identity()
        if isinstance(self.head_dist, nn.Linear):
            nn.init.trunc_normal_(self.head_dist.weight, std=0.02)
            nn.init.zeros_(self.head_dist.bias)
        self.distilled_training = True

    def set_distilled_training(self, enable: bool = True) -> None:
        """Return both heads' logits in training mode (``True``, for a distillation loss) or
        their average (``False``, for ordinary training)."""
        self.distilled_training = enable

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token", "dist_token"}

    def prefix_tokens(self, batch: int) -> torch.Tensor:
        """The class and distillation tokens for a batch: ``(B, 2, D)``."""
        return torch.cat(
            [self.cls_token.expand(batch, -1, -1), self.dist_token.expand(batch, -1, -1)], dim=1
        )

    def forward_head(
        self, x: torch.Tensor, pre_logits: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Final tokens ``(B, 2 + N, D)`` -> both heads' logits in distilled training, else their
        average ``(B, K)`` (``pre_logits``: the average of the two tokens, ``(B, D)``)."""
        cls, dist = x[:, 0], x[:, 1]
        if pre_logits:
            return (cls + dist) / 2
        cls, dist = self.head(self.head_drop(cls)), self.head_dist(self.head_drop(dist))
        if self.distilled_training and self.training:
            return cls, dist
        return (cls + dist) / 2


TWIN = "deit_tiny_distilled_patch16_224"  # timm's distilled ViT class


def _deit(defaults: dict[str, Any], overrides: dict[str, Any]) -> DistilledVisionTransformer:
    return DistilledVisionTransformer(**{**defaults, **overrides})


@register_model(family="deit", size="nano", timm=TWIN, timm_args=NANO)
def deit_cifar_nano_distilled(**overrides) -> DistilledVisionTransformer:
    """``vit_cifar_nano`` with a distillation token: width 64, depth 4, 2 heads, patch 4."""
    return _deit(NANO, overrides)


@register_model(family="deit", size="mini", timm=TWIN, timm_args=MINI)
def deit_cifar_mini_distilled(**overrides) -> DistilledVisionTransformer:
    """``vit_cifar_mini`` with a distillation token: width 128, depth 6, 4 heads, patch 4."""
    return _deit(MINI, overrides)


@register_model(family="deit", size="tiny", timm=TWIN, timm_args=TINY)
def deit_cifar_tiny_distilled(**overrides) -> DistilledVisionTransformer:
    """``vit_cifar_tiny`` with a distillation token: width 192, depth 9, 3 heads, patch 4."""
    return _deit(TINY, overrides)


@register_model(family="deit", size="tiny", timm="deit_tiny_distilled_patch16_224")
def deit_tiny_distilled_patch16_224(**overrides) -> DistilledVisionTransformer:
    """DeiT-Ti distilled: width 192, depth 12, 3 heads, 224x224 images."""
    return _deit(dict(embed_dim=192, depth=12, num_heads=3), overrides)


@register_model(family="deit", size="small", timm="deit_small_distilled_patch16_224")
def deit_small_distilled_patch16_224(**overrides) -> DistilledVisionTransformer:
    """DeiT-S distilled: width 384, depth 12, 6 heads, 224x224 images."""
    return _deit(dict(embed_dim=384, depth=12, num_heads=6), overrides)
