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
    """The first ``count`` misclassified images ``(N, 3, H, W)`` (uint8), each captioned
    "true -> predicted"."""
    wrong = (predictions != targets).nonzero().flatten()[:count].tolist()
    columns = 8
    rows = max(1, -(-len(wrong) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.35, rows * 1.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(_to_hwc(images[i]), interpolation="nearest")
        ax.set_title(f"{classes[targets[i]]}\n-> {classes[predictions[i]]}", fontsize=7)
    fig.suptitle(title or "Mistakes: true class -> predicted class")
    fig.tight_layout()
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
    images: torch.Tensor, rows: Mapping[str, torch.Tensor], title: str
) -> Figure:
    """Images ``(K, 3, H, W)`` (uint8) in the first row; below, one row per entry of ``rows``:
    a ``(K, g, g)`` map (e.g. the class token's attention) upsampled over the image."""
    count = images.shape[0]
    fig, axes = plt.subplots(
        1 + len(rows), count, figsize=(count * 1.3, (1 + len(rows)) * 1.4), squeeze=False
    )
    size = images.shape[-1]
    for j in range(count):
        axes[0, j].imshow(_to_hwc(images[j]), interpolation="nearest")
        for i, maps in enumerate(rows.values(), start=1):
            heat = torch.nn.functional.interpolate(
                maps[j][None, None].float(), size=size, mode="nearest"
            )[0, 0]
            axes[i, j].imshow(_to_hwc(images[j]), interpolation="nearest")
            axes[i, j].imshow(
                heat / heat.max().clamp_min(1e-12),
                cmap="inferno",
                alpha=0.6,
                interpolation="nearest",
            )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=8)
    for i, name in enumerate(rows, start=1):
        axes[i, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
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


def _log_x_at(ax: plt.Axes, values: Sequence[int], base: int = 10) -> None:
    """A logarithmic x axis with one plain-number tick at each of ``values`` and no others."""
    ax.set_xscale("log", base=base)
    ax.set_xticks(values)
    ax.set_xticklabels([str(v) for v in values])
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
    curves: Mapping[str, Mapping[int, float]], chance: float, title: str = ""
) -> Figure:
    """Test accuracy (in [0, 1]) against training images per class on a log x axis, one line per
    model: ``{model: {images_per_class: accuracy}}``; a model may cover only some sizes."""
    sizes = sorted({n for curve in curves.values() for n in curve})
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, curve in curves.items():
        xs = sorted(curve)
        ax.plot(xs, [100 * curve[n] for n in xs], marker="o", label=name)
    ax.axhline(100 * chance, color="grey", ls=":", lw=1, label="chance")
    _log_x_at(ax, sizes)
    ax.set_xlabel("training images per class (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
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
    {patch: accuracy}}``; patch sizes that were not trained are left out)."""
    patches = sorted(forward_ms)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    labels = [f"patch {p}\n{(image_size // p) ** 2} tokens" for p in patches]
    bars = axes[0].bar(labels, [forward_ms[p] for p in patches], color="tab:orange")
    axes[0].bar_label(bars, fmt="%.1f", fontsize=8)
    axes[0].set_ylabel("forward time of one batch (ms)")
    axes[0].set_title("cost")
    for per_class, by_patch in accuracy.items():
        xs = [p for p in patches if p in by_patch]
        axes[1].plot(
            xs, [100 * by_patch[p] for p in xs], marker="o", label=f"{per_class} images per class"
        )
    _log_x_at(axes[1], patches, base=2)
    axes[1].set_xlabel("patch size (pixels)")
    axes[1].set_ylabel("test accuracy (%)")
    axes[1].set_title("accuracy")
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
