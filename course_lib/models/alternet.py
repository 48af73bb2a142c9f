"""An AlterNet-style hybrid (Park & Kim, 2022, section 4): convolutions early, self-attention late.

Park & Kim read their Fourier and Hessian analyses as saying that convolutions and multi-head
self-attention (MSA) are complementary: convolutions are high-pass filters that suit the early,
high-resolution stages, MSA a low-pass aggregator that suits the end of a stage, where the
features are to be pooled. Their AlterNet replaces the last convolutional block of a ResNet's
stages with MSA blocks. This module builds the small version the course trains: the stem and
stages of :class:`~course_lib.models.cnn.ResNetCifar`, then pre-norm transformer blocks
(:class:`~course_lib.models.layers.Block`) on the last stage's ``h x w`` map read as ``h * w``
tokens with learned position embeddings, a LayerNorm, average pooling and a linear head.

timm has no AlterNet, so unlike the course's ViT, DeiT, CaiT and ConViT there is no state dict to
match; the convolutional part reuses the course ResNet's modules and names (``stem``,
``stages``), the transformer part the ViT's (``blocks``, ``pos_embed``, ``norm``, ``head``).
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models.cnn import ResNetCifar
from course_lib.models.layers import Block, check_image_batch, parameter_dtype
from course_lib.models.registry import register_model
from course_lib.models.state_dict import CourseModel


class AlterNetCifar(CourseModel):
    """ResNet stages, then ``msa_blocks`` transformer blocks on the last stage's map.

    ``forward``: images ``(B, in_chans, img_size, img_size)`` -> logits ``(B, num_classes)``.
    The last stage's map ``(B, C, h, w)``, with ``C = widths[-1]`` and ``h = w = img_size /
    2^(len(widths) - 1)``, becomes ``h * w`` tokens of width ``C``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, ...] = (16, 32, 64),
        depths: tuple[int, ...] = (1, 1, 1),
        msa_blocks: int = 1,
        num_heads: int = 2,
        mlp_ratio: float = 4.0,
        img_size: int = 32,
        in_chans: int = 3,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if msa_blocks < 1:
            raise ValueError(
                f"msa_blocks must be at least 1 (else use ResNetCifar), got {msa_blocks}."
            )
        stride = 2 ** (len(widths) - 1)
        if img_size % stride:
            raise ValueError(
                f"img_size {img_size} is not divisible by {stride}, the stages' total stride."
            )
        cnn = ResNetCifar(num_classes, widths, depths, in_chans)
        self.in_chans = in_chans
        self.img_size = img_size
        self.num_classes = num_classes
        self.stem, self.stages = cnn.stem, cnn.stages
        self.grid_size = img_size // stride
        dim = self.num_features = widths[-1]
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid_size**2, dim))
        rates = torch.linspace(0, drop_path_rate, msa_blocks).tolist()
        self.blocks = nn.Sequential(
            *[Block(dim, num_heads, mlp_ratio, qkv_bias=True, drop_path=r) for r in rates]
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for module in [*self.blocks.modules(), self.head]:
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W)`` -> normalised tokens ``(B, h * w, C)``."""
        check_image_batch(x, self.in_chans, self.img_size, dtype=parameter_dtype(self))
        fmap = self.stages(self.stem(x))  # (B, C, h, w)
        tokens = fmap.flatten(2).transpose(1, 2) + self.pos_embed  # (B, h * w, C)
        return self.norm(self.blocks(tokens))

    def forward_head(self, tokens: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Tokens ``(B, N, C)`` -> logits ``(B, num_classes)`` (the pooled ``(B, C)`` with
        ``pre_logits``)."""
        pooled = tokens.mean(dim=1)
        return pooled if pre_logits else self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(family="alternet", size="nano")
def alternet_cifar_nano(**overrides) -> AlterNetCifar:
    """``resnet_cifar_nano``'s stages (widths 16/32/64, one block each), then one MSA block of
    width 64 with 2 heads on the 8x8 map (about 0.13M parameters): the cpu hybrid."""
    return AlterNetCifar(**{"widths": (16, 32, 64), "depths": (1, 1, 1), **overrides})


@register_model(family="alternet", size="tiny")
def alternet_cifar_tiny(**overrides) -> AlterNetCifar:
    """``resnet_cifar_tiny``'s widths (64/128/256) with two, two and one convolutional blocks, then
    one MSA block of width 256 with 4 heads (about 2.4M parameters): the gpu hybrid."""
    defaults = {"widths": (64, 128, 256), "depths": (2, 2, 1), "num_heads": 4}
    return AlterNetCifar(**{**defaults, **overrides})
