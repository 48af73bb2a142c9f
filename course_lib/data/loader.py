"""A data loader over tensors that already sit on the training device.

CIFAR-sized datasets fit in GPU memory many times over, so the fastest loader is no loader:
move the uint8 images to the device once, then each batch is an index into them plus a
batched augmentation (:mod:`course_lib.data.augment`). There are no worker processes and no
per-image Python work.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from course_lib.data.augment import AugmentConfig, BatchAugment, normalize
from course_lib.data.datasets import ImageDataset, ImageSplit, check_images_and_labels


class DeviceLoader:
    """Yields ``(inputs, targets)`` batches: inputs float32 ``(B, C, H, W)`` normalised with
    ``mean``/``std``; targets int64 ``(B,)``, or float ``(B, num_classes)`` with Mixup/CutMix.

    Shuffling and augmentation are drawn from ``(seed, epoch, batch index)`` only. Call
    :meth:`set_epoch` before each epoch (``fit`` does); without it the epoch counter advances by
    one after every full pass.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        num_classes: int,
        device: torch.device | str = "cpu",
        shuffle: bool = False,
        drop_last: bool = False,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        check_images_and_labels(images, labels)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        if len(mean) != images.shape[1] or len(std) != images.shape[1]:
            raise ValueError(
                f"mean/std have {len(mean)}/{len(std)} values but the images have "
                f"{images.shape[1]} channels; give one value per channel."
            )
        if drop_last and images.shape[0] < batch_size:
            raise ValueError(
                f"drop_last=True with {images.shape[0]} images and batch_size={batch_size} "
                "would give no batch at all; use a smaller batch_size."
            )
        if augment is not None and augment.mixes and batch_size % 2:
            raise ValueError(f"Mixup/CutMix needs an even batch_size, got {batch_size}.")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device, torch.int64)
        self.batch_size = batch_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.num_classes = num_classes
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.augment = (
            BatchAugment(augment, self.mean, self.std, num_classes) if augment is not None else None
        )
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        n = self.images.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_images(self) -> int:
        """Images per epoch (after ``drop_last``)."""
        n = self.images.shape[0]
        return len(self) * self.batch_size if self.drop_last else n

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.images.shape[0]
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        batch_seeds = torch.randint(0, 2**62, (len(self),), generator=generator).tolist()
        order = order.to(self.device)
        for i, batch_seed in enumerate(batch_seeds):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            images, labels = self.images[idx], self.labels[idx]
            if self.augment is not None:
                yield self.augment(images, labels, batch_seed)
            else:
                yield normalize(images, self.mean, self.std), labels
        self.epoch += 1


def make_loaders(
    dataset: ImageDataset,
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
    augment: AugmentConfig | None = None,
    train: ImageSplit | None = None,
    test: ImageSplit | None = None,
    eval_batch_size: int | None = None,
    seed: int = 0,
) -> tuple[DeviceLoader, DeviceLoader]:
    """Train and test loaders for ``dataset`` (or the given subsets of it), normalised with the
    dataset's training statistics. The train loader shuffles, drops the last partial batch and
    augments; the test loader does neither."""
    train = train if train is not None else dataset.train
    test = test if test is not None else dataset.test
    for name, split in (("training", train), ("test", test)):
        if len(split) == 0:
            raise ValueError(
                f"The {name} split of {dataset.name!r} is empty: check the subset that made it "
                "(per_class, fraction) and the data folder."
            )
    mean, std = dataset.mean_std
    common = dict(mean=mean, std=std, num_classes=dataset.num_classes, device=device)
    train_loader = DeviceLoader(
        train.images,
        train.labels,
        batch_size=min(batch_size, len(train)),
        shuffle=True,
        drop_last=True,
        augment=augment,
        seed=seed,
        **common,
    )
    test_loader = DeviceLoader(
        test.images, test.labels, batch_size=eval_batch_size or 2 * batch_size, **common
    )
    return train_loader, test_loader
