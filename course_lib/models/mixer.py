"""MLP-Mixer (Tolstikhin et al., 2021), as timm builds it: a vision model without attention and
without convolutions past the patch embedding.

``image -> patches -> tokens (B, N, D) -> L mixer blocks -> norm -> mean over tokens -> head``.
A mixer block mixes information twice, each time with an MLP and a residual connection:

- **token mixing**: one MLP applied to every channel separately, *across the N tokens*
  (``(B, N, D) -> transpose -> (B, D, N) -> MLP over N -> back``): the same weights for every
  channel, and weights indexed by position, so that where a token sits is built into them (no
  position embeddings needed, and no other image size possible);
- **channel mixing**: one MLP applied to every token separately, across its D channels (the ViT's
  MLP).

Parameter names equal timm's ``MlpMixer``: its state dict loads with ``strict=True`` and gives the
same outputs (tests/test_timm_twins.py).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course_lib.models.layers import (
    DropPath,
    Mlp,
    PatchEmbed,
    check_image_batch,
    check_sizes,
    parameter_dtype,
)
from course_lib.models.registry import CIFAR, register_model
from course_lib.models.state_dict import CourseModel


class MixerBlock(nn.Module):
    """``x + MLP_tokens(LN(x)^T)^T``, then ``x + MLP_channels(LN(x))``; ``(B, N, D) -> (B, N, D)``.

    ``mlp_ratio = (token ratio, channel ratio)``: the hidden widths are ``int(ratio * D)`` for
    both MLPs, as in timm (the paper's Mixer-S/16 has D = 512, token width 256, channel width
    2048)."""

    def __init__(
        self,
        dim: int,
        seq_len: int,
        mlp_ratio: tuple[float, float] = (0.5, 4.0),
        drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        tokens_dim, channels_dim = (int(ratio * dim) for ratio in mlp_ratio)
        check_sizes("MixerBlock", dim=dim, seq_len=seq_len, tokens_dim=tokens_dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_tokens = Mlp(seq_len, tokens_dim, drop)  # acts along the N positions
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_channels = Mlp(dim, channels_dim, drop)  # acts along the D channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.mlp_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2))
        return x + self.drop_path(self.mlp_channels(self.norm2(x)))


class MlpMixer(CourseModel):
    """MLP-Mixer classifier. ``forward``: images ``(B, C, img_size, img_size)`` -> logits
    ``(B, K)``. The token-mixing MLPs fix the number of patches, so the image size is fixed too.
    ``drop_path_rate`` is the same for every block, as in timm."""

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 512,
        num_blocks: int = 8,
        mlp_ratio: tuple[float, float] = (0.5, 4.0),
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        check_sizes("MlpMixer", minimum=0, num_blocks=num_blocks)
        self.num_classes = num_classes
        self.embed_dim = self.num_features = embed_dim
        self.stem = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.blocks = nn.Sequential(
            *[
                MixerBlock(
                    embed_dim,
                    self.stem.num_patches,
                    tuple(mlp_ratio),
                    proj_drop_rate,
                    drop_path_rate,
                )
                for _ in range(num_blocks)
            ]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        """timm's (and the paper's JAX code's) scheme: Xavier-uniform linear layers with tiny
        MLP biases, LeCun-normal patch embedding, and a zero head, so that the loss starts at
        exactly ``ln(num_classes)``."""
        from timm.layers import lecun_normal_

        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                if name.startswith("head"):
                    nn.init.zeros_(module.weight)
                    nn.init.zeros_(module.bias)
                    continue
                nn.init.xavier_uniform_(module.weight)
                if "mlp" in name:
                    nn.init.normal_(module.bias, std=1e-6)
                else:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv2d):
                lecun_normal_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def img_size(self) -> int:
        return self.stem.img_size

    @property
    def patch_size(self) -> int:
        return self.stem.patch_size

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> normalised tokens ``(B, N, D)``."""
        check_image_batch(
            x,
            self.stem.in_chans,
            self.img_size,
            resize_hint=" (a Mixer's token-mixing weights fix the number of patches)",
            dtype=parameter_dtype(self),
        )
        return self.norm(self.blocks(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Tokens ``(B, N, D)`` -> logits ``(B, K)`` (or the token average ``(B, D)``)."""
        x = self.head_drop(x.mean(dim=1))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# timm registers Mixers only at fixed sizes (its builders refuse other patch sizes and widths),
# so the twin is timm's MlpMixer class itself, built with the same arguments.
TWIN = "timm.models.mlp_mixer.MlpMixer"
NANO = dict(CIFAR, embed_dim=64, num_blocks=4)
MINI = dict(CIFAR, embed_dim=128, num_blocks=6)
TINY = dict(CIFAR, embed_dim=192, num_blocks=8)


def _mixer(defaults: dict[str, Any], overrides: dict[str, Any]) -> MlpMixer:
    return MlpMixer(**{**defaults, **overrides})


@register_model(family="mixer", size="nano", timm=TWIN, timm_args=NANO)
def mixer_cifar_nano(**overrides) -> MlpMixer:
    """Width 64, 4 blocks, 4x4 patches on 32x32 images (64 tokens); 0.15M parameters."""
    return _mixer(NANO, overrides)


@register_model(family="mixer", size="mini", timm=TWIN, timm_args=MINI)
def mixer_cifar_mini(**overrides) -> MlpMixer:
    """Width 128, 6 blocks, 4x4 patches on 32x32 images; 0.85M parameters."""
    return _mixer(MINI, overrides)


@register_model(family="mixer", size="tiny", timm=TWIN, timm_args=TINY)
def mixer_cifar_tiny(**overrides) -> MlpMixer:
    """Width 192, 8 blocks, 4x4 patches on 32x32 images; 2.5M parameters."""
    return _mixer(TINY, overrides)
