"""The course's figures. Each function draws one figure and returns it (matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from torchvision.utils import make_grid

from course_lib.claims import standard_error


def _to_hwc(image: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` uint8 or float in [0, 1] -> ``(H, W, C)`` float in [0, 1] for imshow."""
    image = image.detach().cpu()
    image = image.float() / 255 if image.dtype == torch.uint8 else image.float().clamp(0, 1)
    return image.permute(1, 2, 0).numpy()


# --- every notebook: the arms of a claim over seeds ---


def seed_comparison(
    groups: Mapping[str, Mapping[str, Sequence[float]]],
    ylabel: str,
    title: str = "",
    reference: float | None = None,
    reference_label: str = "chance",
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Paired arms of one or more claims, one panel per group: ``{group: {arm: [one value per
    seed]}}``. Each arm is drawn as its mean with a bar of one standard error across seeds, and
    every seed as a dot; the dots of one seed are joined across arms, so a consistent effect shows
    as parallel lines. An arm's colour is the same in every panel (``colors`` fixes it by arm
    name, so that several figures of a notebook agree). ``reference`` (e.g. chance) is a dotted
    line."""
    colours = _arm_colours(list(dict.fromkeys(a for g in groups.values() for a in g)), colors)
    fig, axes = plt.subplots(
        1,
        len(groups),
        figsize=(max(3.2, 1.25 * max(len(g) for g in groups.values()) + 1.4) * len(groups), 3.8),
        squeeze=False,
        sharey=True,
    )
    for ax, (name, group) in zip(axes[0], groups.items()):
        labels = list(group)
        for seed_values in zip(*group.values()):
            ax.plot(range(len(labels)), seed_values, color="grey", lw=0.8, alpha=0.5, zorder=1)
        for x, label in enumerate(labels):
            mean, se, values = _mean_and_se(group[label])
            ax.scatter([x] * len(values), values, s=14, color=colours[label], alpha=0.6, zorder=2)
            if math.isfinite(mean):
                ax.errorbar(
                    x + 0.12,
                    mean,
                    yerr=se,
                    fmt="s",
                    ms=6,
                    capsize=4,
                    color=colours[label],
                    zorder=3,
                )
        if reference is not None:  # labelled on the line itself: a legend box can hide dots
            ax.axhline(reference, color="grey", ls=":", lw=1)
            data_mean = sum(sum(v) for v in group.values()) / sum(len(v) for v in group.values())
            above = reference < data_mean  # write on the side of the line facing the data
            ax.annotate(
                reference_label,
                (1.0, reference),
                xycoords=("axes fraction", "data"),
                xytext=(-3, 2 if above else -2),
                textcoords="offset points",
                ha="right",
                va="bottom" if above else "top",
                fontsize=7,
                color="grey",
            )
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlim(-0.5, len(labels) - 0.3)
        ax.set_title(name, fontsize=10)
    axes[0][0].set_ylabel(ylabel)
    fig.suptitle(
        title + ("\n" if title else "") + "squares: mean +/- one standard error over "
        "seeds; dots: single seeds",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _arm_colours(names: Sequence[str], fixed: Mapping[str, str] | None) -> dict[str, str]:
    """A colour per name: ``fixed[name]`` where given, else the next unused colour of the cycle."""
    fixed = dict(fixed or {})
    spare = iter(c for c in (f"C{i}" for i in range(10)) if c not in fixed.values())
    return {n: fixed[n] if n in fixed else next(spare, "grey") for n in names}


def _mean_and_se(value: float | Sequence[float]) -> tuple[float, float, list[float]]:
    """``(mean, standard error, values)`` of one number or of one number per seed (non-finite
    values, diverged runs, are left out; the error is 0 for a single value)."""
    values = [float(value)] if isinstance(value, (int, float)) else [float(v) for v in value]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, 0.0, values
    se = standard_error(finite) if len(finite) > 1 else 0.0
    return sum(finite) / len(finite), se, values


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


# --- notebooks 03-04: the Vision Transformer, inside a trained ViT ---


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


def attention_distance(distances: torch.Tensor, title: str, reference: float | None = None):
    """Mean attention distance ``(L, H)`` in pixels: one dot per head at each depth."""
    layers, heads = distances.shape
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for h in range(heads):
        ax.scatter(range(1, layers + 1), distances[:, h], s=18, label=f"head {h + 1}")
    if reference is not None:
        ax.axhline(reference, color="grey", ls="--", lw=1, label="uniform attention")
    ax.set_xlabel("network depth (layer)")
    ax.set_ylabel("mean attention distance (pixels)")
    ax.set_xticks(range(1, layers + 1))
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def attention_overlays(
    images: torch.Tensor,
    rows: Mapping[str, torch.Tensor],
    title: str,
    titles: Sequence[str] | None = None,
    uniform: Mapping[str, float] | None = None,
) -> Figure:
    """Images ``(K, 3, H, W)`` (uint8) in the first row; below, one row per entry of ``rows``:
    a ``(K, g, g)`` map (e.g. the class token's attention) upsampled over the image.

    Every map of a row shares one colour scale, from 0 to the row's largest value, shown by a
    colour bar: a map is never stretched to its own maximum, which would make a uniform map look
    structured. ``uniform``: ``{row: value}`` marks on the colour bar what a uniform map would
    show (e.g. ``1 / N`` for attention over ``N`` patches). ``titles``: one per image (e.g.
    ``"cat -> dog"``)."""
    count = images.shape[0]
    fig, axes = plt.subplots(
        1 + len(rows),
        count,
        figsize=(count * 1.2 + 1.2, (1 + len(rows)) * 1.45),
        squeeze=False,
        layout="constrained",
    )
    size = images.shape[-1]
    for j in range(count):
        axes[0, j].imshow(_to_hwc(images[j]), interpolation="nearest")
        if titles is not None:
            axes[0, j].set_title(titles[j], fontsize=7)
    for i, (name, maps) in enumerate(rows.items(), start=1):
        maps = maps.detach().float().cpu()
        vmax = max(float(maps.max()), 1e-12)
        for j in range(count):
            heat = torch.nn.functional.interpolate(maps[j][None, None], size=size, mode="nearest")
            axes[i, j].imshow(_to_hwc(images[j]), interpolation="nearest")
            shown = axes[i, j].imshow(
                heat[0, 0].numpy(),
                cmap="inferno",
                alpha=0.65,
                vmin=0.0,
                vmax=vmax,
                interpolation="nearest",
            )
        bar = fig.colorbar(shown, ax=list(axes[i]), fraction=0.02, pad=0.01)
        bar.solids.set_alpha(1.0)
        bar.ax.tick_params(labelsize=6)
        if uniform and name in uniform:
            bar.ax.axhline(uniform[name], color="cyan", lw=2)
            bar.set_label("cyan: uniform", fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=8)
    for i, name in enumerate(rows, start=1):
        axes[i, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title, fontsize=10)
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
    ax.set_xscale("log")
    ax.set_xticks(sorted({k for r in results.values() for k in r}))
    ax.get_xaxis().set_major_formatter(plt.matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("training images per class (shots)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- notebook 01: images as sequences ---


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


def accuracy_bars(
    results: Mapping[str, Mapping[str, float]], chance: float, title: str = ""
) -> Figure:
    """Grouped bars of accuracies in [0, 1]: ``{model: {condition: accuracy}}``, with chance as
    a dashed line."""
    conditions = list(dict.fromkeys(k for r in results.values() for k in r))
    fig, ax = plt.subplots(figsize=(2.2 * len(results) + 3.0, 3.4))
    width = 0.8 / len(conditions)
    for i, condition in enumerate(conditions):
        xs = [m + (i - (len(conditions) - 1) / 2) * width for m in range(len(results))]
        values = [100 * r.get(condition, float("nan")) for r in results.values()]
        bars = ax.bar(xs, values, width=width, label=condition)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.axhline(100 * chance, color="k", ls="--", lw=1, label="chance")
    ax.set_xticks(range(len(results)))
    ax.set_xticklabels(list(results), fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


# --- notebook 02: self-attention ---


def attention_matrices(matrices: Mapping[str, torch.Tensor], title: str) -> Figure:
    """Side-by-side heat maps of ``(N, N)`` matrices (rows: queries, columns: keys); each panel
    has its own colour scale."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 3.8), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], matrices.items()):
        matrix = matrix.detach().float().cpu()
        diverging = bool((matrix < 0).any())  # signed values: a colour scale centred on 0
        limit = matrix.abs().max().item()
        image = ax.imshow(
            matrix,
            cmap="RdBu_r" if diverging else "viridis",
            vmin=-limit if diverging else 0,
            vmax=limit,
        )
        ax.set_title(name)
        ax.set_xlabel("key token j")
        ax.set_ylabel("query token i")
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def softmax_saturation(
    widths: Sequence[int],
    stats: Mapping[str, Mapping[str, Sequence[float]]],
    references: Mapping[str, float] | None = None,
    log_y: Sequence[str] = (),
    title: str = "Softmax saturation: scores q.k with and without 1/sqrt(d)",
) -> Figure:
    """One panel per statistic against the width ``d`` of queries and keys (log axis), one line
    per way of scoring: ``stats[scoring][statistic]`` holds one value per width.

    ``references`` draws a dashed horizontal line in the named panels (e.g. the entropy of
    uniform attention); the panels named in ``log_y`` get a logarithmic y axis."""
    names = list(next(iter(stats.values())))
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.4), squeeze=False)
    for ax, statistic in zip(axes[0], names):
        for scoring, values in stats.items():
            ax.plot(widths, values[statistic], marker="o", ms=4, label=scoring)
        if references and statistic in references:
            ax.axhline(references[statistic], color="grey", ls="--", lw=1, label="uniform rows")
        ax.set_xscale("log", base=2)
        if statistic in log_y:
            ax.set_yscale("log", base=2)
        ax.set_xlabel("width d of queries and keys")
        ax.set_ylabel(statistic)
        ax.set_title(statistic, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def data_dependent_filters(
    images: torch.Tensor,
    attention: torch.Tensor,
    conv: torch.Tensor,
    query: int,
    names: Sequence[str],
    title: str,
) -> Figure:
    """How one query patch mixes the patch grid, per image: attention vs a convolution.

    ``images``: ``(K, 3, H, W)`` uint8, one row each. Columns: the image with the query patch
    outlined; the query's attention weights ``attention[k]`` of shape ``(g, g)``; the
    convolution's weights ``conv[k]`` of shape ``(g, g)`` for the same query. Each weight column
    shares one colour scale across images, so equal maps look equal."""
    count, grid = images.shape[0], attention.shape[-1]
    patch = images.shape[-1] / grid
    row, col = divmod(query, grid)
    fig, axes = plt.subplots(count, 3, figsize=(9.6, 3.0 * count), squeeze=False)
    columns = (
        ("attention weights (computed from the image)", attention),
        ("3x3 convolution weights (fixed)", conv),
    )
    for k in range(count):
        ax = axes[k, 0]
        ax.imshow(_to_hwc(images[k]), interpolation="nearest")
        ax.add_patch(
            plt.Rectangle(
                (col * patch - 0.5, row * patch - 0.5),
                patch,
                patch,
                fill=False,
                edgecolor="red",
                lw=2,
            )
        )
        ax.set_title(f"{names[k]}: query patch {query}", fontsize=9)
        ax.set_xlabel("pixel column")
        ax.set_ylabel("pixel row")
        for ax, (name, maps) in zip(axes[k, 1:], columns):
            maps = maps.detach().float().cpu()
            image = ax.imshow(maps[k], cmap="viridis", vmin=0, vmax=maps.max().item())
            ax.plot(col, row, marker="x", color="red", ms=8)
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("patch column")
            ax.set_ylabel("patch row")
            fig.colorbar(image, ax=ax, shrink=0.75)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- notebook 05: inductive bias and data ---


def _log_x_at(ax: plt.Axes, values: Sequence[float], base: int = 10) -> None:
    """A logarithmic x axis with one plain-number tick at each of ``values`` and no others."""
    ax.set_xscale("log", base=base)
    ax.set_xticks(values)
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.minorticks_off()


def layer_costs(params: Mapping[str, float], macs: Mapping[str, float], title: str = "") -> Figure:
    """Two bar panels on log scales: parameters and multiply-adds of each layer (``{layer:
    count}``, same keys in both)."""
    names = list(params)
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * len(names) + 1.6), sharey=True)
    for ax, values, label in ((axes[0], params, "parameters"), (axes[1], macs, "multiply-adds")):
        bars = ax.barh(range(len(names)), [values[n] for n in names], color="tab:blue")
        ax.bar_label(bars, labels=[f"{values[n]:,.0f}" for n in names], fontsize=7, padding=2)
        ax.set_xscale("log")
        ax.set_xlim(right=max(values.values()) * 30)
        ax.set_xlabel(f"{label} (log scale)")
        ax.set_title(label)
    axes[0].set_yticks(range(len(names)))
    axes[0].set_yticklabels(names, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_vs_data(
    curves: Mapping[str, Mapping[int, float | Sequence[float]]],
    chance: float,
    title: str = "",
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Test accuracy (in [0, 1]) against training images per class on a log x axis, one line per
    model: ``{model: {images_per_class: accuracy or [one accuracy per seed]}}``; a model may cover
    only some sizes. With several seeds a point is their mean with a bar of one standard error,
    and each seed is a faint dot. ``colors`` fixes a model's colour by name."""
    sizes = sorted({n for curve in curves.values() for n in curve})
    colours = _arm_colours(list(curves), colors)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    several = False
    for name, curve in curves.items():
        xs = sorted(curve)
        stats = [_mean_and_se(curve[n]) for n in xs]
        for x, (_, _, values) in zip(xs, stats):
            if len(values) > 1:
                several = True
                ax.scatter(
                    [x] * len(values),
                    [100 * v for v in values],
                    s=10,
                    alpha=0.35,
                    color=colours[name],
                    zorder=2,
                )
        ax.errorbar(
            xs,
            [100 * m for m, _, _ in stats],
            yerr=[100 * e for _, e, _ in stats],
            marker="o",
            capsize=3,
            label=name,
            color=colours[name],
            zorder=3,
        )
    ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
    _log_x_at(ax, sizes)
    ax.set_xlabel("training images per class (log scale)")
    ax.set_ylabel("test accuracy (%)")
    note = "mean +/- one standard error over seeds; dots: single seeds" if several else ""
    ax.set_title(title + ("\n" + note if title and note else note), fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def patch_tradeoff(
    forward_ms: Mapping[int, float],
    accuracy: Mapping[int, Mapping[int, float]],
    image_size: int,
    title: str = "",
) -> Figure:
    """Left: measured forward time per patch size (``{patch: ms}``), bars labelled with the token
    count. Right: test accuracy per patch size, one line per training-set size (``{images_per_class:
    {patch: accuracy or [one accuracy per seed]}}``, drawn as the mean with a bar of one standard
    error; patch sizes that were not trained are left out)."""
    patches = sorted(forward_ms)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    labels = [f"patch {p}\n{(image_size // p) ** 2} tokens" for p in patches]
    bars = axes[0].bar(labels, [forward_ms[p] for p in patches], color="tab:orange")
    axes[0].bar_label(bars, fmt="%.1f", fontsize=8)
    axes[0].set_ylabel("forward time of one batch (ms)")
    axes[0].set_title("cost")
    for per_class, by_patch in accuracy.items():
        xs = [p for p in patches if p in by_patch]
        stats = [_mean_and_se(by_patch[p]) for p in xs]
        axes[1].errorbar(
            xs,
            [100 * m for m, _, _ in stats],
            yerr=[100 * e for _, e, _ in stats],
            marker="o",
            capsize=3,
            label=f"{per_class} images per class",
        )
    _log_x_at(axes[1], patches, base=2)
    axes[1].set_xlabel("patch size (pixels)")
    axes[1].set_ylabel("test accuracy (%)")
    axes[1].set_title("accuracy")
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- notebook 08: CaiT class attention and talking heads ---


def insertion_depth(
    by_depth: Mapping[int, float],
    references: Mapping[str, float],
    total_blocks: int,
    chance: float,
    title: str = "",
    marked: Mapping[str, tuple[int, float]] | None = None,
) -> Figure:
    """Test accuracy (in [0, 1]) against the number of patch-only blocks ``k`` before the class
    token enters (``{k: accuracy}``, out of ``total_blocks``). ``marked``: other models drawn as
    single points at their own insertion depth (``{name: (k, accuracy)}``); ``references``:
    models without an insertion depth, as horizontal lines (``{name: accuracy}``); chance dotted."""
    depths = sorted(by_depth)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(
        depths,
        [100 * by_depth[k] for k in depths],
        "o-",
        color="tab:blue",
        label="self-attention over [cls; patches]",
    )
    for i, (name, (depth, accuracy)) in enumerate((marked or {}).items()):
        ax.plot(
            [depth], [100 * accuracy], marker="*", ms=13, ls="none", color=f"C{i + 1}", label=name
        )
    styles = ("--", "-.", ":")
    offset = len(marked or {})
    for i, (name, accuracy) in enumerate(references.items()):
        ax.axhline(
            100 * accuracy,
            ls=styles[i % len(styles)],
            color=f"C{i + 1 + offset}",
            lw=1.5,
            label=name,
        )
    ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xticks(range(0, total_blocks))
    ax.set_xlim(-0.5, total_blocks - 0.5)
    ax.set_xlabel(f"patch-only blocks before the class token enters (of {total_blocks})")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def head_mixing(matrices: Mapping[str, torch.Tensor], title: str) -> Figure:
    """Talking-heads mixing matrices ``(H, H)`` side by side (rows: the new head ``g``, columns:
    the head ``h`` it draws on), on a colour scale centred on 0, each entry written in its cell."""
    fig, axes = plt.subplots(
        1, len(matrices), figsize=(2.4 * len(matrices) + 0.6, 2.8), squeeze=False
    )
    limit = max(m.detach().abs().max().item() for m in matrices.values())
    for ax, (name, matrix) in zip(axes[0], matrices.items()):
        matrix = matrix.detach().float().cpu()
        heads = matrix.shape[0]
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
        for g in range(heads):
            for h in range(heads):
                ax.text(h, g, f"{matrix[g, h]:.2f}", ha="center", va="center", fontsize=7)
        ticks = list(range(heads))
        ax.set_xticks(ticks, [str(t + 1) for t in ticks])
        ax.set_yticks(ticks, [str(t + 1) for t in ticks])
        ax.set_xlabel("source head h")
        ax.set_title(name, fontsize=9)
    axes[0, 0].set_ylabel("mixed head g")
    fig.subplots_adjust(left=0.08, right=0.86, bottom=0.2, top=0.8, wspace=0.3)
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="mixing weight")
    fig.suptitle(title, fontsize=10)
    return fig


# --- notebook 06: DeiT distillation ---


def distillation_students(
    students: Mapping[str, float],
    teacher: float,
    chance: float,
    heads: Mapping[str, float] | None = None,
    title: str = "",
) -> Figure:
    """Left: test accuracy (in [0, 1]) of each student, ``{student: accuracy}``, as bars, with the
    teacher's accuracy dashed and chance dotted. Right (when ``heads`` is given): the accuracy of
    each way of reading the distilled student, ``{"class head": ..., "average": ...}``."""
    panels = 2 if heads else 1
    fig, axes = plt.subplots(
        1, panels, figsize=(4.6 + 3.4 * (panels - 1) + 0.6 * len(students), 3.6), squeeze=False
    )
    groups = [(axes[0][0], students, "students (one budget)", "tab:blue")]
    if heads:
        groups.append((axes[0][1], heads, "heads of the distilled student", "tab:green"))
    for ax, values, subtitle, colour in groups:
        bars = ax.bar(range(len(values)), [100 * v for v in values.values()], color=colour)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.axhline(100 * teacher, color="tab:red", ls="--", lw=1.2, label="CNN teacher")
        ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(list(values), fontsize=8, rotation=15, ha="right")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, max(100 * teacher, *(100 * v for v in values.values())) * 1.15)
        ax.set_title(subtitle, fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
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


def attention_distance_by_model(
    distances: Mapping[str, torch.Tensor], title: str = "", reference: float | None = None
) -> Figure:
    """Mean attention distance in pixels of several models, ``{model: (L, H) tensor}``: each head
    as a faint dot, the mean over heads as a line; ``reference``: uniform attention."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, dist) in enumerate(distances.items()):
        dist = torch.as_tensor(dist).float()
        layers = range(1, dist.shape[0] + 1)
        colour = colours[i % len(colours)]
        offset = (i - (len(distances) - 1) / 2) * 0.08
        for h in range(dist.shape[1]):
            ax.scatter([x + offset for x in layers], dist[:, h], s=14, alpha=0.4, color=colour)
        ax.plot(layers, dist.mean(dim=1), marker="o", color=colour, label=f"{label} (head mean)")
    if reference is not None:
        ax.axhline(reference, color="grey", ls="--", lw=1, label="uniform attention")
    ax.set_xlabel("network depth (layer)")
    ax.set_ylabel("mean attention distance (pixels)")
    ax.set_xticks(range(1, max(d.shape[0] for d in distances.values()) + 1))
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- notebook 07: CaiT LayerScale and depth ---


def _plottable(value: float | None, log: bool) -> bool:
    """A value a line can show: a finite number (and positive on a log axis)."""
    return value is not None and math.isfinite(value) and (value > 0 or not log)


def per_block_curves(
    panels: Mapping[str, Mapping[str, Sequence[float]]],
    ylabels: Mapping[str, str],
    title: str = "",
    log_y: bool | Mapping[str, bool] = True,
    share_y: bool = False,
) -> Figure:
    """One panel per entry of ``panels`` (``{panel title: {model: [one value per block]}}``), one
    line per model against the block index (1 = first block); ``ylabels`` names each panel's y
    axis; ``log_y`` is one choice for all panels or ``{panel title: bool}``; ``share_y`` gives
    every panel the same y range (for panels meant to be compared). On a log axis, values that
    are not finite or not positive are left out."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False, sharey=share_y
    )
    for ax, (name, curves) in zip(axes[0], panels.items()):
        log = log_y.get(name, True) if isinstance(log_y, Mapping) else log_y
        for label, values in curves.items():
            xs = [i + 1 for i, v in enumerate(values) if _plottable(v, log)]
            ax.plot(xs, [values[i - 1] for i in xs], marker="o", ms=3, label=label)
        if log:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("block (1 = first)")
        ax.set_ylabel(ylabels.get(name, ""))
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def depth_sweep(
    results: Mapping[str, Mapping[int, float | None]], chance: float, title: str = ""
) -> Figure:
    """Test accuracy (in [0, 1]) against depth, one line per residual variant: ``{variant:
    {depth: accuracy, or None for a run whose loss became NaN/inf}}``. Diverged runs are drawn
    as crosses on the chance line and labelled "diverged"."""
    depths = sorted({d for curve in results.values() for d in curve})
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, curve in results.items():
        xs = sorted(d for d, acc in curve.items() if _plottable(acc, log=False))
        (line,) = ax.plot(xs, [100 * curve[d] for d in xs], marker="o", label=name)
        for d in sorted(d for d, acc in curve.items() if not _plottable(acc, log=False)):
            ax.scatter([d], [100 * chance], marker="x", s=60, color=line.get_color(), zorder=3)
            ax.annotate(
                f"{name}: diverged",
                (d, 100 * chance),
                textcoords="offset points",
                xytext=(-40, 8),
                fontsize=7,
                color=line.get_color(),
            )
    ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xticks(depths)
    ax.set_xlabel("depth (transformer blocks)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- notebook 11: side by side ---


def accuracy_vs_time(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    target: float | None = None,
    chance: float | None = None,
    title: str = "",
) -> Figure:
    """Test accuracy (in [0, 1]) against cumulative training time in seconds, one line per model:
    ``{model: (seconds, accuracies)}`` with one point per evaluation; ``target`` as a dashed
    line, ``chance`` dotted."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, (seconds, accuracies) in curves.items():
        ax.plot(list(seconds), [100 * a for a in accuracies], marker="o", label=name)
    if target is not None:
        ax.axhline(100 * target, color="k", ls="--", lw=1, label=f"target {100 * target:.0f}%")
    if chance is not None:
        ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xlim(left=0)
    ax.set_xlabel("training time (s, cumulative; evaluation excluded)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def model_tradeoffs(
    models: Mapping[str, Mapping[str, float]], chance: float | None = None, title: str = ""
) -> Figure:
    """Two scatter panels with one point per model (named in a shared legend): test accuracy (in
    [0, 1]) against the parameter count and against training images per second, log x axes.
    ``{model: {"parameters": ..., "images_per_s": ..., "accuracy": ...}}``; an optional
    ``"accuracy_se"`` (in [0, 1], e.g. one standard error over seeds) is drawn as a vertical bar."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    panels = (
        (axes[0], "parameters", "parameters (log scale)", "accuracy vs size"),
        (axes[1], "images_per_s", "training images per second (log scale)", "accuracy vs speed"),
    )
    for ax, key, xlabel, subtitle in panels:
        # one colour per model (the order of the other plots), named in a shared legend: text
        # labels next to the points collide when two models are close in both coordinates
        markers = "osD^v<>ph*"
        for i, (name, values) in enumerate(models.items()):
            x, y = values[key], 100 * values["accuracy"]
            ax.scatter([x], [y], s=45, color=f"C{i}", marker=markers[i % len(markers)], label=name)
            if "accuracy_se" in values:
                ax.errorbar(
                    [x], [y], yerr=[100 * values["accuracy_se"]], color=f"C{i}", capsize=3, lw=1
                )
        if chance is not None:
            ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}"))
        ax.xaxis.set_minor_formatter(  # plain numbers at 2x and 5x each power of ten only
            FuncFormatter(lambda value, _pos: f"{value:,.0f}" if f"{value:.0e}"[0] in "25" else "")
        )
        ax.tick_params(axis="x", which="both", labelsize=7)
        ax.margins(x=0.3, y=0.15)
        ax.set_xlabel(xlabel)
        ax.set_title(subtitle)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    return fig


