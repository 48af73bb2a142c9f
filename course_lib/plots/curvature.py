"""Fourier spectra, noise robustness, Hessian spectra and loss landscapes (notebook 10)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from course_lib.plots.common import _arm_colours, _mean_and_se, _mean_band

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
            label = f"{name} ({len(rises)} directions)"
            _mean_band(ax, xs, rises, colours[name], label, lw=2)
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
