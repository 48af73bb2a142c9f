"""Deterministic, class-balanced subsets of a split (the basis of sample-efficiency studies)."""

from __future__ import annotations

import torch

from course_lib.data.datasets import ImageSplit


def subset_indices(
    labels: torch.Tensor,
    *,
    fraction: float | None = None,
    per_class: int | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Indices of a stratified subset, sorted, int64 ``(M,)``.

    Give exactly one of ``fraction`` (of each class, rounded, at least one image per class) or
    ``per_class`` (images per class). Each class is shuffled with ``seed`` and its first images are
    kept, so subsets with the same seed are nested: the 10% subset contains the 5% subset.
    """
    if (fraction is None) == (per_class is None):
        raise ValueError("Give exactly one of fraction= (0 < f <= 1) or per_class= (an int >= 1).")
    if fraction is not None and not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    if per_class is not None and per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}.")
    generator = torch.Generator().manual_seed(seed)
    labels = labels.cpu()
    chosen = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        order = members[torch.randperm(members.numel(), generator=generator)]
        if fraction is not None:
            k = max(1, round(fraction * members.numel()))
        else:
            if per_class > members.numel():
                raise ValueError(
                    f"per_class={per_class} but class {c} has only {members.numel()} images."
                )
            k = per_class
        chosen.append(order[:k])
    return torch.cat(chosen).sort().values


def subset(
    split: ImageSplit,
    *,
    fraction: float | None = None,
    per_class: int | None = None,
    seed: int = 0,
) -> ImageSplit:
    """A stratified subset of ``split`` (see :func:`subset_indices`)."""
    idx = subset_indices(split.labels, fraction=fraction, per_class=per_class, seed=seed)
    return ImageSplit(split.images[idx], split.labels[idx])
