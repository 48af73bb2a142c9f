"""Loss landscapes: the loss along random directions around the trained weights (notebook 10).

Li et al. (2018) make directions comparable across layers and models by *filter
normalisation*: a random direction whose every filter has the norm of the corresponding filter
of the weights, so a step ``alpha = 1`` changes each filter by as much as its own size. Park &
Kim (2022) add that the landscape must be that of the loss actually optimised: the NLL on
*augmented* training data plus the weight decay term. Without them (NLL on clean data) a strongly
regularised model looks sharper than it is.

Batch norm adds a third condition. Training normalises every batch with its own statistics; in
eval mode a batch-norm layer uses running statistics accumulated for the *unperturbed* weights,
stale as soon as the weights move along a direction. So by default (``batchnorm="batch"``) the
loss is computed the way training computes it: batch norm with the statistics of the current
batch (its running buffers left untouched), dropout and DropPath off. ``batchnorm="eval"`` gives
the loss of the model at evaluation instead. Models without batch norm give the same numbers
either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.train.engine import merge_logits
from course_lib.train.optim import no_decay

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
DEFAULT_SKIP = ("pos_embed", "cls_token", "dist_token")
BATCHNORM_MODES = ("batch", "eval")


def filter_normalized_direction(
    model: nn.Module, seed: int = 0, skip: Sequence[str] = DEFAULT_SKIP
) -> dict[str, torch.Tensor]:
    """A random direction in weight space, ``{name: tensor}`` for every parameter (same shapes).

    Every weight with ``ndim >= 2`` gets Gaussian noise whose filters (slices along dim 0: a
    convolution's output channels, a linear layer's rows) are each rescaled to the norm of the
    weight's filter. Parameters with ``ndim <= 1`` (biases, norms, LayerScale, gates) and those
    whose name contains one of ``skip`` (position embeddings and learned tokens) get zeros: they
    stay where they are. The noise is drawn on the CPU from ``seed`` (the same on every device).
    """
    generator = torch.Generator().manual_seed(seed)
    direction = {}
    for name, param in model.named_parameters():
        w = param.detach()
        if w.ndim < 2 or any(part in name for part in skip):
            direction[name] = torch.zeros_like(w)
            continue
        d = torch.randn(w.shape, generator=generator, dtype=torch.float32).to(w.device, w.dtype)
        d_norms = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        w_norms = w.flatten(1).norm(dim=1)
        direction[name] = d * (w_norms / d_norms).view(-1, *[1] * (w.ndim - 1))
    return direction


def decayed_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The weights AdamW decays in :func:`course_lib.train.create_optimizer`: ``ndim >= 2``,
    not tokens or position embeddings (nor ``model.no_weight_decay()``)."""
    extra = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    return [p for name, p in model.named_parameters() if not no_decay(name, p, extra)]


def _check_batchnorm(batchnorm: str) -> None:
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(
            f"batchnorm must be one of {', '.join(map(repr, BATCHNORM_MODES))}, got "
            f"{batchnorm!r}: 'batch' normalises with each batch's statistics as training does, "
            "'eval' with the running statistics."
        )


