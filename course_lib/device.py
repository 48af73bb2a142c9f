"""Where the course runs: device choice, seeding, mixed precision, compilation, run profiles.

Every notebook calls these so that a learner on a laptop CPU and a learner on one GPU run the
same code, and the same seed on the same device gives the same numbers.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

PROFILES = ("smoke", "cpu", "gpu", "live")
"""``live``: for a reading group, a run of a few minutes in front of the group. A notebook's
``run.choose(live=...)`` gives its own live settings; without them it runs the ``smoke``
settings and closes with the committed run's claims (:class:`course_lib.notebook.NotebookRun`)."""
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


AMP_VALUES = {"bf16": torch.bfloat16, "fp16": torch.float16, "off": None}


def precision_choice(device: torch.device | str) -> tuple[torch.dtype | None, str]:
    """The mixed-precision dtype training uses on ``device`` (``None``: fp32) and why.

    ========================  =====================================================
    CUDA, capability >= 8.0   bf16 autocast (bf16 tensor cores: A100, L4, H100, ...)
    CUDA, capability 7.x      fp16 autocast with a gradient scaler (T4, V100)
    CUDA, capability < 7.0    fp32 (P100 and older: no tensor cores)
    MPS and CPU               fp32 (the course's equivalence checks need fp32)
    ========================  =====================================================

    ``COURSE_AMP=bf16|fp16|off`` overrides the choice. ``torch.cuda.is_bf16_supported()`` is
    not used: it is true on pre-Ampere cards too, where bf16 only runs emulated, slowly.
    """
    env = os.environ.get("COURSE_AMP", "").strip().lower()
    if env:
        if env not in AMP_VALUES:
            raise ValueError(
                f"COURSE_AMP is {os.environ['COURSE_AMP']!r}; use bf16, fp16 or off, or unset it "
                "to choose by the device."
            )
        return AMP_VALUES[env], "from COURSE_AMP"
    device = torch.device(device)
    if device.type != "cuda":
        return None, f"no mixed precision on the {device.type.upper()}"
    major, minor = torch.cuda.get_device_capability(device)
    capability = f"compute capability {major}.{minor}"
    if major >= 8:
        return torch.bfloat16, f"{capability}: bf16 tensor cores"
    if major == 7:
        return torch.float16, f"{capability}: fp16 tensor cores, with a gradient scaler"
    return None, f"{capability}: no tensor cores for mixed precision"


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The mixed-precision dtype the course uses on ``device`` (see :func:`precision_choice`)."""
    return precision_choice(device)[0]


def describe_precision(device: torch.device | str) -> str:
    """One line for a notebook's header: the precision training uses on ``device`` and why."""
    dtype, why = precision_choice(device)
    name = "fp32" if dtype is None else {torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
    return f"{name} ({why})" if dtype is None else f"{name} autocast ({why})"


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
    device = torch.device(device)
    # Triton, which torch.compile generates GPU kernels with, needs compute capability 7.0.
    return device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 7


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
