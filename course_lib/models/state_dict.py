"""A readable error for a state dict that belongs to another architecture, and the model base
class that gives it on every strict load."""

from __future__ import annotations

from collections.abc import Mapping
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
    """Base class of the course's models: a strict ``load_state_dict`` of another architecture
    raises a ``ValueError`` naming the first mismatched keys and shapes (see
    :func:`check_state_dict`) instead of PyTorch's full dump."""

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign=False):
        if strict:
            check_state_dict(self, state_dict)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
