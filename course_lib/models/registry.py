"""Create any course model by name: ``create_model("resnet_cifar_small", num_classes=10)``.

Model modules register their named configurations with :func:`register_model`; each name maps
to a builder whose keyword arguments can be overridden at creation.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_MODEL_MODULES = (
    "course_lib.models.cnn",
    "course_lib.models.vit",
    "course_lib.models.deit",
    "course_lib.models.cait",
    "course_lib.models.convit",
    "course_lib.models.alternet",
)

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[F], F]:
    """Decorator: register ``builder(**overrides) -> nn.Module`` under ``name``."""

    def decorate(builder: F) -> F:
        if name in _BUILDERS:
            raise ValueError(f"Model name {name!r} is registered twice.")
        _BUILDERS[name] = builder
        return builder

    return decorate


def _import_model_modules() -> None:
    for module in _MODEL_MODULES:
        importlib.import_module(module)


def list_models() -> list[str]:
    """All registered model names, sorted."""
    _import_model_modules()
    return sorted(_BUILDERS)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the model registered as ``name``; ``overrides`` replace its default arguments
    (e.g. ``num_classes=100``). An unknown name raises a ``KeyError`` listing close matches."""
    if not isinstance(name, str):
        raise TypeError(
            f"The model name must be a string such as 'vit_cifar_nano', got "
            f"{type(name).__name__} {name!r}. list_models() gives every name."
        )
    _import_model_modules()
    if name not in _BUILDERS:
        close = difflib.get_close_matches(name, _BUILDERS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(
            f"Unknown model {name!r}.{hint} Available models: {', '.join(sorted(_BUILDERS))}."
        )
    try:
        return _BUILDERS[name](**overrides)
    except TypeError as err:
        raise TypeError(f"Cannot build {name!r} with overrides {overrides}: {err}") from err
