"""AdamW with the usual transformer parameter groups, and a warmup + cosine learning rate (or a
warmup + step schedule, as BiT uses)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

# Learned tokens and position embeddings are looked up, not multiplied: decaying them towards
# zero only erases what they store, so they join biases and normalisation weights without decay.
NO_DECAY_NAME_PARTS = ("pos_embed", "cls_token", "dist_token", "reg_token")


def no_decay(name: str, param: nn.Parameter, extra: set[str]) -> bool:
    """Whether ``param`` should be excluded from weight decay."""
    return (
        param.ndim <= 1
        or name in extra
        or any(part in name.split(".")[-1] for part in NO_DECAY_NAME_PARTS)
    )


def param_groups(model: nn.Module, weight_decay: float, exempt: bool = True) -> list[dict]:
    """Two AdamW groups: weights with ``weight_decay``; norms, biases, per-channel scales,
    tokens and position embeddings (and ``model.no_weight_decay()``, timm's convention) without.
    ``exempt=False`` decays every parameter (the second group is then empty), as a plain
    ``AdamW(model.parameters())`` does.
    """
    extra = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    decay, keep = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (keep if exempt and no_decay(name, param, extra) else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": keep, "weight_decay": 0.0},
    ]


def create_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float = 0.05,
    betas: tuple[float, float] = (0.9, 0.999),
    decay_groups: bool = True,
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` (``decay_groups=False``: every parameter decayed); the
    fused CUDA kernel when the model is on a GPU."""
    on_cuda = next(model.parameters()).is_cuda
    groups = param_groups(model, weight_decay, exempt=decay_groups)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True if on_cuda else None)


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float = 0.01,
) -> LambdaLR:
    """Per-step schedule: linear warmup to the base learning rate over ``warmup_steps``, then a
    cosine decay to ``min_lr_ratio`` times it at ``total_steps``. Call ``step()`` after each
    optimizer step."""
    return LambdaLR(optimizer, _warmup_cosine_factor(warmup_steps, total_steps, min_lr_ratio))


def _warmup_cosine_factor(
    warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> Callable[[int], float]:
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}.")
    warmup_steps = max(0, min(warmup_steps, total_steps - 1))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def warmup_cosine_rates(
    lr: float, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.01
) -> list[float]:
    """The learning rate of every optimizer step under :func:`warmup_cosine`, ``total_steps``
    values. Their sum bounds how far Adam can move one parameter in the run: each Adam step
    changes a parameter by about the learning rate at most (Kingma & Ba, 2015, section 2.1)."""
    return schedule_rates(lr, "cosine", warmup_steps, total_steps, min_lr_ratio)


def _warmup_step_factor(
    warmup_steps: int, total_steps: int, milestones: Sequence[float], gamma: float
) -> Callable[[int], float]:
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}.")
    if not all(0.0 < m < 1.0 for m in milestones) or list(milestones) != sorted(milestones):
        raise ValueError(
            f"Step milestones are increasing fractions of the run in (0, 1), got {milestones}."
        )
    warmup_steps = max(0, min(warmup_steps, total_steps - 1))
    steps = [round(m * total_steps) for m in milestones]

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return gamma ** sum(step >= s for s in steps)

    return factor


def schedule_factor(
    schedule: str | Sequence[float],
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float = 0.01,
    gamma: float = 0.1,
) -> Callable[[int], float]:
    """The learning rate of each step as a fraction of the peak. ``schedule``: ``"cosine"``
    (linear warmup, then a cosine to ``min_lr_ratio``), or the fractions of the run at which a
    step schedule multiplies the rate by ``gamma`` after the warmup: ``(0.5, 0.75)`` divides it
    by 10 at half-way and again at three quarters; ``(0.2, 0.3)`` decays too early."""
    if isinstance(schedule, str):
        if schedule != "cosine":
            raise ValueError(
                f"schedule must be 'cosine' or a sequence of step fractions such as (0.5, 0.75), "
                f"got {schedule!r}."
            )
        return _warmup_cosine_factor(warmup_steps, total_steps, min_lr_ratio)
    return _warmup_step_factor(warmup_steps, total_steps, tuple(schedule), gamma)


def schedule_rates(
    lr: float,
    schedule: str | Sequence[float],
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float = 0.01,
) -> list[float]:
    """The learning rate of every optimizer step under :func:`schedule_factor`."""
    factor = schedule_factor(schedule, warmup_steps, total_steps, min_lr_ratio)
    return [lr * factor(step) for step in range(total_steps)]
