"""Patches, filters, position embeddings, learned features and tokens (notebooks 01, 03, 04
and 06)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid

from course_lib.plots.common import _log_x_at, _to_hwc


def _rescale(image: torch.Tensor) -> torch.Tensor:
    """Stretch one image ``(C, H, W)`` to [0, 1] for display (filters have no natural range)."""
    image = image.detach().float()
    low, high = image.min(), image.max()
    return (image - low) / (high - low).clamp_min(1e-12)


def mistakes(
    images: torch.Tensor,
    targets: torch.Tensor,
    predictions: torch.Tensor,
    classes: Sequence[str],
    count: int = 16,
    title: str = "",
) -> Figure:
    """Up to ``count`` misclassified images ``(N, 3, H, W)`` (uint8), each captioned
    "true -> predicted". They are taken from every true class in turn (the first mistake of each
    class, then the second, ...), so that a test set stored class by class does not fill the
    figure with its first class."""
    wrong = (predictions != targets).nonzero().flatten()
    by_class = [wrong[targets[wrong] == k].tolist() for k in range(len(classes))]
    chosen: list[int] = []
    for rank in range(max((len(c) for c in by_class), default=0)):
        chosen += [c[rank] for c in by_class if rank < len(c)]
    chosen = chosen[:count]
    columns = 8
    rows = max(1, -(-len(chosen) // columns))
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(columns * 1.35, rows * 1.9 + 0.4),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, chosen):
        ax.imshow(_to_hwc(images[i]), interpolation="nearest")
        ax.set_title(f"{classes[targets[i]]}\n-> {classes[predictions[i]]}", fontsize=7)
    fig.suptitle(title or "Mistakes: true class -> predicted class")
    return fig


def filter_tiles(filters: torch.Tensor, title: str, columns: int = 14, labels=None) -> Figure:
    """Filters ``(K, 3, P, P)`` as RGB tiles, each stretched to its own range."""
    count = filters.shape[0]
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.75, rows * 0.85), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:count]):
        ax.imshow(_to_hwc(_rescale(filters[i])), interpolation="nearest")
        if labels is not None:
            ax.set_title(labels[i], fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def pos_embed_similarity_grid(similarity: torch.Tensor, title: str) -> Figure:
    """The ``(g, g, g, g)`` output of ``pos_embed_similarity``: tile ``(r, c)`` shows how similar
    the embedding of position ``(r, c)`` is to every other position."""
    g = similarity.shape[0]
    fig, axes = plt.subplots(g, g, figsize=(g * 0.7 + 1.2, g * 0.7))
    for r in range(g):
        for c in range(g):
            ax = axes[r, c]
            image = ax.imshow(similarity[r, c], vmin=-1, vmax=1, cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(str(r + 1), fontsize=7)
            if r == g - 1:
                ax.set_xlabel(str(c + 1), fontsize=7)
    fig.supylabel("input patch row")
    fig.supxlabel("input patch column")
    fig.colorbar(image, ax=axes, shrink=0.6, label="cosine similarity")
    fig.suptitle(title)
    return fig


def few_shot_accuracy(results: Mapping[str, Mapping[int, Sequence[float]]], title: str):
    """Few-shot probe accuracies: ``{feature name: {shots: [accuracy per seed]}}``, mean with
    the spread over seeds as error bars."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, by_shots in results.items():
        shots = sorted(by_shots)
        accs = [torch.tensor(by_shots[k]) * 100 for k in shots]
        ax.errorbar(
            shots,
            [a.mean() for a in accs],
            yerr=[a.std() if len(a) > 1 else 0 for a in accs],
            marker="o",
            capsize=3,
            label=name,
        )
    _log_x_at(ax, sorted({k for r in results.values() for k in r}))
    ax.set_xlabel("training images per class (shots)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def patch_sequence(
    image: torch.Tensor, patches: torch.Tensor, patch_size: int, title: str = ""
) -> Figure:
    """An image cut into patches, and the same patches laid out as a sequence.

    ``image``: ``(C, H, W)`` uint8 or float in [0, 1]; ``patches``: ``(N, P * P * C)`` from
    :func:`course_lib.models.layers.patchify` (raster order, ``(P, P, C)`` layout). Top: the
    image with the patch grid drawn on it and each patch's index in a corner; bottom: the ``N``
    patches in sequence order, as the transformer receives them.
    """
    c, h, w = image.shape
    p = patch_size
    rows, cols = h // p, w // p
    tiles = patches.detach().cpu().reshape(-1, p, p, c).permute(0, 3, 1, 2)  # (N, C, P, P)
    tiles = tiles.float() / 255 if tiles.dtype == torch.uint8 else tiles.float()
    n = tiles.shape[0]
    per_line = min(n, 32)
    lines = -(-n // per_line)
    fig = plt.figure(figsize=(10, 4.6 + 0.35 * lines))
    grid = fig.add_gridspec(2, 1, height_ratios=[4.2, 0.32 * lines + 0.2], hspace=0.5)
    ax = fig.add_subplot(grid[0])
    ax.imshow(_to_hwc(image), interpolation="nearest", extent=(0, w, h, 0))
    for k in range(1, cols):
        ax.axvline(k * p, color="white", lw=1.0)
    for k in range(1, rows):
        ax.axhline(k * p, color="white", lw=1.0)
    if rows * cols <= 256:
        for r in range(rows):
            for col in range(cols):
                ax.text(
                    col * p + 0.15 * p,
                    r * p + 0.15 * p,
                    str(r * cols + col),
                    ha="left",
                    va="top",
                    fontsize=5.5,
                    color="white",
                    bbox=dict(boxstyle="square,pad=0.05", fc="black", alpha=0.35, lw=0),
                )
    ax.set_xticks(range(0, w + 1, p))
    ax.set_yticks(range(0, h + 1, p))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("pixel column")
    ax.set_ylabel("pixel row")
    ax.set_title(
        f"{h}x{w} image, {p}x{p} patches: a {rows}x{cols} grid, numbered in raster order",
        fontsize=10,
    )
    strip = fig.add_subplot(grid[1])
    mosaic = make_grid(tiles, nrow=per_line, padding=1, pad_value=1.0)
    strip.imshow(_to_hwc(mosaic), interpolation="nearest")
    ticks = list(range(0, per_line, max(1, per_line // 8)))
    strip.set_xticks([1 + k * (p + 1) + p / 2 - 0.5 for k in ticks])
    strip.set_xticklabels([f"+{k}" for k in ticks], fontsize=7)
    strip.set_yticks([1 + i * (p + 1) + p / 2 - 0.5 for i in range(lines)])
    strip.set_yticklabels(
        [f"{i * per_line}-{min(n, (i + 1) * per_line) - 1}" for i in range(lines)], fontsize=7
    )
    strip.tick_params(length=0)
    strip.set_xlabel("position in the sequence (line start + offset)")
    strip.set_title(
        f"the same image as a sequence of {n} patches"
        + (f", wrapped every {per_line}" if lines > 1 else ""),
        fontsize=10,
    )
    fig.suptitle(title)
    return fig


def position_similarity_maps(
    maps: Mapping[str, torch.Tensor], position: tuple[int, int], title: str = ""
) -> Figure:
    """One panel per position-embedding scheme: ``{name: (g, g)}`` cosine similarities between
    the embedding of ``position = (row, col)`` (marked with a cross) and every grid position.
    Each panel has its own colour scale, from its smallest value to 1."""
    fig, axes = plt.subplots(
        1, len(maps), figsize=(3.4 * len(maps), 3.3), squeeze=False, layout="constrained"
    )
    for ax, (name, similarity) in zip(axes[0], maps.items()):
        similarity = similarity.detach().cpu().float()
        image = ax.imshow(similarity, vmin=float(similarity.min()), vmax=1.0, cmap="viridis")
        ax.plot(position[1], position[0], "rx", ms=8, mew=2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("patch column")
        ax.set_ylabel("patch row")
        fig.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity")
    fig.suptitle(title)
    return fig


def token_similarity(curves: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """Cosine similarity of the class and distillation tokens against depth, one line per entry
    of ``curves`` (``{label: [after the embedding, after block 1, ..., after block L]}``)."""
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    for label, values in curves.items():
        ax.plot(range(len(values)), list(values), marker="o", label=label)
    depth = max(len(v) for v in curves.values())
    ax.set_xticks(range(depth))
    ax.set_xticklabels(["embed"] + [str(i) for i in range(1, depth)])
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("depth (after the embedding, then after each block)")
    ax.set_ylabel("cosine similarity cls vs dist")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