# --- notebook 09: ConViT, gated positional self-attention ---


def head_maps(
    rows: Mapping[str, torch.Tensor],
    title: str,
    query: tuple[int, int] | None = None,
    column_names: Sequence[str] | None = None,
    shared_scale: bool = False,
) -> Figure:
    """Attention maps of one query over a ``g x g`` patch grid: one row per entry of ``rows``
    (``{row name: (K, g, g)}``, e.g. the heads of one layer), one column per map. ``query``
    ``(row, col)`` is marked with a red cross. Each panel has its own colour scale unless
    ``shared_scale`` (one scale for the whole figure)."""
    names = list(rows)
    count = max(m.shape[0] for m in rows.values())
    fig, axes = plt.subplots(
        len(names), count, figsize=(1.55 * count + 1.4, 1.55 * len(names) + 0.7), squeeze=False
    )
    top = max(m.detach().float().max().item() for m in rows.values())
    for i, name in enumerate(names):
        maps = rows[name].detach().float().cpu()
        for j in range(count):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= maps.shape[0]:
                ax.axis("off")
                continue
            vmax = top if shared_scale else maps[j].max().item()
            image = ax.imshow(maps[j], cmap="viridis", vmin=0, vmax=max(vmax, 1e-12))
            if query is not None:
                ax.plot(query[1], query[0], marker="x", color="red", ms=6, mew=1.5)
            if i == 0 and column_names is not None:
                ax.set_title(column_names[j], fontsize=8)
        axes[i, 0].set_ylabel(name, fontsize=8)
    if shared_scale:
        fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    fig.supxlabel("key patch column", fontsize=9)
    fig.suptitle(title, fontsize=10)
    if not shared_scale:
        fig.tight_layout()
    return fig


