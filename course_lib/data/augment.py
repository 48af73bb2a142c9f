"""Batch augmentation that runs on the training device, one call per batch.

No per-image PIL work: a batch of uint8 images ``(B, C, H, W)`` is cropped and flipped with one
gather, a TrivialAugment / RandAugment policy from ``torchvision.transforms.v2`` is applied to
groups of images (each group gets its own randomly drawn operation), then the batch is converted
to normalised floats and, optionally, mixed with timm's Mixup / CutMix.

Randomness comes from a per-batch seed, never from the global generators' running state, so a
batch's augmentation depends only on (loader seed, epoch, batch index): an interrupted run that
resumes sees exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

POLICIES = ("trivialaugment", "randaugment")


@dataclass
class AugmentConfig:
    """What to do to each training batch.

    - ``crop_padding``: pad by this many pixels and crop back at a random offset (0: off).
    - ``flip``: random horizontal flips (turn off for datasets where left/right is the label).
    - ``policy``: ``None``, ``"trivialaugment"`` or ``"randaugment"``, applied per group of
      ``policy_groups`` equal parts of the batch.
    - ``mixup_alpha`` / ``cutmix_alpha``: Beta parameters of timm's Mixup and CutMix (0: off);
      ``mix_prob`` is the chance a batch is mixed at all.
    - ``label_smoothing``: folded into the soft targets when mixing is on.
    """

    crop_padding: int = 4
    flip: bool = True
    policy: str | None = None
    policy_groups: int = 16
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mix_prob: float = 1.0
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.policy is not None and self.policy not in POLICIES:
            raise ValueError(f"Unknown augmentation policy {self.policy!r}; expected {POLICIES}.")
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {self.crop_padding}.")

    @property
    def mixes(self) -> bool:
        return self.mix_prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)


def random_crop_flip(
    images: torch.Tensor, padding: int, flip: bool, generator: torch.Generator
) -> torch.Tensor:
    """Random crop after zero padding, and random horizontal flip, for a whole batch at once.

    ``images``: ``(B, C, H, W)`` of any dtype on any device; returns the same shape and dtype.
    Offsets and flips are drawn on the CPU from ``generator`` (cheap, and reproducible).
    """
    b, _, h, w = images.shape
    device = images.device
    out = images
    if padding > 0:
        padded = F.pad(images, (padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(device)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(device)
        rows = dy[:, None] + torch.arange(h, device=device)  # (B, H)
        cols = dx[:, None] + torch.arange(w, device=device)  # (B, W)
        batch = torch.arange(b, device=device)[:, None, None]
        # Gather on a channels-last view: (B, H+2p, W+2p, C)[b, rows, cols] -> (B, H, W, C).
        out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        out = out.permute(0, 3, 1, 2).contiguous()
    if flip:
        mask = (torch.rand(b, generator=generator) < 0.5).to(device)
        out = torch.where(mask[:, None, None, None], out.flip(-1), out)
    return out


def apply_policy(images: torch.Tensor, policy: str, groups: int, seed: int) -> torch.Tensor:
    """Apply a torchvision v2 policy to ``groups`` slices of a uint8 batch ``(B, C, H, W)``.

    torchvision applies one drawn operation to a whole tensor; slicing the batch gives each group
    its own operation and magnitude, which is close enough to per-image policies at a fraction of
    the cost.
    """
    from torchvision.transforms import v2

    transform = v2.TrivialAugmentWide() if policy == "trivialaugment" else v2.RandAugment()
    chunks = torch.chunk(images, max(1, min(groups, images.shape[0])), dim=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.cat([transform(chunk) for chunk in chunks], dim=0)


@contextmanager
def numpy_seeded(seed: int) -> Iterator[None]:
    """Run a block with NumPy's global generator seeded, then restore its previous state.

    timm's Mixup draws from NumPy's global generator; this keeps it reproducible without
    disturbing anyone else's use of that generator.
    """
    saved = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(saved)


class BatchAugment:
    """Turns a uint8 batch into augmented, normalised float inputs and training targets.

    ``__call__(images (B, C, H, W) uint8, labels (B,) int64, seed) -> (inputs (B, C, H, W) float32,
    targets)``; targets are the labels, or soft targets ``(B, num_classes)`` when mixing is on.
    """

    def __init__(
        self,
        config: AugmentConfig,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        num_classes: int,
    ) -> None:
        self.config = config
        self.mean = mean
        self.std = std
        self.num_classes = num_classes
        self.mixup = None
        if config.mixes:
            from timm.data import Mixup

            self.mixup = Mixup(
                mixup_alpha=config.mixup_alpha,
                cutmix_alpha=config.cutmix_alpha,
                prob=config.mix_prob,
                mode="batch",
                label_smoothing=config.label_smoothing,
                num_classes=num_classes,
            )

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        cfg = self.config
        x = images
        if cfg.crop_padding > 0 or cfg.flip:
            x = random_crop_flip(x, cfg.crop_padding, cfg.flip, generator)
        if cfg.policy is not None:
            x = apply_policy(x, cfg.policy, cfg.policy_groups, seed)
        x = normalize(x, self.mean, self.std)
        targets = labels
        if self.mixup is not None:
            if x.shape[0] % 2:
                raise ValueError(
                    f"Mixup/CutMix needs an even batch size, got {x.shape[0]}: use an even "
                    "batch_size with drop_last=True."
                )
            with numpy_seeded(seed):
                x, targets = self.mixup(x, labels)
        return x, targets


def normalize(
    images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float32 ``(x / 255 - mean) / std``, per channel."""
    device = images.device
    scale = 1.0 / (255.0 * torch.tensor(std, dtype=torch.float32, device=device))
    shift = -torch.tensor(mean, dtype=torch.float32, device=device) / torch.tensor(
        std, dtype=torch.float32, device=device
    )
    return images.to(torch.float32) * scale[:, None, None] + shift[:, None, None]


def denormalize(
    inputs: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """Inverse of :func:`normalize`, to floats in [0, 1] ``(B, C, H, W)`` for plotting."""
    m = torch.tensor(mean, device=inputs.device)[:, None, None]
    s = torch.tensor(std, device=inputs.device)[:, None, None]
    return (inputs * s + m).clamp(0, 1)
