"""A readable error for a state dict that belongs to another architecture, and the model base
class that gives it on every strict load."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn


def check_state_dict(model: nn.Module, state_dict: Mapping[str, Any], show: int = 5) -> None:
    """Raise a ``ValueError`` unless ``state_dict`` has exactly ``model``'s keys and shapes.

    The message lists the first ``show`` missing keys, unexpected keys and shape mismatches, which
    is usually enough to see which architecture or size the checkpoint came from.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict
        and hasattr(state_dict[k], "shape")
        and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or shapes):
        return
    lines = [f"This state dict does not fit {type(model).__name__}."]
    for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if items:
            more = f" (and {len(items) - show} more)" if len(items) > show else ""
            lines.append(f"{len(items)} {title}: {', '.join(items[:show])}{more}.")
    lines.append(
        "Build the model with the configuration the weights were saved from (same name, width, "
        "depth, patch size, pooling), or load with strict=False to keep only matching tensors."
    )
    raise ValueError("\n".join(lines))


class CourseModel(nn.Module):
    """Base class of the course's models.

    - A strict ``load_state_dict`` of another architecture raises a ``ValueError`` naming the
      first mismatched keys and shapes (see :func:`check_state_dict`) instead of PyTorch's full
      dump.
    - ``init_args`` holds every constructor argument the model was built with, defaults
      included, so that a checkpoint can say exactly which model wrote it
      (:func:`model_config`) and a changed default is noticed.
    """

    init_args: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_arguments(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign=False):
        if strict:
            check_state_dict(self, state_dict)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def _recording_arguments(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a model's ``__init__`` so that it stores its bound arguments in ``init_args``. A
    subclass's ``**kwargs`` are merged into what its base class recorded."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments: dict[str, Any] = {}
        for name, value in list(bound.arguments.items())[1:]:
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(value)
            elif kind is not inspect.Parameter.VAR_POSITIONAL:
                arguments[name] = value
        self.__dict__["init_args"] = {**self.__dict__.get("init_args", {}), **arguments}

    return __init__


def model_config(model: nn.Module) -> dict[str, Any] | None:
    """What rebuilds ``model``: its class (``module.Class``), the registered name it was created
    under (``None`` when built directly) and every constructor argument; ``None`` for a model
    that is not a course model."""
    args = getattr(model, "init_args", None)
    if args is None:
        return None
    return {
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "name": getattr(model, "registered_name", None),
        "args": dict(args),
    }


def build_from_config(config: Mapping[str, Any]) -> nn.Module:
    """The model :func:`model_config` describes, with fresh weights. Only classes of
    ``course_lib.models`` are built (a checkpoint names a class, it does not run code)."""
    import importlib

    module_name, _, class_name = str(config.get("class", "")).rpartition(".")
    if not module_name.startswith("course_lib.models"):
        raise ValueError(
            f"The configuration names {config.get('class')!r}, not a course_lib.models class."
        )
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, CourseModel)):
        raise ValueError(f"{config['class']!r} is not a course model class.")
    model = cls(**config["args"])
    if config.get("name"):
        model.__dict__["registered_name"] = config["name"]
    return model
