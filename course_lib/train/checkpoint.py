"""Training checkpoints: written atomically, read safely (``weights_only=True``).

A checkpoint is written to a temporary file in the same folder and renamed over the old one, so an
interrupt (or a full disk) never leaves a half-written ``last.pt`` behind: the file on disk is
always either the previous complete checkpoint or the new complete one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_lib.atomic import atomic_write
from course_lib.models.state_dict import check_state_dict

FORMAT = "course_lib.checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable, incomplete, or does not fit the model."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` (tensors, numbers, strings, lists, dicts) to ``path``."""
    return atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True`` (no
    arbitrary code runs). Raises :class:`CheckpointError` saying what to do when it cannot."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged file
        raise CheckpointError(
            f"The checkpoint {path} cannot be read ({type(err).__name__}: {err}). It is damaged, "
            "or not a course_lib checkpoint. Delete it to start again, or point to another file."
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a readable file but not a {FORMAT} checkpoint. For a bare state dict use "
            "model.load_state_dict(torch.load(path, weights_only=True))."
        )
    return state


def load_model_state(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with an error that lists the first
    mismatched keys and shapes instead of PyTorch's full dump."""
    try:
        check_state_dict(model, state_dict)
    except ValueError as err:
        raise CheckpointError(
            f"The weights in {source} do not fit {type(model).__name__}. {err} Build the same "
            "architecture (name and overrides) that wrote them."
        ) from err
    model.load_state_dict(state_dict, strict=True)
