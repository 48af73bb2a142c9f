"""Convolutional pieces shared by the ResNet and the hybrid ViTs: the residual basic block and
the convolutional stems that turn a ViT into a conv-stem or hybrid ViT.
"""

from __future__ import annotations

import math

import torch
from torch import nn


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
