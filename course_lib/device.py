"""Where the course runs: device choice, seeding, mixed precision, compilation, run profiles.

Every notebook calls these so that a learner on a laptop CPU and a learner on one GPU run the
same code, and the same seed on the same device gives the same numbers.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

PROFILES = ("smoke", "cpu", "gpu")
SUPPORTED_DEVICES = ("cpu", "cuda", "mps")
"""Device types :func:`get_device` accepts (``meta``, ``xla`` and the like are refused)."""
COMPILE_VALUES = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}
"""Run profiles: ``smoke`` (CI, about a minute on CPU), ``cpu`` (<= ~10 min on 2 cores),
``gpu`` (full CIFAR-10 on one GPU)."""


def get_device(prefer: str | None = None) -> torch.device:
    """Pick the training device: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (or the environment variable ``COURSE_DEVICE``) forces a device such as ``"cpu"``
    or ``"cuda:1"``; an unavailable choice raises an error saying what is available.
    """
    source = "the device argument" if prefer else "COURSE_DEVICE"
    wanted = (prefer or os.environ.get("COURSE_DEVICE") or "").strip().lower()
    if wanted:
        try:
            device = torch.device(wanted)
        except RuntimeError:
            raise ValueError(
                f"{source} is {wanted!r}, which is not a device. Use 'cpu', 'cuda', 'cuda:1' or "
                "'mps', or unset COURSE_DEVICE to choose automatically."
            ) from None
        if device.type not in SUPPORTED_DEVICES:
            raise ValueError(
                f"{source} is {wanted!r}: the course trains on "
                f"{', '.join(map(repr, SUPPORTED_DEVICES))} only (a {device.type!r} device holds "
                "no data to train on). Unset COURSE_DEVICE to choose automatically."
            )
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {wanted!r} was requested (argument or COURSE_DEVICE) but CUDA is not "
                "available here. Use 'cpu', or unset COURSE_DEVICE to choose automatically."
            )
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(
                f"Device {wanted!r} was requested but MPS is not available. Use 'cpu' instead."
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so an experiment can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The mixed-precision dtype the course uses on ``device``: bf16 on CUDA, none elsewhere.

    On the CPU bf16 autocast is slower than fp32 on most laptops, and the course's equivalence
    checks need fp32, so it is off by default.
    """
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def describe_precision(device: torch.device | str) -> str:
    """One line for a notebook's header: the precision training uses on ``device`` and why."""
    dtype = autocast_dtype(device)
    if dtype is None:
        why = "no mixed precision on the CPU" if torch.device(device).type == "cpu" else "default"
        return f"fp32 ({why})"
    return f"{str(dtype).removeprefix('torch.')} autocast ({torch.device(device).type})"


def should_compile(device: torch.device | str) -> bool:
    """Whether ``torch.compile`` is worth it by default: on CUDA only (``COURSE_COMPILE=0/1``
    overrides). On the CPU the compile time outweighs the gain for the course's short runs."""
    env = os.environ.get("COURSE_COMPILE")
    if env is not None and env.strip():
        value = env.strip().lower()
        if value not in COMPILE_VALUES:
            raise ValueError(
                f"COURSE_COMPILE is {env!r}; use 1 (compile) or 0 (do not), or unset it for the "
                "default (on for CUDA only)."
            )
        return COMPILE_VALUES[value]
    return torch.device(device).type == "cuda"


def resolve_profile(profile: str, device: torch.device | str | None = None) -> str:
    """Turn a notebook's ``profile`` parameter into one of :data:`PROFILES`.

    ``"auto"`` means ``"gpu"`` on CUDA and ``"cpu"`` otherwise. The environment variable
    ``COURSE_PROFILE`` overrides the argument (the test suite sets it to ``"smoke"``).
    """
    chosen = os.environ.get("COURSE_PROFILE") or profile
    chosen = str(chosen).strip().lower()
    if chosen == "auto":
        device = torch.device(device) if device is not None else get_device()
        return "gpu" if device.type == "cuda" else "cpu"
    if chosen not in PROFILES:
        raise ValueError(
            f"Unknown profile {chosen!r}. Expected one of 'auto', "
            + ", ".join(repr(p) for p in PROFILES)
            + ". Set the notebook's `profile` parameter (or COURSE_PROFILE) to one of these."
        )
    return chosen
