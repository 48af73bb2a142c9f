"""Pre-training, transfer and scaling (notebook 12): accuracy against shots, the width x data
grid, loss against images seen, and learning-rate schedules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from course_lib.plots.common import _arm_colours, _log_x_at, _mean_and_se, _mean_band


def transfer_curves(
    results: Mapping[str, Mapping[str, Mapping[int, Sequence[float]]]],
    chance: float,
    title: str = "",
) -> Figure:
    """Few-shot transfer, one panel per upstream model: ``{model: {method: {shots: [accuracy in
    points, one per draw]}}}``. Each method is its mean over draws with a bar of one standard
    error, on a log axis of shots; the panels share the y axis and a method keeps its colour."""
    methods = list(dict.fromkeys(m for r in results.values() for m in r))
    colours = _arm_colours(methods, None)
    fig, axes = plt.subplots(
        1, len(results), figsize=(3.9 * len(results) + 0.6, 3.7), squeeze=False, sharey=True
    )
    for ax, (model, by_method) in zip(axes[0], results.items()):
        for method, by_shots in by_method.items():
            shots = sorted(by_shots)
            stats = [_mean_and_se(by_shots[k]) for k in shots]
            ax.errorbar(
                shots,
                [m for m, _, _ in stats],
                yerr=[s for _, s, _ in stats],
                marker="o",
                ms=4,
                capsize=3,
                color=colours[method],
                label=method,
            )
        _log_x_at(ax, sorted({k for r in by_method.values() for k in r}))
        ax.axhline(chance, color="grey", ls=":", lw=1)
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("training images per class (log scale)")
    axes[0][0].set_ylabel("downstream test accuracy (%)")
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def scaling_grid(
    accuracy: Mapping[tuple[str, str], Sequence[float]],
    rows: Sequence[str],
    columns: Sequence[str],
    title: str = "",
    row_label: str = "model",
    column_label: str = "training images",
) -> Figure:
    """A heatmap of mean accuracy (points) over ``{(row, column): [one value per seed]}``, each
    cell written as mean +/- standard error, with a colour bar; rows from small (bottom) to large
    (top) as given."""
    means = torch.tensor([[_mean_and_se(accuracy[r, c])[0] for c in columns] for r in rows])
    fig, ax = plt.subplots(figsize=(1.9 * len(columns) + 2.2, 0.85 * len(rows) + 1.6))
    image = ax.imshow(means.numpy(), cmap="viridis", origin="lower", aspect="auto")
    fig.colorbar(image, ax=ax, label="test accuracy (%)")
    middle = (means.max() + means.min()) / 2
    for i, r in enumerate(rows):
        for j, c in enumerate(columns):
            mean, se, _ = _mean_and_se(accuracy[r, c])
            colour = "black" if mean > middle else "white"
            ax.text(
                j, i, f"{mean:.1f}\n±{se:.1f}", ha="center", va="center", fontsize=8, color=colour
            )
    ax.set_xticks(range(len(columns)), list(columns))
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def smooth(values: Sequence[float], window: int) -> torch.Tensor:
    """A trailing moving average over ``window`` values (shorter at the start), ``(T,)``."""
    x = torch.as_tensor(values, dtype=torch.float64)
    total = torch.cat([torch.zeros(1, dtype=x.dtype), x.cumsum(0)])
    ends = torch.arange(1, len(x) + 1)
    starts = (ends - window).clamp(min=0)
    return ((total[ends] - total[starts]) / (ends - starts)).float()


def loss_vs_images(
    curves: Mapping[str, tuple[Sequence[float], Sequence[Sequence[float]]]],
    title: str = "",
    target: float | None = None,
    target_label: str = "",
    ylabel: str = "training loss (moving average)",
    log_x: bool = True,
) -> Figure:
    """Loss against images seen: ``{label: (images seen (T,), [losses (T,), one per seed])}``,
    the mean over seeds with a band of one standard error; ``target`` is a dashed level."""
    colours = _arm_colours(list(curves), None)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for label, (seen, runs) in curves.items():
        _mean_band(ax, list(seen), runs, colours[label], label, lw=1.4, alpha=0.25)
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=1)
        ax.annotate(
            target_label,
            (0.01, target),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=8,
            color="grey",
        )
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("images seen" + (" (log scale)" if log_x else ""))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def schedule_curves(
    rates: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    losses: Mapping[str, tuple[Sequence[float], Sequence[Sequence[float]]]],
    title: str = "",
    xlabel: str = "images seen",
    loss_label: str = "training loss (moving average)",
) -> Figure:
    """Two panels against ``xlabel`` (images seen, or steps), one line per schedule in the same
    colour: the learning rate (``{schedule: (x, rate)}``, log scale) and the loss (``{schedule:
    (x, [loss at each x, one list per seed])}``, mean over seeds with a band of one standard
    error)."""
    colours = _arm_colours(list(rates), None)
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6))
    for name, (seen, rate) in rates.items():
        axes[0].plot(list(seen), list(rate), color=colours[name], label=name, lw=1.4)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("learning rate (log scale)")
    axes[0].set_title("the schedules", fontsize=10)
    for name, (seen, runs) in losses.items():
        _mean_band(axes[1], list(seen), runs, colours[name], name, lw=1.2, alpha=0.25)
    axes[1].set_ylabel(loss_label)
    axes[1].set_title("the loss", fontsize=10)
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
