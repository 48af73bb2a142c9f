"""Attention matrices, maps, distances, head mixing, gates and locality (notebooks 02, 04,
06, 08 and 09)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course_lib.plots.common import _to_hwc


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
