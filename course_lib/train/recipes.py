"""Named training recipes: one place that says how a course model is trained on each profile.

Notebook 03 trains the course ViT with :func:`train_recipe`; notebook 04 calls the same function
with the same recipe and finds the finished checkpoint (``resume=True``), so it looks inside the
very model 03 trained instead of training a second one. Run alone, 04 trains it itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_lib.data import AugmentConfig, ImageDataset, ImageSplit, make_loaders, subset
from course_lib.models import create_model
from course_lib.models.state_dict import model_config
from course_lib.train.engine import History, fit


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a training run (besides the data and the seed)."""

    model: str
    epochs: int
    per_class: int | None = None  # training images per class (None: the whole training set)
    test_per_class: int | None = None  # test images scored after each epoch (None: all)
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    policy: str | None = None
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    grad_clip: float | None = 1.0
    model_overrides: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self, **context: Any) -> str:
        """A short hash of the recipe and ``context`` (whatever else decides the run: the
        model's full constructor arguments, the data): checkpoints of different runs never
        mix."""
        text = json.dumps({"recipe": asdict(self), **context}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


VIT_RECIPES: dict[str, Recipe] = {
    "smoke": Recipe(
        "vit_cifar_nano", epochs=2, per_class=60, test_per_class=30, batch_size=64, lr=2e-3
    ),
    "cpu": Recipe(
        "vit_cifar_mini", epochs=8, per_class=1500, test_per_class=200, batch_size=128, lr=1e-3
    ),
    "gpu": Recipe(
        "vit_cifar_tiny",
        epochs=150,
        batch_size=512,
        lr=2e-3,
        warmup_epochs=5,
        policy="trivialaugment",
        mixup_alpha=0.8,
        cutmix_alpha=1.0,
        model_overrides={"drop_path_rate": 0.1},
    ),
}
VIT_RECIPES["live"] = VIT_RECIPES["smoke"]  # a reading group's live run (profile "live")


@dataclass
class TrainedModel:
    """The result of :func:`train_recipe`."""

    model: nn.Module
    history: History
    recipe: Recipe
    train_split: ImageSplit
    checkpoint_dir: Path


def train_recipe(
    recipe: Recipe,
    data: ImageDataset,
    *,
    device: torch.device | str,
    checkpoint_root: str | Path,
    seed: int = 0,
    verbose: bool = True,
    on_epoch_end: Callable[[nn.Module, dict[str, float]], bool | None] | None = None,
) -> TrainedModel:
    """Train ``recipe.model`` on ``data`` with ``course_lib.train.fit``, checkpointing under
    ``checkpoint_root/<model>-<dataset>-seed<seed>-<fingerprint>``. A finished run found there is
    loaded instead of retrained; an interrupted one continues. ``on_epoch_end`` goes to ``fit``."""
    train_split = data.train
    if recipe.per_class:
        train_split = subset(data.train, per_class=recipe.per_class, seed=seed)
    test_split = data.test
    if recipe.test_per_class:
        test_split = subset(data.test, per_class=recipe.test_per_class, seed=seed)
    augment = AugmentConfig(
        crop_padding=4,
        flip=data.flip_safe,
        policy=recipe.policy,
        mixup_alpha=recipe.mixup_alpha,
        cutmix_alpha=recipe.cutmix_alpha,
        label_smoothing=recipe.label_smoothing,
    )
    train_loader, test_loader = make_loaders(
        data,
        batch_size=recipe.batch_size,
        device=device,
        augment=augment,
        train=train_split,
        test=test_split,
        seed=seed,
    )
    torch.manual_seed(seed)
    model = create_model(recipe.model, num_classes=data.num_classes, **recipe.model_overrides)
    # The folder's hash covers every constructor argument, so that a changed default in the
    # model catalogue trains anew instead of loading weights of another configuration.
    fingerprint = recipe.fingerprint(
        model=model_config(model),
        data={"name": data.name, "train": len(train_split), "test": len(test_split)},
    )
    folder = Path(checkpoint_root) / f"{recipe.model}-{data.name}-seed{seed}-{fingerprint}"
    history = fit(
        model,
        train_loader,
        test_loader,
        epochs=recipe.epochs,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        warmup_epochs=recipe.warmup_epochs,
        label_smoothing=recipe.label_smoothing,
        grad_clip=recipe.grad_clip,
        device=device,
        checkpoint_dir=folder,
        resume=True,
        seed=seed,
        verbose=verbose,
        on_epoch_end=on_epoch_end,
    )
    return TrainedModel(model, history, recipe, train_split, folder)
