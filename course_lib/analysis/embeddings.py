"""What a trained ViT has learned in its embeddings, and how good its features are.

- the principal components of the patch-embedding filters (the ViT paper's figure 7, left),
- the cosine similarity between position embeddings (figure 7, centre),
- few-shot linear probes: a closed-form ridge regression on frozen features,
- near-duplicates between two sets of images: the nearest neighbour by feature similarity.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.measure import eval_mode
from course_lib.models.vit import resample_pos_embed

__all__ = [
    "extract_features",
    "few_shot_probe",
    "nearest_neighbours",
    "patch_filter_components",
    "pos_embed_similarity",
    "resample_pos_embed",
    "ridge_predict",
    "ridge_probe",
]


def patch_filter_components(weight: torch.Tensor, k: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal components of the patch-embedding filters.

    ``weight``: the ``(D, C, P, P)`` kernel of ``patch_embed.proj`` (``D`` filters). The filters
    are flattened, centred, and the top ``k`` right singular vectors are returned as images
    ``(k, C, P, P)``, with the share of variance each explains ``(k,)``.
    """
    d, c, p, q = weight.shape
    flat = weight.detach().float().reshape(d, -1)
    flat = flat - flat.mean(dim=0, keepdim=True)
    _, s, vt = torch.linalg.svd(flat, full_matrices=False)
    k = min(k, vt.shape[0])
    explained = (s**2 / (s**2).sum())[:k]
    return vt[:k].reshape(k, c, p, q), explained


def pos_embed_similarity(pos_embed: torch.Tensor, num_prefix_tokens: int = 1) -> torch.Tensor:
    """Cosine similarity between the position embedding of every patch and all others.

    ``pos_embed``: ``(1, prefix + g*g, D)``. Returns ``(g, g, g, g)``: entry ``[r, c]`` is the
    ``g x g`` map of similarities between position ``(r, c)`` and every position.
    """
    grid = pos_embed.detach().float()[0, num_prefix_tokens:]
    g = int(round(grid.shape[0] ** 0.5))
    if g * g != grid.shape[0]:
        raise ValueError(f"{grid.shape[0]} position embeddings do not form a square grid.")
    unit = F.normalize(grid, dim=-1)
    return (unit @ unit.T).reshape(g, g, g, g)


@torch.no_grad()
def extract_features(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen features: ``model.forward_head(model.forward_features(x), pre_logits=True)`` for
    every batch (the vector the classifier head would read). Returns features ``(N, D)`` and
    labels ``(N,)`` on the CPU."""
    features, labels = [], []
    with eval_mode(model):
        for images, targets in batches:
            pooled = model.forward_head(model.forward_features(images), pre_logits=True)
            features.append(pooled.float().cpu())
            labels.append(targets.cpu())
    return torch.cat(features), torch.cat(labels)


def ridge_predict(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    num_classes: int,
    l2: float = 1.0,
) -> torch.Tensor:
    """Class predictions ``(m,)`` of a linear classifier fitted in closed form on frozen features.

    As in the ViT paper's few-shot evaluation: features are standardised with the training
    statistics, targets are ``{-1, +1}`` vectors, and ``W = (X^T X + l2 I)^-1 X^T Y`` (with a bias
    column that is not regularised). ``train_x``: ``(n, D)``, ``test_x``: ``(m, D)``.
    """
    mean, std = train_x.mean(dim=0), train_x.std(dim=0, unbiased=False).clamp_min(1e-6)
    x = torch.cat([(train_x - mean) / std, torch.ones(len(train_x), 1)], dim=1).double()
    t = torch.cat([(test_x - mean) / std, torch.ones(len(test_x), 1)], dim=1).double()
    y = 2 * F.one_hot(train_y, num_classes).double() - 1
    penalty = l2 * torch.eye(x.shape[1], dtype=x.dtype)
    penalty[-1, -1] = 0.0
    w = torch.linalg.solve(x.T @ x + penalty, x.T @ y)
    return (t @ w).argmax(dim=1)


def ridge_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
    l2: float = 1.0,
) -> float:
    """Test accuracy of :func:`ridge_predict`'s classifier on ``test_x`` with labels
    ``test_y``."""
    predicted = ridge_predict(train_x, train_y, test_x, num_classes, l2)
    return predicted.eq(test_y).float().mean().item()


def few_shot_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    num_classes: int,
    shots: Iterable[int] = (1, 5, 10),
    seeds: Iterable[int] = range(5),
    l2: float = 1.0,
) -> dict[int, list[float]]:
    """``k``-shot linear probes: for each ``k`` and seed, draw ``k`` training images per class at
    random, fit :func:`ridge_probe`, score it on the whole test set. Returns ``{k: [accuracy
    per seed]}``: report the mean and the spread, a single draw is noisy."""
    results: dict[int, list[float]] = {}
    for k in shots:
        results[k] = []
        for seed in seeds:
            g = torch.Generator().manual_seed(seed)
            chosen = []
            for c in range(num_classes):
                pool = (train_y == c).nonzero().flatten()
                if len(pool) < k:
                    raise ValueError(f"Class {c} has {len(pool)} training features, need {k}.")
                chosen.append(pool[torch.randperm(len(pool), generator=g)[:k]])
            idx = torch.cat(chosen)
            acc = ridge_probe(train_x[idx], train_y[idx], test_x, test_y, num_classes, l2)
            results[k].append(acc)
    return results


@torch.no_grad()
def nearest_neighbours(
    queries: torch.Tensor, references: torch.Tensor, chunk: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """For every query feature, the most similar reference feature by cosine similarity.

    ``queries``: ``(M, D)`` (e.g. the test set's features), ``references``: ``(N, D)`` (the
    training set's). Returns ``(similarity (M,), index into references (M,))``. Computed in
    chunks of ``chunk`` queries, so that the ``M x N`` similarity matrix is never held at once
    (10,000 x 50,000 floats would be 2 GB). Sort by similarity to find near-duplicates.
    """
    if queries.ndim != 2 or references.ndim != 2 or queries.shape[1] != references.shape[1]:
        raise ValueError(
            f"Expected features (M, D) and (N, D) of the same width, got {tuple(queries.shape)} "
            f"and {tuple(references.shape)}."
        )
    if len(references) == 0:
        raise ValueError("There are no reference features to compare with.")
    unit_refs = F.normalize(references.float(), dim=1)
    best, where = [], []
    for start in range(0, len(queries), chunk):
        unit = F.normalize(queries[start : start + chunk].float(), dim=1)
        similarity, index = (unit @ unit_refs.T).max(dim=1)
        best.append(similarity)
        where.append(index)
    if not best:
        return torch.empty(0), torch.empty(0, dtype=torch.long)
    return torch.cat(best), torch.cat(where)
