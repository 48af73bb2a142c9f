"""The Vision Transformer (Dosovitskiy et al., 2021), as timm builds it.

``image -> patches -> tokens (+ class token) + position embeddings -> L pre-norm blocks -> norm
-> pool (class token or mean of the patch tokens) -> linear head``.

Parameter names equal timm's ``VisionTransformer``: ``timm.create_model("vit_tiny_patch16_224")``'s
state dict loads with ``strict=True`` and gives the same outputs (tests/test_vit_equivalence.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.layers import (
    Block,
    PatchEmbed,
    check_image_batch,
    check_sizes,
    parameter_dtype,
)
from course_lib.models.registry import CIFAR, register_model
from course_lib.models.state_dict import CourseModel
from course_lib.models.stems import ConvPatchEmbed


def sincos_pos_embed_2d(grid_size: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings ``(grid_size**2, dim)``: a quarter of the channels
    encode the column with sines, a quarter with cosines, the other half the row likewise."""
    if dim % 4:
        raise ValueError(f"The width {dim} must be divisible by 4 for 2-D sine-cosine embeddings.")
    ys, xs = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    omega = 1.0 / temperature ** (torch.arange(dim // 4) / (dim // 4))
    x_angles = xs.flatten()[:, None].float() * omega[None]
    y_angles = ys.flatten()[:, None].float() * omega[None]
    return torch.cat([x_angles.sin(), x_angles.cos(), y_angles.sin(), y_angles.cos()], dim=1)


def resample_pos_embed(
    pos_embed: torch.Tensor, new_grid: int, num_prefix_tokens: int = 1
) -> torch.Tensor:
    """Resize learned position embeddings to a new patch grid, as one resizes an image.

    ``pos_embed``: ``(1, num_prefix + g*g, D)``; the prefix (class token) entries are kept, the
    ``g x g`` grid is interpolated bicubically to ``new_grid x new_grid``. Returns
    ``(1, num_prefix + new_grid**2, D)``; an unchanged grid returns the input unchanged.
    """
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    old_grid = math.isqrt(grid.shape[1])
    if old_grid**2 != grid.shape[1]:
        raise ValueError(f"{grid.shape[1]} position embeddings do not form a square grid.")
    if old_grid == new_grid:
        return pos_embed
    dim = grid.shape[-1]
    image = grid.reshape(1, old_grid, old_grid, dim).permute(0, 3, 1, 2).float()
    image = F.interpolate(
        image, size=(new_grid, new_grid), mode="bicubic", antialias=True, align_corners=False
    )
    grid = image.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, dim).to(pos_embed.dtype)
    return torch.cat([prefix, grid], dim=1)


class VisionTransformer(CourseModel):
    """ViT classifier. ``forward``: images ``(B, C, img_size, img_size)`` -> logits ``(B, K)``.

    - ``global_pool``: ``"token"`` reads the class token, ``"avg"`` averages the patch tokens
      (then, as in timm, the final norm moves after the pooling: ``fc_norm``).
    - ``class_token``: prepend a learned class token (``False`` requires ``global_pool="avg"``).
    - ``pos_embed``: ``"learn"`` (learned, one vector per position), ``"sincos"`` (fixed 2-D
      sine-cosine) or ``"none"``.
    - ``stem``: ``"patch"`` (linear patch embedding), ``"conv"`` (stacked stride-2 3x3
      convolutions) or ``"resnet"`` (residual blocks: a hybrid ViT), all giving the same grid.
    - ``init_values``: LayerScale's initial value (``None``: no LayerScale).
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "token",
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        class_token: bool = True,
        pos_embed: str = "learn",
        stem: str = "patch",
        init_values: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        pos_embed_std: float = 0.02,
    ) -> None:
        super().__init__()
        check_sizes("VisionTransformer", minimum=0, depth=depth)
        check_sizes(
            "VisionTransformer", embed_dim=embed_dim, num_heads=num_heads, in_chans=in_chans
        )
        if global_pool not in ("token", "avg"):
            raise ValueError(f"global_pool must be 'token' or 'avg', got {global_pool!r}.")
        if global_pool == "token" and not class_token:
            raise ValueError("global_pool='token' needs class_token=True; or use 'avg'.")
        if pos_embed not in ("learn", "sincos", "none"):
            raise ValueError(f"pos_embed must be 'learn', 'sincos' or 'none', got {pos_embed!r}.")
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.embed_dim = self.num_features = embed_dim
        self.num_prefix_tokens = 1 if class_token else 0
        self.pos_embed_kind = pos_embed

        if stem == "patch":
            self.patch_embed: nn.Module = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        elif stem in ("conv", "resnet"):
            self.patch_embed = ConvPatchEmbed(img_size, patch_size, in_chans, embed_dim, kind=stem)
        else:
            raise ValueError(f"stem must be 'patch', 'conv' or 'resnet', got {stem!r}.")
        num_patches = self.patch_embed.num_patches

        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if class_token else None
        self.pos_embed: nn.Parameter | None = None
        if pos_embed == "learn":
            length = self.num_prefix_tokens + num_patches
            self.pos_embed = nn.Parameter(torch.zeros(1, length, embed_dim))
        elif pos_embed == "sincos":
            fixed = sincos_pos_embed_2d(self.patch_embed.grid_size, embed_dim)
            fixed = torch.cat([torch.zeros(self.num_prefix_tokens, embed_dim), fixed])
            self.register_buffer("fixed_pos_embed", fixed[None], persistent=False)
        self.pos_drop = nn.Dropout(drop_rate)

        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.Sequential(
            *[
                Block(
                    embed_dim,
                    num_heads,
                    mlp_ratio,
                    qkv_bias,
                    drop_rate,
                    attn_drop_rate,
                    init_values,
                    rates[i],
                )
                for i in range(depth)
            ]
        )
        use_fc_norm = global_pool == "avg"
        self.norm = nn.Identity() if use_fc_norm else nn.LayerNorm(embed_dim, eps=1e-6)
        self.fc_norm = nn.LayerNorm(embed_dim, eps=1e-6) if use_fc_norm else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights(pos_embed_std)

    def _init_weights(self, pos_embed_std: float) -> None:
        if self.pos_embed is not None:
            nn.init.trunc_normal_(self.pos_embed, std=pos_embed_std)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @property
    def img_size(self) -> int:
        return self.patch_embed.img_size

    @property
    def patch_size(self) -> int:
        return self.patch_embed.patch_size

    @property
    def grid_size(self) -> int:
        return self.patch_embed.grid_size

    def no_weight_decay(self) -> set[str]:
        """Parameter names the optimiser should not decay (used by ``course_lib.train``)."""
        return {"pos_embed", "cls_token"}

    def prefix_tokens(self, batch: int) -> torch.Tensor:
        """The learned tokens put in front of the patches: the class token, ``(B, 1, D)``."""
        return self.cls_token.expand(batch, -1, -1)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> the encoder's input ``(B, prefix + N, D)``: patch
        embeddings, the class token in front, position embeddings added."""
        check_image_batch(
            x,
            self.patch_embed.in_chans,
            self.img_size,
            resize_hint=", or adapt this model with model.resize_pos_embed(new_size)",
            dtype=parameter_dtype(self),
        )
        x = self.patch_embed(x)
        if self.num_prefix_tokens:
            x = torch.cat([self.prefix_tokens(x.shape[0]), x], dim=1)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        elif self.pos_embed_kind == "sincos":
            x = x + self.fixed_pos_embed.to(x.dtype)
        return self.pos_drop(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> final tokens ``(B, prefix + N, D)`` (normalised unless ``avg`` pooling)."""
        return self.norm(self.blocks(self.tokens(x)))

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, prefix + N, D)`` -> one vector per image ``(B, D)``."""
        if self.global_pool == "avg":
            return x[:, self.num_prefix_tokens :].mean(dim=1)
        return x[:, 0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Final tokens -> logits ``(B, K)`` (or the pooled features ``(B, D)``)."""
        x = self.head_drop(self.fc_norm(self.pool(x)))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    @torch.no_grad()
    def resize_pos_embed(self, img_size: int) -> VisionTransformer:
        """Adapt the model to ``img_size x img_size`` images in place: the patch size stays, the
        grid of position embeddings is interpolated (bicubic) to the new number of patches.
        Returns the model. Fine-tuning briefly at the new size recovers most of the accuracy."""
        patch = self.patch_size
        if img_size % patch:
            raise ValueError(
                f"The new image size {img_size} is not divisible by the patch size {patch}; "
                f"use a multiple of {patch} (e.g. {img_size - img_size % patch} or "
                f"{img_size - img_size % patch + patch})."
            )
        new_grid = img_size // patch
        pe = self.patch_embed
        pe.img_size, pe.grid_size, pe.num_patches = img_size, new_grid, new_grid**2
        if self.pos_embed is not None:
            resized = resample_pos_embed(self.pos_embed.data, new_grid, self.num_prefix_tokens)
            self.pos_embed = nn.Parameter(resized)
        elif self.pos_embed_kind == "sincos":
            fixed = sincos_pos_embed_2d(new_grid, self.embed_dim).to(self.fixed_pos_embed)
            prefix = self.fixed_pos_embed[:, : self.num_prefix_tokens]
            self.fixed_pos_embed = torch.cat([prefix, fixed[None]], dim=1)
        return self


def _vit(defaults: dict[str, Any], overrides: dict[str, Any]) -> VisionTransformer:
    return VisionTransformer(**{**defaults, **overrides})


# The configurations; timm's VisionTransformer takes the same arguments, so each is also its twin's.
NANO = dict(CIFAR, embed_dim=64, depth=4, num_heads=2)
MINI = dict(CIFAR, embed_dim=128, depth=6, num_heads=4)
TINY = dict(CIFAR, embed_dim=192, depth=9, num_heads=3)
TWIN = "vit_tiny_patch16_224"  # timm's ViT class with the arguments above


@register_model(family="vit", size="nano", timm=TWIN, timm_args=NANO)
def vit_cifar_nano(**overrides) -> VisionTransformer:
    """Width 64, depth 4, 2 heads, patch 4 on 32x32 (about 0.2M parameters): smoke, CPU sweeps."""
    return _vit(NANO, overrides)


@register_model(family="vit", size="mini", timm=TWIN, timm_args=MINI)
def vit_cifar_mini(**overrides) -> VisionTransformer:
    """Width 128, depth 6, 4 heads, patch 4 on 32x32 (about 1.2M parameters): the CPU ViT."""
    return _vit(MINI, overrides)


@register_model(family="vit", size="tiny", timm=TWIN, timm_args=TINY)
def vit_cifar_tiny(**overrides) -> VisionTransformer:
    """Width 192, depth 9, 3 heads, patch 4 on 32x32 (about 4M parameters): the GPU ViT."""
    return _vit(TINY, overrides)


@register_model(family="vit", size="tiny", timm="vit_tiny_patch16_224")
def vit_tiny_patch16_224(**overrides) -> VisionTransformer:
    """ViT-Ti/16 (DeiT-Ti): width 192, depth 12, 3 heads, 224x224 images (5.7M parameters)."""
    return _vit(dict(embed_dim=192, depth=12, num_heads=3), overrides)


@register_model(family="vit", size="small", timm="vit_small_patch16_224")
def vit_small_patch16_224(**overrides) -> VisionTransformer:
    """ViT-S/16: width 384, depth 12, 6 heads, 224x224 images (22M parameters)."""
    return _vit(dict(embed_dim=384, depth=12, num_heads=6), overrides)


@register_model(family="vit", size="base", timm="vit_base_patch16_224")
def vit_base_patch16_224(**overrides) -> VisionTransformer:
    """ViT-B/16: width 768, depth 12, 12 heads, 224x224 images (86M parameters)."""
    return _vit(dict(embed_dim=768, depth=12, num_heads=12), overrides)
