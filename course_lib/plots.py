"""The course's figures. Each function draws one figure and returns it (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid


def _to_hwc(image: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` uint8 or float in [0, 1] -> ``(H, W, C)`` float in [0, 1] for imshow."""
    image = image.detach().cpu()
    image = image.float() / 255 if image.dtype == torch.uint8 else image.float().clamp(0, 1)
    return image.permute(1, 2, 0)


def _mosaic(rows: Sequence[torch.Tensor], columns: int, pad: int = 2) -> torch.Tensor:
    """Tile rows of images ``(K, C, H, W)`` into one ``(C, H', W')`` image; short rows are
    padded with white."""
    tiles = []
    for images in rows:
        images = images.detach().cpu()
        images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        if images.shape[0] < columns:
            blank = torch.ones((columns - images.shape[0], *images.shape[1:]))
            images = torch.cat([images, blank])
        tiles.append(images[:columns])
    return make_grid(torch.cat(tiles), nrow=columns, padding=pad, pad_value=1.0)


def _show_mosaic(
    rows: Sequence[torch.Tensor], names: Sequence[str], columns: int, title: str, scale: float
) -> Figure:
    mosaic = _mosaic(rows, columns)
    height, width = mosaic.shape[1:]
    fig, ax = plt.subplots(figsize=(width * scale / 32 + 2.0, height * scale / 32 + 0.5))
    ax.imshow(_to_hwc(mosaic), interpolation="nearest")
    cell = height / len(rows)
    ax.set_yticks([cell * (i + 0.5) for i in range(len(rows))])
    ax.set_yticklabels(names, fontsize=9)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def image_grid(
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: Sequence[str],
    per_class: int = 8,
    title: str = "",
) -> Figure:
    """The first ``per_class`` images of every class, one row per class, named on the left.

    ``images``: ``(N, 3, H, W)`` uint8 or float in [0, 1]; ``labels``: ``(N,)``.
    """
    rows = [images[torch.nonzero(labels == k).flatten()[:per_class]] for k in range(len(classes))]
    return _show_mosaic(rows, classes, per_class, title, scale=0.42)


def image_rows(rows: Mapping[str, torch.Tensor], title: str = "") -> Figure:
    """One row of images per entry: ``{"row name": (K, 3, H, W) uint8 or float in [0, 1]}``."""
    columns = max(t.shape[0] for t in rows.values())
    return _show_mosaic(list(rows.values()), list(rows), columns, title, scale=0.6)


def class_histogram(
    counts: Mapping[str, torch.Tensor], classes: Sequence[str], title: str = ""
) -> Figure:
    """Grouped bars of images per class for several splits: ``{"train": (K,), "test": (K,)}``."""
    fig, ax = plt.subplots(figsize=(9, 3))
    width = 0.8 / len(counts)
    for i, (split, values) in enumerate(counts.items()):
        xs = [k + i * width for k in range(len(classes))]
        ax.bar(xs, values.tolist(), width=width, label=split)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(classes))])
    ax.set_xticklabels(classes, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def learning_curves(history, title: str = "Learning curves") -> Figure:
    """Loss and accuracy per epoch from a :class:`course_lib.train.History` (train and test)."""
    epochs = history["epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_loss.plot(epochs, history["train_loss"], "o-", label="train")
    if history["test_loss"]:
        ax_loss.plot(epochs, history["test_loss"], "o-", label="test")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.set_title("Loss")
    ax_loss.legend()
    ax_acc.plot(epochs, [100 * a for a in history["train_acc"]], "o-", label="train")
    if history["test_acc"]:
        ax_acc.plot(epochs, [100 * a for a in history["test_acc"]], "o-", label="test")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("top-1 accuracy (%)")
    ax_acc.set_title("Accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def per_class_accuracy(accuracy: torch.Tensor, classes: Sequence[str], title: str = "") -> Figure:
    """Bar chart of test accuracy per class, ``accuracy``: ``(K,)`` in [0, 1]."""
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.bar(range(len(classes)), (100 * accuracy).tolist(), color="tab:blue")
    ax.axhline(100 * float(accuracy.mean()), color="k", ls="--", lw=1, label="mean")
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
