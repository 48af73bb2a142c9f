"""Figures of notebook 03b (training a ViT on small data): the learning-rate range test, the size
of each gradient group, the recipe ladder, and accuracy against images seen per recipe."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from course_lib.plots.common import _arm_colours, _mean_and_se, _mean_band, _seed_arms


def lr_range(
    lrs: Sequence[float],
    losses: Sequence[float],
    chosen: float,
    initial_loss: float,
    title: str = "",
) -> Figure:
    """The smoothed training loss against the learning rate of a range test (log x), with the
    loss at initialisation (dotted) and the learning rate the notebook trains with (dashed)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(lrs, losses, color="C0", lw=1.5, label="smoothed training loss")
    ax.axhline(
        initial_loss, color="grey", ls=":", lw=1, label=f"loss at step 0 ({initial_loss:.2f})"
    )
    ax.axvline(chosen, color="C3", ls="--", lw=1, label=f"learning rate used below ({chosen:g})")
    ax.set_xscale("log")
    finite = [v for v in losses if math.isfinite(v)]
    if finite:  # keep the divergence at the end from flattening the useful part
        ax.set_ylim(min(finite) - 0.1, min(max(finite), 2.0 * initial_loss) + 0.1)
    ax.set_xlabel("learning rate (one step each, growing exponentially)")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def gradient_groups(
    grad_norms: Mapping[str, float], sizes: Mapping[str, int], title: str = ""
) -> Figure:
    """Two bar charts on log scales, one bar per parameter group: the norm of its gradient, and
    the root mean square of one number's gradient, ``||g|| / sqrt(numel)`` (how far one plain
    SGD step would move a typical number of the group, per unit of learning rate)."""
    names = list(grad_norms)
    grads = np.array([grad_norms[n] for n in names])
    rms = grads / np.sqrt(np.array([sizes[n] for n in names], dtype=float))
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.32 * len(names) + 1.6), sharey=True)
    y = np.arange(len(names))
    axes[0].barh(y, grads, color="C0")
    axes[0].set_xlabel("gradient norm of the group ||g||")
    axes[1].barh(y, rms, color="C1")
    axes[1].set_xlabel("gradient of a typical number ||g|| / sqrt(numel)")
    for ax in axes:
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # labelled decades only: no overlaps
        ax.grid(axis="x", which="major", alpha=0.3)
    axes[0].set_yticks(y, names, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def recipe_ladder(
    rungs: Mapping[str, Sequence[float]],
    ylabel: str,
    title: str = "",
    references: Mapping[str, Sequence[float]] | None = None,
    chance: float | None = None,
) -> Figure:
    """One recipe per rung, left to right, each adding one ingredient to the rung before: every
    seed as a dot (the dots of one seed joined), the mean with a bar of one standard error.
    ``references`` (e.g. a ResNet on the same budget) are drawn as horizontal bands (mean +/- one
    standard error) across the ladder; ``chance`` as a dotted line."""
    labels = list(rungs)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.95 * len(labels) + 2.0), 4.0))
    _seed_arms(ax, rungs, dict.fromkeys(labels, "C0"))
    colours = _arm_colours(list(references or {}), None)
    for name, values in (references or {}).items():
        mean, se, _ = _mean_and_se(values)
        colour = "C3" if colours[name] == "C0" else colours[name]
        ax.axhspan(mean - se, mean + se, color=colour, alpha=0.15, lw=0)
        ax.axhline(mean, color=colour, lw=1.2, label=f"{name} (mean +/- s.e.)")
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(labels) - 0.3)
    ax.set_ylabel(ylabel)
    if references or chance is not None:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_vs_images(
    curves: Mapping[str, tuple[Sequence[float], Sequence[Sequence[float]]]],
    short_runs: Mapping[str, tuple[float, Sequence[float]]] | None = None,
    title: str = "",
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """Test accuracy against training images seen, one curve per recipe: ``curves[name] =
    (images seen at each evaluation, [one accuracy list per seed])``, drawn as the mean over seeds
    with a band of one standard error. ``short_runs[name] = (images seen, [final accuracy per
    seed])``: the end of a separate, shorter run with its own full schedule, drawn as a marker
    with an error bar in the recipe's colour (markers at the same budget are spread sideways by
    about 1% of the axis so that none hides another)."""
    names = list(dict.fromkeys([*curves, *(short_runs or {})]))
    colours = _arm_colours(names, colors)
    fig, ax = plt.subplots(figsize=(6.8, 4.0))
    for name, (seen, per_seed) in curves.items():
        _mean_band(ax, seen, per_seed, colours[name], f"{name}: one long run")
    short = list((short_runs or {}).items())
    span = max([float(c[0][-1]) for c in curves.values()] + [float(r[0]) for _, r in short])
    for i, (name, (seen, finals)) in enumerate(short):
        mean, se, _ = _mean_and_se(finals)
        offset = 0.012 * span * (i - (len(short) - 1) / 2)
        ax.errorbar(
            seen + offset,
            mean,
            yerr=se,
            fmt="o",
            ms=6,
            capsize=4,
            color=colours[name],
            mec="black",
            label=f"{name}: end of a short run",
        )
    ax.set_xlabel("training images seen")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
