"""Figures every notebook uses: images, learning curves, per-class accuracy, and the arms of
a claim over seeds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid

from course_lib.claims import standard_error


def _to_hwc(image: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` uint8 or float in [0, 1] -> ``(H, W, C)`` float in [0, 1] for imshow."""
    image = image.detach().cpu()
    image = image.float() / 255 if image.dtype == torch.uint8 else image.float().clamp(0, 1)
    return image.permute(1, 2, 0).numpy()


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
        _seed_arms(ax, group, colours)
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


def _seed_arms(
    ax: plt.Axes, arms: Mapping[str, Sequence[float]], colours: Mapping[str, str]
) -> None:
    """The arms at x = 0, 1, ...: every seed a dot (the dots of one seed joined by a grey line
    across arms) and each arm's mean with a bar of one standard error, beside its dots."""
    for seed_values in zip(*arms.values()):
        ax.plot(range(len(arms)), seed_values, color="grey", lw=0.8, alpha=0.5, zorder=1)
    for x, label in enumerate(arms):
        mean, se, values = _mean_and_se(arms[label])
        ax.scatter([x] * len(values), values, s=14, color=colours[label], alpha=0.6, zorder=2)
        if math.isfinite(mean):
            ax.errorbar(
                x + 0.12, mean, yerr=se, fmt="s", ms=6, capsize=4, color=colours[label], zorder=3
            )


def _arm_colours(names: Sequence[str], fixed: Mapping[str, str] | None) -> dict[str, str]:
    """A colour per name: ``fixed[name]`` where given, else the next unused colour of the cycle."""
    fixed = dict(fixed or {})
    spare = iter(c for c in (f"C{i}" for i in range(10)) if c not in fixed.values())
    return {n: fixed[n] if n in fixed else next(spare, "grey") for n in names}


def _mean_band(
    ax: plt.Axes,
    xs: Sequence[float],
    runs: Sequence[Sequence[float]],
    color: str,
    label: str,
    lw: float = 1.5,
    alpha: float = 0.2,
) -> None:
    """Draw the mean of ``runs`` (one sequence per seed or direction, each aligned with ``xs``)
    as a line, with a band of one standard error (none for a single run)."""
    values = np.array(runs, dtype=float)  # (runs, points)
    mean = values.mean(axis=0)
    se = values.std(axis=0, ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0 * mean
    ax.plot(xs, mean, color=color, lw=lw, label=label)
    ax.fill_between(xs, mean - se, mean + se, color=color, alpha=alpha, lw=0)


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


def _log_x_at(ax: plt.Axes, values: Sequence[float], base: int = 10) -> None:
    """A logarithmic x axis with one plain-number tick at each of ``values`` and no others."""
    ax.set_xscale("log", base=base)
    ax.set_xticks(values)
    ax.set_xticklabels([f"{v:g}" for v in values])
    ax.minorticks_off()
