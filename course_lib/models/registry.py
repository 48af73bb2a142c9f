"""The course's model catalogue: ``create_model("resnet_cifar_mini", num_classes=10)``.

Each model file registers its named configurations with :func:`register_model`. The name is the
builder function's name (as in timm); the entry also records the family, the size on the
family's ladder and, where timm has the same architecture, its *timm twin*: the timm model name
and the arguments that give it the same configuration, so that the course model loads the twin's
state dict strictly (``tests/test_timm_twins.py`` checks every one).

The model files are imported by ``course_lib.models`` (one import line per family), which is
what fills the catalogue; :func:`create_model` and :func:`list_models` import that package first.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from torch import nn

F = TypeVar("F", bound=Callable[..., nn.Module])

#: The size ladder of the course's CIFAR models, smallest first: ``nano`` for smoke runs and CPU
#: sweeps, ``mini`` for the cpu profile, ``tiny`` for the gpu profile (width 192 for the
#: transformers). The ImageNet configurations keep timm's names (``tiny``, ``small``, ``base``).
CIFAR_SIZES = ("nano", "mini", "tiny")

#: What every CIFAR-10 configuration shares: 32x32 images, 4x4 patches (an 8x8 grid), 10 classes.
CIFAR: Mapping[str, int] = MappingProxyType({"img_size": 32, "patch_size": 4, "num_classes": 10})


@dataclass(frozen=True)
class ModelEntry:
    """One registered configuration.

    ``timm_name`` / ``timm_args``: timm's model and the keyword arguments that make it the same
    configuration as this one's defaults (``None`` when timm has no such model).
    """

    name: str
    family: str
    size: str
    builder: Callable[..., nn.Module]
    timm_name: str | None = None
    timm_args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """The first line of the builder's docstring."""
        return (self.builder.__doc__ or "").strip().split("\n")[0]


_ENTRIES: dict[str, ModelEntry] = {}

#: Old names that no longer exist, and what they are called now. (``resnet_cifar_tiny`` was the
#: smallest ResNet and is now the largest: a checkpoint saved under the old name fails its strict
#: load with the shapes that differ.)
RENAMED = {"resnet_cifar_small": "resnet_cifar_mini", "resnet_cifar": "resnet_cifar_tiny"}


def register_model(
    *,
    family: str,
    size: str,
    timm: str | None = None,
    timm_args: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """Decorator: register ``builder(**overrides) -> nn.Module`` under the builder's name.

    ``family``: ``"vit"``, ``"resnet"``, ...; ``size``: its place on the family's ladder
    (:data:`CIFAR_SIZES` for the CIFAR models); ``timm`` and ``timm_args``: the timm twin.
    """

    def decorate(builder: F) -> F:
        name = builder.__name__
        if name in _ENTRIES:
            raise ValueError(f"Model name {name!r} is registered twice.")
        args = MappingProxyType(dict(timm_args or {}))
        _ENTRIES[name] = ModelEntry(name, family, size, builder, timm, args)
        return builder

    return decorate


def _catalogue() -> dict[str, ModelEntry]:
    import course_lib.models  # noqa: F401  (importing the package registers every model file)

    return _ENTRIES


def list_models(
    pattern: str = "*", *, family: str | None = None, size: str | None = None
) -> list[str]:
    """Registered model names matching the shell-style ``pattern`` (``"vit_cifar_*"``) and, when
    given, the ``family`` and ``size``; sorted."""
    return sorted(
        name
        for name, entry in _catalogue().items()
        if fnmatch.fnmatchcase(name, pattern)
        and family in (None, entry.family)
        and size in (None, entry.size)
    )


def model_entry(name: str) -> ModelEntry:
    """The catalogue entry of ``name``; an unknown name raises a ``KeyError`` with close
    matches."""
    if not isinstance(name, str):
        raise TypeError(
            f"The model name must be a string such as 'vit_cifar_nano', got "
            f"{type(name).__name__} {name!r}. list_models() gives every name."
        )
    entries = _catalogue()
    if name not in entries:
        close = difflib.get_close_matches(name, entries, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        if name in RENAMED:
            hint = f" It was renamed to {RENAMED[name]!r} (one size ladder for every family)."
        raise KeyError(
            f"Unknown model {name!r}.{hint} Available models: {', '.join(sorted(entries))}."
        )
    return entries[name]


def find_model(family: str, size: str, pattern: str = "*cifar*") -> str:
    """The one model of ``family`` at ``size`` whose name matches ``pattern`` (by default the
    CIFAR configurations): ``find_model("deit", "nano") == "deit_cifar_nano_distilled"``."""
    names = list_models(pattern, family=family, size=size)
    if len(names) != 1:
        known = sorted({e.family for e in _catalogue().values()})
        raise KeyError(
            f"Expected one {family!r} model of size {size!r} matching {pattern!r}, found "
            f"{names or 'none'}. Families: {', '.join(known)}; CIFAR sizes: "
            f"{', '.join(CIFAR_SIZES)}."
        )
    return names[0]


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the model registered as ``name``; ``overrides`` replace its default arguments
    (e.g. ``num_classes=100``). An unknown name raises a ``KeyError`` listing close matches."""
    entry = model_entry(name)
    try:
        model = entry.builder(**overrides)
    except TypeError as err:
        raise TypeError(f"Cannot build {name!r} with overrides {overrides}: {err}") from err
    model.__dict__["registered_name"] = name  # (a plain attribute: not a submodule or buffer)
    return model


def create_timm_twin(name: str, **overrides: Any) -> nn.Module:
    """timm's model with the same configuration as the course model ``name`` (random weights,
    ``pretrained=False``); ``overrides`` go to timm on top of the twin's arguments. Raises a
    ``KeyError`` for a model without a twin."""
    import timm

    entry = model_entry(name)
    if entry.timm_name is None:
        twins = ", ".join(n for n, e in sorted(_catalogue().items()) if e.timm_name)
        raise KeyError(f"{name!r} has no timm twin. Models with one: {twins}.")
    arguments = {**entry.timm_args, **overrides}
    if "." in entry.timm_name:  # a timm class whose registered builders fix the size (Mixer)
        module_name, _, class_name = entry.timm_name.rpartition(".")
        return getattr(importlib.import_module(module_name), class_name)(**arguments)
    return timm.create_model(entry.timm_name, pretrained=False, **arguments)
