"""A best-effort cache for data that is slow to make but can always be made again."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from course_lib.atomic import atomic_write


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/course_lib`` (``~/.cache/course_lib`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "course_lib"


def cache_file(root: str | Path, name: str) -> Path:
    """Where the cache file ``name`` of the data under ``root`` lives.

    ``$COURSE_CACHE_DIR/name`` when that variable is set; else ``<root>/cache/name`` when it
    exists already or that folder is writable; else (a read-only data folder, such as Kaggle's
    ``/kaggle/input``) the user's cache folder, :func:`user_cache_dir`.
    """
    env = os.environ.get("COURSE_CACHE_DIR")
    if env:
        return Path(env).expanduser() / name
    beside = Path(root) / "cache" / name
    if beside.is_file():
        return beside
    try:
        beside.parent.mkdir(parents=True, exist_ok=True)
        writable = os.access(beside.parent, os.W_OK)
    except OSError:
        writable = False
    return beside if writable else user_cache_dir() / name


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
