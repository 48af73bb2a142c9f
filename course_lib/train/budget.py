"""Train for a budget of images seen: the unit of every comparison in the course's experiments.

Comparing two models "on the same budget" means each sees the same number of training images.
A small split (50 images per class) would give one or two batches per epoch, so it is repeated
until an epoch holds at least ``min_batches`` batches; the number of epochs then follows from the
budget. :func:`train_for_images` does that, trains with :func:`~course_lib.train.fit` and scores
the model on a test split.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from course_lib.data import AugmentConfig, ImageDataset, ImageSplit, make_loaders
from course_lib.train.engine import History, NonFiniteLossError, fit, predict


def repeat_to_batches(split: ImageSplit, batch_size: int, min_batches: int = 10) -> ImageSplit:
    """``split`` repeated (whole copies) until it holds at least ``min_batches`` batches of
    ``batch_size`` images; returned unchanged when it already does."""
    if batch_size < 1 or min_batches < 1:
        raise ValueError(
            f"batch_size and min_batches must be >= 1, got {batch_size} and {min_batches}."
        )
    copies = math.ceil(min_batches * batch_size / len(split))
    if copies <= 1:
        return split
    return ImageSplit(split.images.repeat(copies, 1, 1, 1), split.labels.repeat(copies))


@dataclass
class BudgetRun:
    """The result of :func:`train_for_images`. ``test_acc`` is ``nan`` when training diverged
    (``history`` is then ``None``). ``test_correct``: whether the model classified each test image
    right, ``(N,)`` bool in the test split's order (``None`` when training diverged), for
    :func:`course_lib.claims.paired_accuracy_se`. With ``ema_decay`` (a ``fit`` argument) the
    moving average of the weights is scored too: ``ema_test_acc`` and ``ema_test_correct``."""

    model: nn.Module
    history: History | None
    epochs: int
    images_seen: int
    seconds: float
    test_acc: float
    test_correct: torch.Tensor | None = None
    ema_test_acc: float = math.nan
    ema_test_correct: torch.Tensor | None = None


def train_for_images(
    model: nn.Module,
    data: ImageDataset,
    train: ImageSplit,
    *,
    images_seen: int,
    batch_size: int,
    device: torch.device | str,
    test: ImageSplit | None = None,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    warmup_fraction: float = 0.05,
    label_smoothing: float = 0.1,
    grad_clip: float | None = 1.0,
    min_batches: int = 10,
    curves: bool = False,
    on_divergence: str = "raise",
    **fit_kwargs: Any,
) -> BudgetRun:
    """Train ``model`` on ``train`` until it has seen about ``images_seen`` images.

    - The batch is ``batch_size``, or half the split when the split is smaller (even, so that
      Mixup/CutMix can pair images); the split is repeated to ``min_batches`` batches per epoch.
    - ``seed`` sets the order and augmentation of the batches (initialise ``model`` with it too).
    - ``test`` (default: the dataset's test split) is scored at the end; with ``curves`` also
      after every epoch, into the history.
    - ``on_divergence="nan"`` returns ``test_acc = nan`` instead of raising
      :class:`~course_lib.train.NonFiniteLossError` (for experiments where diverging is a result).
    - ``fit_kwargs`` go to :func:`~course_lib.train.fit` (``criterion``, ``teacher``, ...).
    """
    if on_divergence not in ("raise", "nan"):
        raise ValueError(f"on_divergence must be 'raise' or 'nan', got {on_divergence!r}.")
    if images_seen < 1:
        raise ValueError(f"images_seen must be >= 1, got {images_seen}.")
    test = test if test is not None else data.test
    batch = min(batch_size, max(2, len(train) // 2))
    batch -= batch % 2
    epoch_split = repeat_to_batches(train, batch, min_batches)
    epochs = max(1, round(images_seen / len(epoch_split)))
    augment = augment if augment is not None else AugmentConfig(crop_padding=4, flip=data.flip_safe)
    train_loader, test_loader = make_loaders(
        data,
        batch_size=batch,
        device=device,
        augment=augment,
        train=epoch_split,
        test=test,
        seed=seed,
    )
    start = time.perf_counter()
    try:
        history: History | None = fit(
            model,
            train_loader,
            test_loader if curves else None,
            epochs=epochs,
            lr=lr,
            weight_decay=weight_decay,
            warmup_epochs=warmup_fraction * epochs,
            label_smoothing=label_smoothing,
            grad_clip=grad_clip,
            device=device,
            seed=seed,
            verbose=False,
            progress=False,
            **fit_kwargs,
        )
    except NonFiniteLossError:
        if on_divergence == "raise":
            raise
        history = None
    seconds = time.perf_counter() - start
    correct, acc = _score(model if history is not None else None, test_loader, device)
    ema = history.ema_model if history is not None else None
    ema_correct, ema_acc = _score(ema, test_loader, device)
    seen = epochs * len(train_loader) * batch
    return BudgetRun(model, history, epochs, seen, seconds, acc, correct, ema_acc, ema_correct)


def _score(
    model: nn.Module | None, loader: Any, device: torch.device | str
) -> tuple[torch.Tensor | None, float]:
    """``(which test images it got right (N,), accuracy)``; ``(None, nan)`` without a model."""
    if model is None:
        return None, math.nan
    logits, labels = predict(model, loader, device)
    correct = logits.argmax(dim=1) == labels
    return correct, correct.float().mean().item()


def seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``build()`` with the global torch seed set to ``seed`` first: the same seed gives the same
    initial weights."""
    torch.manual_seed(seed)
    return build()
