"""Quantities per block and across depths (notebooks 07 and 08)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


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