@contextlib.contextmanager
def loss_mode(model: nn.Module, batchnorm: str = "batch") -> Iterator[None]:
    """Inside the block the model computes the loss :func:`training_loss` measures: eval mode
    (dropout and DropPath off), except that with ``batchnorm="batch"`` every batch-norm layer
    normalises with the statistics of the current batch, as in training.

    Those layers are put in train mode with ``track_running_stats = False``: then
    ``torch.nn.BatchNorm*`` normalises with the batch's statistics and neither reads nor writes
    its buffers, so ``running_mean``, ``running_var`` and ``num_batches_tracked`` stay
    bit-identical (a momentum of 0 would still count ``num_batches_tracked`` up). Every
    module's training flag and every ``track_running_stats`` come back on exit.
    """
    _check_batchnorm(batchnorm)
    modules = list(model.modules())
    training = [m.training for m in modules]
    norms = [m for m in modules if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    tracking = [m.track_running_stats for m in norms]
    model.eval()
    try:
        if batchnorm == "batch":
            for norm in norms:
                norm.train()
                norm.track_running_stats = False
        yield
    finally:
        for norm, track in zip(norms, tracking):
            norm.track_running_stats = track
        for module, mode in zip(modules, training):
            module.training = mode


@torch.no_grad()
def training_loss(
    model: nn.Module, batches: Batches, weight_decay: float = 0.05, batchnorm: str = "batch"
) -> float:
    """The loss training optimises: the mean cross-entropy (NLL) over ``batches`` of augmented
    training data plus ``weight_decay / 2 * sum ||w||^2`` over the decayed weights
    (:func:`decayed_parameters`).

    ``batches``: ``(inputs, targets)`` pairs, ``inputs`` ``(B, C, H, W)`` and the targets class
    indices ``(B,)`` or soft labels ``(B, K)`` (mixup / cutmix); they are moved to the model's
    device. The model runs without gradients in :func:`loss_mode`: dropout off, and batch norm
    with each batch's own statistics (``batchnorm="batch"``, as in training, so the loss depends
    on how the data are batched) or with its running statistics (``"eval"``). AdamW applies its
    decay to the weights directly rather than through the gradient, so the L2 term is the closest
    loss to what it minimises, not an exact one.
    """
    device = next(model.parameters()).device
    total, seen = 0.0, 0
    with loss_mode(model, batchnorm):
        for x, y in batches:
            logits = merge_logits(model(x.to(device))).float()
            total += F.cross_entropy(logits, y.to(device), reduction="sum").item()
            seen += x.shape[0]
    if seen == 0:
        raise ValueError("training_loss got no batches.")
    l2 = sum(p.detach().float().pow(2).sum().item() for p in decayed_parameters(model))
    return total / seen + weight_decay / 2 * l2


def _check_direction(model: nn.Module, direction: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    for name, d in direction.items():
        if name not in params:
            raise ValueError(
                f"The direction has {name!r}, which is not a parameter of "
                f"{type(model).__name__}; make it with filter_normalized_direction(model)."
            )
        if d.shape != params[name].shape:
            raise ValueError(
                f"The direction's {name!r} has shape {tuple(d.shape)}, the parameter "
                f"{tuple(params[name].shape)}."
            )


@torch.no_grad()
def loss_surface(
    model: nn.Module,
    batches: Batches,
    d1: dict[str, torch.Tensor],
    d2: dict[str, torch.Tensor],
    alphas: Sequence[float] | torch.Tensor,
    betas: Sequence[float] | torch.Tensor,
    weight_decay: float = 0.05,
    batchnorm: str = "batch",
) -> torch.Tensor:
    """:func:`training_loss` at ``w + alpha * d1 + beta * d2`` for every ``alpha`` and ``beta``:
    ``(A, B)``. The batches are materialised once, so every point sees the same augmented
    images; the weights are restored exactly afterwards. ``batchnorm="batch"`` (default)
    normalises with each batch's statistics at every point, as training would with those weights;
    ``"eval"`` uses the running statistics of the unperturbed weights."""
    _check_batchnorm(batchnorm)
    _check_direction(model, d1)
    _check_direction(model, d2)
    batches = list(batches)
    params = dict(model.named_parameters())
    names = sorted(set(d1) | set(d2))
    original = {name: params[name].detach().clone() for name in names}
    alphas, betas = torch.as_tensor(alphas).tolist(), torch.as_tensor(betas).tolist()
    losses = torch.zeros(len(alphas), len(betas))
    try:
        for i, alpha in enumerate(alphas):
            for j, beta in enumerate(betas):
                for name in names:
                    w = original[name]
                    if name in d1:
                        w = w + alpha * d1[name].to(w)
                    if name in d2:
                        w = w + beta * d2[name].to(w)
                    params[name].copy_(w)
                losses[i, j] = training_loss(model, batches, weight_decay, batchnorm)
    finally:
        for name in names:
            params[name].copy_(original[name])
    return losses


def loss_line(
    model: nn.Module,
    batches: Batches,
    direction: dict[str, torch.Tensor],
    alphas: Sequence[float] | torch.Tensor,
    weight_decay: float = 0.05,
    batchnorm: str = "batch",
) -> torch.Tensor:
    """:func:`training_loss` at ``w + alpha * direction`` for every ``alpha``: ``(A,)``. The
    batches are materialised once; the weights are restored exactly afterwards. ``batchnorm``:
    as in :func:`loss_surface`."""
    return loss_surface(model, batches, direction, {}, alphas, [0.0], weight_decay, batchnorm)[:, 0]
