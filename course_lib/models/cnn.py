"""A small ResNet for 32x32 images (the course's convolutional baseline and DeiT's teacher), and
convolutional stems that turn a ViT into a conv-stem or hybrid ViT.

The layout follows He et al. (2016) for CIFAR: a 3x3 stem without down-sampling, three stages of
basic residual blocks that halve the resolution and double the width (32 -> 16 -> 8 pixels), then
global average pooling and a linear classifier.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.models.registry import register_model


def check_image_batch(
    x: torch.Tensor,
    in_chans: int,
    img_size: int | None = None,
    resize_hint: str = "",
    dtype: torch.dtype | None = None,
) -> None:
    """Raise a clear error unless ``x`` is a float batch ``(B, in_chans, H, W)`` (and, when
    ``img_size`` is given, ``H == W == img_size``; when ``dtype`` is given, the model's weights'
    dtype, unless autocast is on). ``resize_hint`` is added to the size error."""
    if x.ndim != 4:
        raise ValueError(
            f"Expected a batch of images (B, C, H, W), got shape {tuple(x.shape)}. "
            "For a single image use x.unsqueeze(0)."
        )
    if x.shape[1] != in_chans:
        raise ValueError(
            f"Expected {in_chans} channels in dimension 1, got shape {tuple(x.shape)}. "
            "Convert grayscale with x.expand(-1, 3, -1, -1), or channels-last data with "
            "x.permute(0, 3, 1, 2)."
        )
    if img_size is not None and tuple(x.shape[-2:]) != (img_size, img_size):
        raise ValueError(
            f"Expected {img_size}x{img_size} images, got {x.shape[-2]}x{x.shape[-1]}. Resize with "
            f"torch.nn.functional.interpolate(x, size={img_size}) or build the model for your size"
            f"{resize_hint}."
        )
    if not x.is_floating_point():
        raise ValueError(
            f"Expected float inputs, got {x.dtype}: normalise uint8 images first "
            "(course_lib.data.normalize)."
        )
    if dtype is not None and x.dtype != dtype and not _autocast_on(x):
        raise ValueError(
            f"The inputs are {x.dtype} but the model's weights are {dtype}: convert the inputs "
            f"with x.to({dtype}) (or the model with model.to({x.dtype}) to compute in that "
            "precision; for mixed precision use torch.autocast)."
        )


def _autocast_on(x: torch.Tensor) -> bool:
    return torch.is_autocast_enabled(x.device.type)


def parameter_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of ``module``'s first parameter (float32 for a module without any)."""
    return next((p.dtype for p in module.parameters()), torch.float32)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection.

    ``(B, C_in, H, W) -> (B, C_out, H / stride, W / stride)``; the shortcut becomes a 1x1
    convolution when the shape changes.
    """

    def __init__(self, in_chans: int, out_chans: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, out_chans, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chans)
        self.conv2 = nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chans)
        self.act = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_chans != out_chans:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_chans, out_chans, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_chans),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class ResNetCifar(nn.Module):
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


@register_model("resnet_cifar_tiny")
def resnet_cifar_tiny(**overrides) -> ResNetCifar:
    """Widths 16/32/64, one block per stage (about 0.08M parameters): smoke tests."""
    return ResNetCifar(**{"widths": (16, 32, 64), "depths": (1, 1, 1), **overrides})


@register_model("resnet_cifar_small")
def resnet_cifar_small(**overrides) -> ResNetCifar:
    """Widths 32/64/128, one block per stage (about 0.3M parameters): the CPU baseline."""
    return ResNetCifar(**{"widths": (32, 64, 128), "depths": (1, 1, 1), **overrides})


@register_model("resnet_cifar")
def resnet_cifar(**overrides) -> ResNetCifar:
    """Widths 64/128/256, two blocks per stage (about 2.8M parameters): GPU baseline, teacher."""
    return ResNetCifar(**{"widths": (64, 128, 256), "depths": (2, 2, 2), **overrides})


class ConvPatchEmbed(nn.Module):
    """A convolutional replacement for :class:`~course_lib.models.layers.PatchEmbed`.

    Instead of one ``P x P`` convolution with stride ``P``, ``log2(P)`` stride-2 stages shrink the
    image to the same ``(H / P) x (W / P)`` grid, then a 1x1 convolution ``proj`` maps each cell
    to ``D`` channels, so the transformer sees the same number of tokens.

    - ``kind="conv"``: each stage is a 3x3 convolution, batch norm and ReLU (the "early
      convolutions" stem of Xiao et al., 2021);
    - ``kind="resnet"``: a 3x3 stem and one residual :class:`BasicBlock` per stage (a hybrid
      ViT: a small ResNet in front of the full encoder, as in the ViT paper).

    ``(B, C, H, W) -> (B, N, D)``.
    """

    def __init__(
        self,
        img_size: int = 32,
        patch_size: int = 4,
        in_chans: int = 3,
        embed_dim: int = 192,
        kind: str = "conv",
        width: int = 32,
    ) -> None:
        super().__init__()
        stages = int(math.log2(patch_size))
        if 2**stages != patch_size or img_size % patch_size:
            raise ValueError(
                f"A convolutional stem needs a power-of-two patch size that divides the image "
                f"size; got patch {patch_size} for {img_size}x{img_size} images."
            )
        if kind not in ("conv", "resnet"):
            raise ValueError(f"Unknown stem kind {kind!r}; use 'conv' or 'resnet'.")
        self.img_size = img_size
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2
        layers: list[nn.Module] = []
        chans = in_chans
        if kind == "resnet":
            layers += [
                nn.Conv2d(in_chans, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            chans = width
        for i in range(stages):
            out = width * 2**i
            if kind == "conv":
                layers += [
                    nn.Conv2d(chans, out, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(out),
                    nn.ReLU(inplace=True),
                ]
            else:
                layers.append(BasicBlock(chans, out, stride=2))
            chans = out
        self.stem = nn.Sequential(*layers)
        self.proj = nn.Conv2d(chans, embed_dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.stem(x))  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)
