"""Accuracy against data, cost, time and model size (notebooks 05, 06, 09 and 11)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from course_lib.plots.common import _arm_colours, _log_x_at, _mean_and_se


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
