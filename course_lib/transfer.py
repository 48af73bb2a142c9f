"""Upstream and downstream at course scale: split a dataset's classes into a pre-training task and
a transfer task, and carry a pre-trained body over to a model with a new head.

The ViT and BiT papers pre-train on one large dataset ("upstream") and transfer to many small
ones ("downstream"). At course scale the two tasks come from one dataset: for example CIFAR-10's
six animal classes upstream and its four vehicle classes downstream, so that the downstream
classes were never seen in pre-training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from course_lib.data import ImageDataset, ImageSplit
from course_lib.models.state_dict import model_config

#: CIFAR-10's classes by kind (indices into its class list).
CIFAR10_ANIMALS = (2, 3, 4, 5, 6, 7)  # bird, cat, deer, dog, frog, horse
CIFAR10_VEHICLES = (0, 1, 8, 9)  # airplane, automobile, ship, truck


def _keep_classes(split: ImageSplit, classes: Sequence[int]) -> ImageSplit:
    new_label = torch.full((int(split.labels.max()) + 1,), -1, dtype=torch.long)
    new_label[torch.as_tensor(classes)] = torch.arange(len(classes))
    mapped = new_label[split.labels.cpu()]
    keep = mapped >= 0
    return ImageSplit(split.images[keep], mapped[keep])


def class_subset(data: ImageDataset, classes: Sequence[int]) -> ImageDataset:
    """``data`` restricted to ``classes`` (indices into ``data.classes``), relabelled ``0 .. k-1``
    in the order given; train and test both. Raises ``ValueError`` for an unknown or repeated
    class."""
    classes = [int(c) for c in classes]
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"Give each class once, at least one; got {classes}.")
    unknown = [c for c in classes if not 0 <= c < data.num_classes]
    if unknown:
        raise ValueError(
            f"Classes {unknown} do not exist in {data.name}, which has {data.num_classes} "
            f"(0 to {data.num_classes - 1}: {', '.join(data.classes)})."
        )
    return replace(
        data,
        name=f"{data.name}[{','.join(map(str, classes))}]",
        classes=tuple(data.classes[c] for c in classes),
        train=_keep_classes(data.train, classes),
        test=_keep_classes(data.test, classes),
        _stats=None,  # other images, other channel statistics
    )


def _body(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """A model configuration without what a new head may change (the number of classes)."""
    if config is None:
        return None
    return {"class": config["class"], "args": {**config["args"], "num_classes": None}}


def _describe(model: nn.Module) -> str:
    config = model_config(model)
    if config is None:
        return type(model).__name__
    args = ", ".join(f"{k}={v}" for k, v in config["args"].items() if k != "num_classes")
    name = config["name"] or config["class"].rsplit(".", 1)[-1]
    return f"{name} ({args}; {config['args'].get('num_classes')} classes)"


def transfer_weights(
    source: nn.Module, target: nn.Module, head: Sequence[str] = ("head",)
) -> nn.Module:
    """Copy every weight of the pre-trained ``source`` into ``target`` except the classifier
    ``head`` (parameter names starting with one of ``head``), which keeps ``target``'s fresh
    initialisation; returns ``target``.

    Both must be the same architecture with the same configuration, apart from the number of
    classes; otherwise a ``ValueError`` names both models.
    """
    same_body = _body(model_config(source)) == _body(model_config(target))
    body = {k: v for k, v in source.state_dict().items() if not k.startswith(tuple(head))}
    expected = {k: v for k, v in target.state_dict().items() if not k.startswith(tuple(head))}
    fits = body.keys() == expected.keys() and all(body[k].shape == expected[k].shape for k in body)
    if not (same_body and fits):
        raise ValueError(
            f"Cannot transfer: the pre-trained model is {_describe(source)} but the target is "
            f"{_describe(target)}. Build the target with the same name and settings as the "
            "pre-trained model, changing only num_classes."
        )
    target.load_state_dict({**target.state_dict(), **body}, strict=True)
    return target
