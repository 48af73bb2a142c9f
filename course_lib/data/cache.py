"""A best-effort cache for data that is slow to make but can always be made again."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from course_lib.atomic import atomic_write


def cache_dir(root: str | Path) -> Path:
    """Where decoded and generated data is cached: ``$COURSE_CACHE_DIR`` when set (for a data
    folder that is read-only or shared, such as Kaggle's ``/kaggle/input``), else
    ``<data root>/cache``."""
    env = os.environ.get("COURSE_CACHE_DIR")
    return Path(env).expanduser() if env else Path(root) / "cache"


def cached_tensors(
    path: Path, make: Callable[[], dict[str, torch.Tensor]]
) -> tuple[dict[str, torch.Tensor], str]:
    """``make()``'s tensors, read from ``path`` when a good copy is there, else made and written
    there. Returns the tensors and how they were obtained (``"cached at ..."`` or
    ``"made and cached at ..."``).

    The cache never stops a run: a damaged file is made again and replaced, and a folder that
    cannot be written (a read-only mount, no space) gives a warning and the tensors in memory.
    """
    if path.is_file():
        try:
            return torch.load(path, weights_only=True), f"cached at {path}"
        except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged file
            warnings.warn(
                f"The cache {path} cannot be read ({type(err).__name__}); making it again.",
                stacklevel=2,
            )
    tensors = make()
    try:
        atomic_write(path, lambda f: torch.save(tensors, f))
    except OSError as err:
        warnings.warn(
            f"Could not write the cache {path} ({err.strerror or err}); going on without it "
            "(the data is made again next time).",
            stacklevel=2,
        )
        return tensors, "not cached"
    return tensors, f"made and cached at {path}"