def gates_and_nonlocality(
    gates: torch.Tensor,
    distances: torch.Tensor,
    title: str,
    reference: float | None = None,
    epochs: Sequence[int] | None = None,
) -> Figure:
    """ConViT over training: top row each GPSA head's gate ``sigmoid(lambda_h)`` (1: positional,
    0: content), bottom row its nonlocality (mean attention distance, pixels), one column per
    GPSA layer. Both tensors are ``(T, L, H)``, one entry per epoch in ``epochs`` (default
    1..T); ``reference`` (e.g. the distance of uniform attention) is drawn dashed below."""
    steps, layers, heads = gates.shape
    xs = list(epochs) if epochs is not None else list(range(1, steps + 1))
    fig, axes = plt.subplots(2, layers, figsize=(3.0 * layers + 1.6, 5.2), squeeze=False)
    top = max(distances.max().item(), reference or 0.0) * 1.08
    for layer in range(layers):
        for h in range(heads):
            axes[0, layer].plot(xs, gates[:, layer, h], marker=".", label=f"head {h + 1}")
            axes[1, layer].plot(xs, distances[:, layer, h], marker=".", label=f"head {h + 1}")
        axes[0, layer].axhline(0.5, color="grey", ls=":", lw=1)
        axes[0, layer].set_ylim(0, 1)
        axes[0, layer].set_title(f"GPSA layer {layer + 1}", fontsize=9)
        axes[1, layer].set_ylim(0, top)
        if reference is not None:
            axes[1, layer].axhline(reference, color="grey", ls="--", lw=1, label="uniform")
        axes[1, layer].set_xlabel("epoch")
    for ax in axes.flat:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("gate sigmoid(lambda)\n(1 = positional)")
    axes[1, 0].set_ylabel("nonlocality (pixels)")
    # one legend beside the panels: inside one it would cover that panel's curves
    handles, labels = axes[1, -1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.0 / (3.0 * layers + 1.6), 1))
    return fig


