"""A small ResNet for 32x32 images: the course's convolutional baseline and DeiT's teacher.

The layout follows He et al. (2016) for CIFAR: a 3x3 stem without down-sampling, three stages of
basic residual blocks that halve the resolution and double the width (32 -> 16 -> 8 pixels), then
global average pooling and a linear classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.models.layers import check_image_batch, parameter_dtype
from course_lib.models.registry import register_model
from course_lib.models.state_dict import CourseModel
from course_lib.models.stems import BasicBlock, ConvPatchEmbed

__all__ = ["BasicBlock", "ConvPatchEmbed", "ResNetCifar"]  # the stems' old home re-exports them


class ResNetCifar(CourseModel):
    """ResNet for small images: stem, ``len(widths)`` stages, average pooling, linear head.

    ``forward``: ``(B, in_chans, H, W)`` float -> logits ``(B, num_classes)``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, ...] = (32, 64, 128),
        depths: tuple[int, ...] = (1, 1, 1),
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError(f"widths {widths} and depths {depths} must have the same length.")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages, chans = [], widths[0]
        for i, (width, depth) in enumerate(zip(widths, depths)):
            blocks = [BasicBlock(chans, width, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(width, width) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            chans = width
        self.stages = nn.Sequential(*stages)
        self.num_features = chans
        self.head = nn.Linear(chans, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> feature map ``(B, num_features, H / 2^(stages-1), ...)``."""
        check_image_batch(x, self.in_chans, dtype=parameter_dtype(self))
        return self.stages(self.stem(x))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Feature map ``(B, D, h, w)`` -> logits ``(B, num_classes)`` (or the pooled features
        ``(B, D)`` with ``pre_logits``)."""
        pooled = features.mean(dim=(2, 3))
        return pooled if pre_logits else self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(family="resnet", size="nano")
def resnet_cifar_nano(**overrides) -> ResNetCifar:
    """Widths 16/32/64, one block per stage (about 0.08M parameters): smoke tests."""
    return ResNetCifar(**{"widths": (16, 32, 64), "depths": (1, 1, 1), **overrides})


@register_model(family="resnet", size="mini")
def resnet_cifar_mini(**overrides) -> ResNetCifar:
    """Widths 32/64/128, one block per stage (about 0.3M parameters): the CPU baseline."""
    return ResNetCifar(**{"widths": (32, 64, 128), "depths": (1, 1, 1), **overrides})


@register_model(family="resnet", size="tiny")
def resnet_cifar_tiny(**overrides) -> ResNetCifar:
    """Widths 64/128/256, two blocks per stage (about 2.8M parameters): GPU baseline, teacher."""
    return ResNetCifar(**{"widths": (64, 128, 256), "depths": (2, 2, 2), **overrides})
