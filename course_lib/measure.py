"""Measure a model: its size, its FLOPs, its speed, and the device's peak.

These are the numbers the notebooks put beside accuracies (parameters, multiply-adds per image,
training images per second, forward latency) and that ``course_lib.bench`` turns into model FLOP
utilisation. Every function takes the image size from the model (``patch_embed.img_size`` or
``img_size``; 32 for models that take any size, such as the ResNets).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.device import autocast_dtype, seed_everything
from course_lib.models import create_model, create_timm_twin


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``with eval_mode(model):`` runs the block in eval mode (no dropout, batch norm on its
    running statistics) and restores the mode the model had, even when the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def explicit_attention_path(model: nn.Module) -> Iterator[nn.Module]:
    """Switch every attention layer of ``model`` to its explicit path for the block, then back.

    PyTorch's FLOP counter does not see inside every fused attention kernel (on the CPU it misses
    ``q k^T`` and ``A v``); the explicit path computes the same numbers with plain matmuls."""
    layers = [m for m in model.modules() if hasattr(m, "fused")]
    before = [m.fused for m in layers]
    for layer in layers:
        layer.fused = False
    try:
        yield model
    finally:
        for layer, fused in zip(layers, before):
            layer.fused = fused


def timm_pair(name: str, device: torch.device | str) -> dict[str, nn.Module]:
    """``{"course": model, "timm": twin}``: the course model ``name`` and timm's model of the
    same configuration with the same weights (seeded), in train mode on ``device``, for speed
    comparisons. A distilled DeiT trains both heads, as distillation does."""
    seed_everything(0)
    reference = create_timm_twin(name)
    ours = create_model(name)
    ours.load_state_dict(reference.state_dict())
    for model in (ours, reference):
        if hasattr(model, "set_distilled_training"):
            model.set_distilled_training(True)
    return {"course": ours.to(device).train(), "timm": reference.to(device).train()}


def input_size(model: nn.Module, default: int = 32) -> tuple[int, int]:
    """``(H, W)`` of the images ``model`` takes (``default`` squared for a model that takes any
    size); reads ``patch_embed.img_size`` or ``img_size``, an int or a pair as in timm."""
    embed = getattr(model, "patch_embed", None)
    size = getattr(embed, "img_size", None) or getattr(model, "img_size", None) or default
    height, width = (size, size) if isinstance(size, int) else size
    return int(height), int(width)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of parameters (only those with ``requires_grad`` when ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _device(model: nn.Module, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _images(model: nn.Module, batch: int, device: torch.device) -> torch.Tensor:
    """Random images of the model's size, drawn from a private generator: measuring a model
    leaves the global random state (and so every later seeded result) as it was."""
    height, width = input_size(model)
    channels = getattr(getattr(model, "patch_embed", None), "in_chans", None)
    channels = channels or getattr(model, "in_chans", 3)
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, channels, height, width, generator=generator)
    return images.to(device=device, dtype=dtype)


def forward_flops(model: nn.Module, device: torch.device | str | None = None) -> float:
    """Floating-point operations of one forward pass of one image, counted by PyTorch's
    ``FlopCounterMode`` on the explicit attention path (a multiply-add counts 2; half of this is
    the multiply-adds). A training step costs about three times this."""
    from torch.utils.flop_counter import FlopCounterMode

    device = _device(model, device)
    x = _images(model, 2, device)  # two images: batch norm in train mode needs more than one
    with explicit_attention_path(model), FlopCounterMode(display=False) as counter:
        model(x)  # (with autograd on: the counter's module tracker needs it)
    return counter.get_total_flops() / 2


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so that a clock reading is fair."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@torch.no_grad()
def forward_ms(
    model: nn.Module,
    batch: int | None = None,
    repeats: int = 3,
    device: torch.device | str | None = None,
    inputs: torch.Tensor | None = None,
) -> float:
    """Mean wall time of one forward pass in eval mode, without gradients, in milliseconds
    (after one warm-up pass): on ``inputs`` when given (any module, e.g. one attention layer on
    tokens ``(B, N, D)``), else on a batch of ``batch`` random images of the model's size."""
    device = _device(model, device)
    if inputs is None:
        if batch is None:
            raise ValueError("forward_ms needs a batch size or the inputs to time.")
        inputs = _images(model, batch, device)
    with eval_mode(model):
        model(inputs)
        synchronize(device)
        start = time.perf_counter()
        for _ in range(repeats):
            model(inputs)
        synchronize(device)
    return (time.perf_counter() - start) / repeats * 1000


def _loss(outputs: torch.Tensor | tuple[torch.Tensor, ...], y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy; a model with two heads (distilled DeiT in training) gets the mean."""
    if isinstance(outputs, (tuple, list)):
        return torch.stack([F.cross_entropy(o.float(), y) for o in outputs]).mean()
    return F.cross_entropy(outputs.float(), y)


def train_images_per_s(
    model: nn.Module,
    device: torch.device | str | None = None,
    batch: int = 64,
    steps: int = 5,
    amp: bool = False,
    num_classes: int = 10,
) -> float:
    """Training steps (forward, cross-entropy, backward, AdamW step) on random batches of the
    model's image size, after two warm-up steps: images per second. ``amp``: mixed precision as
    training uses it on this device (:func:`course_lib.device.autocast_dtype`; bf16 where the
    device has no choice), fp16 with its gradient scaler. The model is left in train mode with
    changed weights: give it a copy you do not need."""
    device = _device(model, device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = _images(model, batch, device)
    y = torch.randint(0, num_classes, (batch,), generator=torch.Generator().manual_seed(1))
    y = y.to(device)
    dtype = (autocast_dtype(device) or torch.bfloat16) if amp else None
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            loss = _loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(2):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return batch * steps / (time.perf_counter() - start)


# Dense tensor-core peaks in TFLOP/s by precision (vendor data sheets; SXM parts where there are
# several; matched by name in this order, so "A100" before "A10"). COURSE_PEAK_TFLOPS overrides,
# e.g. for a GPU missing here.
PEAK_TFLOPS: dict[str, dict[torch.dtype, float]] = {
    "H200": {torch.bfloat16: 989.0, torch.float16: 989.0},
    "H100": {torch.bfloat16: 989.0, torch.float16: 989.0},
    "A100": {torch.bfloat16: 312.0, torch.float16: 312.0},
    "L4": {torch.bfloat16: 121.0, torch.float16: 121.0},
    "A10": {torch.bfloat16: 125.0, torch.float16: 125.0},
    "V100": {torch.float16: 125.0},
    "T4": {torch.float16: 65.0},
}


def peak_tflops(device: torch.device | str, dtype: torch.dtype | None = None) -> float | None:
    """The device's dense tensor-core peak in TFLOP/s for ``dtype`` (default: the precision
    training uses there), or ``None`` when unknown, on the CPU, or for fp32."""
    env = os.environ.get("COURSE_PEAK_TFLOPS")
    if env:
        return float(env)
    device = torch.device(device)
    if device.type != "cuda":
        return None
    dtype = dtype if dtype is not None else autocast_dtype(device)
    name = torch.cuda.get_device_name(device)
    peaks = next((p for key, p in PEAK_TFLOPS.items() if key in name), {})
    return peaks.get(dtype) if dtype is not None else None


def bf16_peak_tflops(device: torch.device | str) -> float | None:
    """The device's dense bf16 peak in TFLOP/s, or ``None`` when unknown (and on the CPU)."""
    return peak_tflops(device, torch.bfloat16)