def sample_efficiency(
    ours: Mapping[str, Mapping[float, float]],
    paper: Mapping[str, Mapping[float, float]],
    chance: float,
    title: str,
    ours_title: str,
    paper_title: str,
) -> Figure:
    """Two panels of accuracy (in [0, 1]) against the fraction of the training set used (log
    axis, in %): left this run's models (``{model: {fraction: accuracy}}``), right published
    numbers on another dataset, kept apart so they are never read as this run's."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.9))
    for ax, curves in ((axes[0], ours), (axes[1], paper)):
        fractions = sorted({f for curve in curves.values() for f in curve})
        for name, curve in curves.items():
            xs = sorted(curve)
            ax.plot([100 * f for f in xs], [100 * curve[f] for f in xs], marker="o", label=name)
        _log_x_at(ax, [100 * f for f in fractions])
        if ax is axes[0]:
            ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
        ax.set_xlabel("share of the training set (%, log scale)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_ylabel("top-1 accuracy (%)")
    axes[0].set_title(ours_title, fontsize=9)
    axes[1].set_title(paper_title, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# --- notebook 10: how do vision transformers work? ---

_LAYER_SHADES = {"msa": ("0.85", "MSA sub-layer"), "subsample": ("#c6dbef", "subsampling block")}


def _normalised_depth(count: int) -> list[float]:
    return [i / max(1, count - 1) for i in range(count)]


def fourier_spectra(
    spectra: Mapping[str, Sequence[tuple[torch.Tensor, torch.Tensor]]], title: str = ""
) -> Figure:
    """One panel per model: the relative log amplitude of every layer's feature maps against
    frequency, ``{model: [(frequencies, amplitudes) per layer]}`` (frequencies in units of pi;
    each layer may have its own grid), coloured from the first layer (dark) to the last
    (light)."""
    fig, axes = plt.subplots(
        1, len(spectra), figsize=(3.4 * len(spectra), 3.2), sharey=True, squeeze=False
    )
    cmap = plt.get_cmap("plasma")
    for ax, (name, layers) in zip(axes[0], spectra.items()):
        for i, (freqs, amplitude) in enumerate(layers):
            colour = cmap(0.85 * i / max(1, len(layers) - 1))
            label = "first layer" if i == 0 else "last layer" if i == len(layers) - 1 else None
            ax.plot(freqs.tolist(), amplitude.tolist(), color=colour, lw=1.2, label=label)
        ax.set_xlabel("frequency (units of pi)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("relative log amplitude")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def by_depth(
    curves: Mapping[str, tuple[Sequence[float], Sequence[str]]],
    ylabel: str,
    title: str = "",
    log_y: bool = False,
) -> Figure:
    """One panel per model: a quantity measured after every layer (``{model: (values, kinds)}``)
    against normalised depth (0: the embedding, 1: the last layer). ``kinds`` names each layer;
    the segment that ends at an ``"msa"`` layer is shaded grey, one that ends at a
    ``"subsample"`` layer blue, as in Park & Kim's figures."""
    fig, axes = plt.subplots(1, len(curves), figsize=(3.4 * len(curves), 3.2), squeeze=False)
    for ax, (name, (values, kinds)) in zip(axes[0], curves.items()):
        xs = _normalised_depth(len(values))
        step = 1 / max(1, len(values) - 1)
        shaded = set()
        for x, kind in zip(xs, kinds):  # shade the segment that ends at a layer's output
            if kind in _LAYER_SHADES:
                colour, label = _LAYER_SHADES[kind]
                ax.axvspan(x - step, x, color=colour, lw=0, label=None if kind in shaded else label)
                shaded.add(kind)
        ax.plot(xs, list(values), "o-", color="tab:red", ms=4)
        ax.set_xlim(0, 1)
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel("normalised depth")
        ax.set_ylabel(ylabel)
        ax.set_title(name)
        if shaded:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def band_noise_accuracy(
    accuracy: Mapping[str, Mapping[tuple[float, float], float]],
    clean: Mapping[str, float],
    norm: float,
    title: str = "",
) -> Figure:
    """The drop in test accuracy (percentage points) caused by noise of L2 norm ``norm`` in each
    frequency band, one line per model: ``accuracy = {model: {(low, high): accuracy}}``,
    ``clean = {model: accuracy without noise}`` (accuracies in [0, 1])."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, by_band in accuracy.items():
        bands = sorted(by_band)
        centres = [(low + high) / 2 for low, high in bands]
        drops = [100 * (clean[name] - by_band[b]) for b in bands]
        ax.plot(centres, drops, "o-", label=name)
    bands = sorted({b for by_band in accuracy.values() for b in by_band})
    ax.set_xticks([(low + high) / 2 for low, high in bands])
    ax.set_xticklabels([f"{low:g}-{high:g}" for low, high in bands], fontsize=8)
    ax.axhline(0, color="grey", lw=1)
    ax.set_xlabel("noise frequency band (units of the Nyquist frequency)")
    ax.set_ylabel("accuracy drop (points)")
    ax.set_title(title or f"Noise of norm {norm:g} in one frequency band")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def hessian_eigenvalues(
    top: Mapping[str, Sequence[float]],
    spectra: Mapping[str, Sequence[tuple[torch.Tensor, torch.Tensor]]],
    title: str = "",
) -> Figure:
    """Left: the dominant Hessian eigenvalues (largest magnitude, PyHessian's convention) found on
    each batch, one row per model (``{model: [eigenvalue, ...]}``). Right: the stochastic Lanczos
    quadrature nodes and weights (``{model: [(nodes, weights) per batch]}``) on a symmetric-log
    axis, negative nodes included."""
    names = list(top)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.45 * len(names) + 2.4))
    for row, name in enumerate(names):
        values = list(top[name])
        left.scatter(values, [row] * len(values), s=30, alpha=0.8, color=f"C{row}")
        for i, (nodes, weights) in enumerate(spectra.get(name, ())):
            right.scatter(
                nodes.tolist(),
                weights.tolist(),
                s=14,
                alpha=0.7,
                color=f"C{row}",
                label=name if i == 0 else None,
            )
    left.set_yticks(range(len(names)))
    left.set_yticklabels(names, fontsize=8)
    left.invert_yaxis()
    left.axvline(0, color="grey", lw=1)
    left.set_xlabel("dominant eigenvalue per batch (largest |value|)")
    left.set_title("top Hessian eigenvalues")
    left.grid(alpha=0.3)
    right.set_xscale("symlog", linthresh=1e-2)
    right.set_yscale("log")
    right.axvline(0, color="grey", lw=1)
    right.set_xlabel("eigenvalue (symmetric log scale)")
    right.set_ylabel("quadrature weight")
    right.set_title("Lanczos spectrum (nodes and weights)")
    right.legend(fontsize=7)
    right.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_landscapes(
    lines: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    surfaces: Mapping[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    title: str = "",
    dashed: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    dashed_label: str = "NLL only",
) -> Figure:
    """Left: the rise of the loss along one filter-normalised direction, ``{model: (alphas,
    losses)}``, as ``loss(alpha) - loss(0)``; ``dashed`` adds a second set of lines in the same
    colours (e.g. the NLL without the weight-decay term). Then one contour panel per model of the
    loss on a plane, ``{model: (alphas, betas, losses (A, B))}``."""
    fig, axes = plt.subplots(1, 1 + len(surfaces), figsize=(3.6 * (1 + len(surfaces)), 3.3))
    axes = list(axes) if len(surfaces) else [axes]
    for index, name in enumerate(lines):
        styles = ((lines, "o-", name), (dashed or {}, "--", f"{name}, {dashed_label}"))
        for curves, style, label in styles:
            if name not in curves:
                continue
            xs, ys = curves[name]
            centre = ys[torch.as_tensor(xs).abs().argmin()]
            axes[0].plot(
                torch.as_tensor(xs).tolist(),
                (ys - centre).tolist(),
                style,
                ms=3,
                color=f"C{index}",
                label=label,
            )
    axes[0].set_xlabel("step along the direction (alpha)")
    axes[0].set_ylabel("loss(alpha) - loss(0)")
    axes[0].set_title("1-D slice")
    axes[0].legend(fontsize=7)
    axes[0].grid(alpha=0.3)
    for ax, (name, (alphas, betas, losses)) in zip(axes[1:], surfaces.items()):
        contour = ax.contourf(
            torch.as_tensor(betas).tolist(),
            torch.as_tensor(alphas).tolist(),
            losses.tolist(),
            levels=12,
            cmap="viridis",
        )
        ax.contour(
            torch.as_tensor(betas).tolist(),
            torch.as_tensor(alphas).tolist(),
            losses.tolist(),
            levels=12,
            colors="k",
            linewidths=0.3,
        )
        fig.colorbar(contour, ax=ax, shrink=0.85)
        ax.plot([0], [0], "r+", ms=10)
        ax.set_xlabel("beta (second direction)")
        ax.set_ylabel("alpha (first direction)")
        ax.set_title(f"{name}: NLL + L2")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def band_noise_drops(
    drops: Mapping[float, Mapping[str, Mapping[str, Sequence[float]]]],
    title: str = "",
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Accuracy drop (points) under noise restricted to one frequency band, one panel per noise
    norm: ``drops = {norm: {model: {band label: [drop per noise seed]}}}``. Each model is a line of
    the mean drop with a bar of one standard error over the seeds; the panels share the y axis, so
    a larger norm reads as a larger drop."""
    models = list(dict.fromkeys(m for by_model in drops.values() for m in by_model))
    colours = _arm_colours(models, colors)
    fig, axes = plt.subplots(
        1, len(drops), figsize=(3.3 * len(drops) + 1.6, 3.5), squeeze=False, sharey=True
    )
    for ax, (norm, by_model) in zip(axes[0], drops.items()):
        for index, (name, by_band) in enumerate(by_model.items()):
            bands = list(by_band)
            stats = [_mean_and_se(by_band[b]) for b in bands]
            offset = (index - (len(by_model) - 1) / 2) * 0.08  # keep the error bars apart
            ax.errorbar(
                [i + offset for i in range(len(bands))],
                [mean for mean, _, _ in stats],
                yerr=[se for _, se, _ in stats],
                fmt="o-",
                ms=4,
                capsize=3,
                color=colours[name],
                label=name,
            )
        ax.set_xticks(range(len(bands)), bands, fontsize=7, rotation=30)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"noise norm {norm:g}", fontsize=10)
        ax.set_xlabel("frequency band (units of Nyquist)", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy drop (points)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False)
    fig.suptitle(
        (title + "\n" if title else "") + "mean +/- one standard error over noise seeds",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / (3.3 * len(drops) + 1.6), 1))
    return fig


