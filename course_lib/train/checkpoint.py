"""Training checkpoints: written atomically, read safely (``weights_only=True``).

A checkpoint is written to a temporary file in the same folder and renamed over the old one, so an
interrupt (or a full disk) never leaves a half-written ``last.pt`` behind: the file on disk is
always either the previous complete checkpoint or the new complete one.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_lib.atomic import atomic_write
from course_lib.models.state_dict import build_from_config, check_state_dict

FORMAT = "course_lib.checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable, incomplete, or does not fit the model."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` (tensors, numbers, strings, lists, dicts) to ``path``. A full
    disk raises a :class:`CheckpointError` that says so; the previous file stays intact."""
    try:
        return atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))
    except (OSError, RuntimeError) as err:
        text = str(err)
        full = isinstance(err, OSError) and err.errno == errno.ENOSPC
        # torch reports a full disk as a failed write deep in its zip writer
        full = full or any(s in text for s in ("No space", "write failed", "inline_container"))
        if full:
            free = shutil.disk_usage(Path(path).parent).free
            raise CheckpointError(
                f"Could not write {path}: no space left on the disk ({free / 1e6:.0f} MB free; "
                f"{text.splitlines()[0][:120]}). The previous checkpoint, if any, is intact: free "
                "some space and resume."
            ) from err
        raise


def prepare_checkpoint_dir(path: str | Path, model: nn.Module, ema: bool = False) -> None:
    """Before the first epoch: make sure ``path``'s folder can take checkpoints (it is a folder,
    writable, with room for two copies, as the atomic write needs) and remove temporary files
    that a killed save left behind. Raises :class:`CheckpointError` saying what to change."""
    path = Path(path)
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"checkpoint_dir {folder} is a file, not a folder: give a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise CheckpointError(
            f"checkpoint_dir {folder} is not writable ({err.strerror or err}): give a folder you "
            "can write to (a read-only data mount cannot hold checkpoints)."
        ) from err
    for orphan in folder.glob(f".{path.name}.*.tmp"):  # from a save that was killed
        orphan.unlink(missing_ok=True)
    # weights, Adam's two moments (and an EMA copy), written next to the previous checkpoint
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    needed = 2 * weights * (4 if ema else 3)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise CheckpointError(
            f"checkpoint_dir {folder} has {free / 1e6:.0f} MB free; checkpoints of this model need "
            f"about {needed / 1e6:.0f} MB (two copies during a save). Free some space or choose "
            "another folder."
        )


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


def load_model(
    path: str | Path, *, weights: str = "model", device: str | torch.device = "cpu"
) -> nn.Module:
    """Rebuild the model a ``fit()`` checkpoint was written by, from the checkpoint alone: its
    class and every constructor argument are stored in it. ``weights``: ``"model"`` (the trained
    weights) or ``"ema"`` (their moving average, when the run kept one). Returns the model in
    eval mode on ``device``; ``model.registered_name`` is the catalogue name it was created
    under."""
    state = load_checkpoint(path)
    config = state.get("model_config")
    if config is None:
        raise CheckpointError(
            f"{path} does not say which model wrote it (a checkpoint from an older course_lib, or "
            "of a model that is not a course model). Build the model yourself and load the "
            "weights with load_model_state(model, load_checkpoint(path)['model'], path)."
        )
    if weights not in ("model", "ema"):
        raise ValueError(f"weights must be 'model' or 'ema', got {weights!r}.")
    if state.get(weights) is None:
        raise CheckpointError(f"{path} holds no {weights!r} weights (the run kept no EMA).")
    try:
        model = build_from_config(config)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path} names a model that cannot be built here: {err}") from err
    load_model_state(model, state[weights], str(path))
    return model.to(device).eval()