def landscape_slices(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[Sequence[float]]]]],
    title: str = "",
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """The rise of a loss along random filter-normalised directions, one panel per loss
    (``{"NLL + L2": ..., "NLL only": ...}``), each ``{model: (alphas, [losses along one direction,
    per direction])}``. Every direction is a thin line of ``loss(alpha) - loss(0)``; the thick
    line is their mean with a band of one standard error."""
    models = list(dict.fromkeys(m for curves in panels.values() for m in curves))
    colours = _arm_colours(models, colors)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.9 * len(panels), 3.5), squeeze=False)
    for ax, (panel, curves) in zip(axes[0], panels.items()):
        for name, (alphas, losses) in curves.items():
            xs = [float(a) for a in alphas]
            centre = min(range(len(xs)), key=lambda i: abs(xs[i]))
            rises = np.array([[float(v) - float(line[centre]) for v in line] for line in losses])
            for line in rises:
                ax.plot(xs, line, color=colours[name], lw=0.6, alpha=0.45)
            mean = rises.mean(axis=0)
            se = rises.std(axis=0, ddof=1) / math.sqrt(len(rises)) if len(rises) > 1 else 0 * mean
            ax.plot(xs, mean, color=colours[name], lw=2, label=f"{name} ({len(rises)} directions)")
            ax.fill_between(xs, mean - se, mean + se, color=colours[name], alpha=0.2, lw=0)
        ax.set_xlabel("step along the direction (alpha)")
        ax.set_title(panel, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center")
    axes[0][0].set_ylabel("loss(alpha) - loss(0)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def eigenvalue_histograms(
    spectra: Mapping[str, Mapping[str, Sequence[torch.Tensor]]],
    title: str = "",
    linthresh: float = 1e-3,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Exact Hessian spectra, one panel per condition: ``{condition: {model: [eigenvalues (P,),
    one tensor per seed]}}``. Each model's eigenvalues (all seeds pooled) are a step histogram on a
    symmetric-log axis (linear within ``linthresh`` of zero), as a share of its eigenvalues per
    bin, so models with different parameter counts compare; left of the grey line lies the
    negative curvature."""
    models = list(dict.fromkeys(m for by_model in spectra.values() for m in by_model))
    colours = _arm_colours(models, colors)
    values = torch.cat(
        [
            torch.as_tensor(v).double().flatten()
            for by_model in spectra.values()
            for runs in by_model.values()
            for v in runs
        ]
    )
    top = max(values.abs().max().item(), 10 * linthresh)
    decades = np.log10(top / linthresh)
    positive = linthresh * np.logspace(0, decades, 25)
    edges = np.concatenate([-positive[::-1], np.linspace(-linthresh, linthresh, 5)[1:-1], positive])
    # a labelled tick every few decades on each side, so that the labels cannot collide
    step = max(1, math.ceil(decades / 3))
    powers = [linthresh * 10**k for k in range(0, int(decades) + 1, step)]
    ticks = [-p for p in powers[::-1]] + [0.0] + powers
    fig, axes = plt.subplots(
        1, len(spectra), figsize=(3.8 * len(spectra), 3.3), squeeze=False, sharey=True
    )
    for ax, (condition, by_model) in zip(axes[0], spectra.items()):
        for name, runs in by_model.items():
            pooled = torch.cat([torch.as_tensor(v).double().flatten() for v in runs]).numpy()
            counts, _ = np.histogram(pooled, bins=edges)
            ax.stairs(counts / len(pooled), edges, color=colours[name], lw=1.4, label=name)
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=7, rotation=45)
        ax.set_yscale("log")
        ax.axvline(0, color="grey", lw=1)
        ax.set_title(condition, fontsize=10)
        ax.set_xlabel("eigenvalue (symmetric log scale)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("share of eigenvalues per bin")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
