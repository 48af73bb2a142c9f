"""``fit`` and ``evaluate`` for any image classifier (an ``nn.Module`` returning logits).

One training loop serves every notebook: AdamW with parameter groups, warmup + cosine, label
smoothing, gradient clipping, bf16 autocast and ``torch.compile`` on CUDA, an optional EMA of the
weights, a checkpoint after every epoch (``resume=True`` continues an interrupted run to the same
result), a guard that stops on a NaN/inf loss, and a hook for a teacher network (distillation).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from tqdm import tqdm

from course_lib.device import autocast_dtype, get_device, seed_everything, should_compile
from course_lib.measure import eval_mode
from course_lib.models.state_dict import model_config
from course_lib.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model_state,
    prepare_checkpoint_dir,
    save_checkpoint,
)
from course_lib.train.losses import ClassificationLoss
from course_lib.train.optim import create_optimizer, schedule_factor

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]
CHECKPOINT_NAME = "last.pt"


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class History:
    """Per-epoch records: ``epoch``, ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc``
    (when a test loader is given), ``ema_test_acc`` (with EMA), ``lr``, ``epoch_time`` (s),
    ``images_per_s``, and whatever extra callbacks add. ``history["test_acc"]`` is a column."""

    records: list[dict[str, float]] = field(default_factory=list)
    ema_model: nn.Module | None = None
    """The exponential moving average of the weights, when ``fit`` kept one (``ema_decay``)."""

    def __getitem__(self, key: str) -> list[float]:
        return [r[key] for r in self.records if key in r]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def last(self) -> dict[str, float]:
        return self.records[-1] if self.records else {}

    def to_dict(self) -> dict[str, list[float]]:
        keys = dict.fromkeys(k for r in self.records for k in r)
        return {k: self[k] for k in keys}


def merge_logits(outputs: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """Logits ``(B, K)`` from a model's outputs: several heads (a tuple) are averaged."""
    if isinstance(outputs, (tuple, list)):
        return torch.stack([o.float() for o in outputs]).mean(dim=0)
    return outputs


def _amp_dtype(device: torch.device, amp: bool | None) -> torch.dtype | None:
    """The autocast dtype of this run: the device's choice (``amp=None``), none (``False``), or
    the device's choice with bf16 where it has none (``True``)."""
    dtype = autocast_dtype(device)
    if amp is False or (amp is None and dtype is None):
        return None
    return dtype or torch.bfloat16


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` (resolved once per call of fit/evaluate by :func:`_amp_dtype`)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: Batches,
    device: torch.device | str | None = None,
    amp: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(N, K)`` (float32, CPU) and labels ``(N,)`` over ``loader`` in eval mode."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dtype = _amp_dtype(device, amp)
    logits, labels = [], []
    with eval_mode(model):
        for x, y in loader:
            with _autocast(device, dtype):
                out = merge_logits(model(x.to(device, non_blocking=True)))
            logits.append(out.float().cpu())
            labels.append(y.cpu())
    return torch.cat(logits), torch.cat(labels)


@torch.no_grad()
def predict_classes(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = 500,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Predicted classes ``(N,)`` on the CPU for normalised images ``(N, C, H, W)``, in eval
    mode, ``batch_size`` images at a time (a distilled DeiT's two heads are averaged)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    with eval_mode(model):
        chunks = [
            merge_logits(model(chunk.to(device))).argmax(dim=-1).cpu()
            for chunk in images.split(batch_size)
        ]
    return torch.cat(chunks)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Batches,
    device: torch.device | str | None = None,
    amp: bool | None = None,
) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and top-1 ``acc`` (in [0, 1]) of ``model`` over ``loader``."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dtype = _amp_dtype(device, amp)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    with eval_mode(model):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with _autocast(device, dtype):
                logits = merge_logits(model(x)).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
            correct += (logits.argmax(dim=-1) == y).sum()
            seen += y.shape[0]
    if seen == 0:
        raise ValueError("evaluate() got an empty loader.")
    return {"loss": loss_sum.item() / seen, "acc": correct.item() / seen}


def fit(
    model: nn.Module,
    train_loader: Batches,
    test_loader: Batches | None = None,
    *,
    epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    decay_groups: bool = True,
    betas: tuple[float, float] = (0.9, 0.999),
    warmup_epochs: float = 1.0,
    min_lr_ratio: float = 0.01,
    schedule: str | Sequence[float] = "cosine",
    label_smoothing: float = 0.0,
    grad_clip: float | None = None,
    criterion: Callable[..., torch.Tensor] | None = None,
    teacher: nn.Module | None = None,
    ema_decay: float | None = None,
    amp: bool | None = None,
    compile: bool | None = None,
    device: torch.device | str | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    seed: int = 0,
    progress: bool | None = None,
    verbose: bool = True,
    nan_check_every: int | None = None,
    on_epoch_end: Callable[[nn.Module, dict[str, float]], bool | None] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs on ``train_loader``; evaluate on ``test_loader``
    after each epoch. Returns the :class:`History`.

    ``train_loader`` yields ``(inputs (B, C, H, W), targets)`` with targets ``(B,)`` labels or
    ``(B, K)`` soft targets; a :class:`~course_lib.data.DeviceLoader` is re-seeded per epoch.

    - ``decay_groups``: exempt biases, norms, tokens and position embeddings from the weight
      decay (:func:`~course_lib.train.param_groups`); ``False`` decays every parameter.
    - ``lr``: the peak; it warms up linearly for ``warmup_epochs``, then follows a cosine to
      ``min_lr_ratio`` times itself (``warmup_epochs=0, min_lr_ratio=1``: a constant rate).
      ``schedule=(0.5, 0.75)`` replaces the cosine by steps: the rate is divided by 10 at those
      fractions of the run (:func:`~course_lib.train.schedule_factor`).
    - ``criterion(outputs, targets)``: defaults to cross-entropy with ``label_smoothing``.
    - ``teacher``: a frozen network run under ``no_grad`` on the same (augmented) batch; its logits
      reach ``criterion(outputs, targets, teacher_outputs=...)``, which must set
      ``uses_teacher = True`` (the distillation hook).
    - ``amp`` / ``compile``: ``None`` follows :mod:`course_lib.device` (bf16 and compile on CUDA).
    - ``checkpoint_dir``: write ``last.pt`` there after every epoch; ``resume=True`` continues from
      it (same arguments required), giving the same result as an uninterrupted run.
    - ``nan_check_every``: check the loss for NaN/inf every this many steps (default: every step
      on the CPU, every 25 on a GPU to avoid synchronising); the error names the first bad step.
    - ``on_epoch_end(model, record)``: may add entries to the epoch's record (e.g. gate values);
      returning ``True`` stops training after this epoch (e.g. at a target accuracy).
    - ``progress``: a tqdm bar per epoch; ``None`` shows it unless ``COURSE_PROGRESS=0`` (set by
      ``course_lib.run`` so executed notebooks keep only the one-line epoch summaries).
    """
    device = torch.device(device) if device is not None else get_device()
    criterion = criterion if criterion is not None else ClassificationLoss(label_smoothing)
    uses_teacher = bool(getattr(criterion, "uses_teacher", False))
    if teacher is not None and not uses_teacher:
        raise ValueError(
            "A teacher was given but the criterion ignores it. Pass a distillation criterion that "
            "accepts teacher_outputs= (and sets uses_teacher = True), or drop the teacher."
        )
    if uses_teacher and teacher is None:
        raise ValueError(
            "The criterion is a distillation loss but no teacher was given: pass teacher=<a "
            "trained model>, or use distillation type 'none'."
        )
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}.")
    steps_per_epoch = len(train_loader)  # type: ignore[arg-type]
    if steps_per_epoch == 0:
        raise ValueError("The training loader yields no batch: check its size and batch_size.")

    seed_everything(seed)
    model.to(device)
    optimizer = create_optimizer(model, lr, weight_decay, betas, decay_groups)
    total_steps = epochs * steps_per_epoch
    scheduler = LambdaLR(
        optimizer,
        schedule_factor(
            schedule, round(warmup_epochs * steps_per_epoch), total_steps, min_lr_ratio
        ),
    )
    ema = _make_ema(model, ema_decay)
    if teacher is not None:
        teacher.to(device).eval().requires_grad_(False)
    history = History(ema_model=ema.module if ema is not None else None)
    settings = {  # what decides the run's result, saved with every checkpoint
        "model": model_config(model),
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "batch_size": getattr(train_loader, "batch_size", None),
        "lr": lr,
        "weight_decay": weight_decay,
        "decay_groups": decay_groups,
        "betas": list(betas),
        "warmup_epochs": warmup_epochs,
        "min_lr_ratio": min_lr_ratio,
        "schedule": schedule if isinstance(schedule, str) else list(schedule),
        "label_smoothing": label_smoothing,
        "grad_clip": grad_clip,
        "criterion": type(criterion).__name__,
        "teacher": model_config(teacher) if teacher is not None else None,
        "ema_decay": ema_decay,
        "seed": seed,
    }
    # fp16 gradients underflow without loss scaling; with bf16 or fp32 the scaler is a no-op.
    amp_dtype = _amp_dtype(device, amp)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    state = _TrainingState(model, optimizer, scheduler, ema, history, device, settings, scaler)
    start_epoch = 0
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if ckpt_path is not None:
        prepare_checkpoint_dir(ckpt_path, model, ema is not None)
    if resume and ckpt_path is not None and ckpt_path.exists():
        start_epoch = _restore(ckpt_path, state, epochs)
        if verbose:
            print(f"Resumed from {ckpt_path}: {start_epoch}/{epochs} epochs already done.")
    elif resume and ckpt_path is not None and verbose:
        print(f"No checkpoint at {ckpt_path} yet: starting from epoch 1.")
    forward = _maybe_compile(model, device, compile)
    nan_every = nan_check_every or (1 if device.type == "cpu" else 25)
    if progress is None:
        progress = os.environ.get("COURSE_PROGRESS", "1") != "0"

    def loss_of(x: torch.Tensor, y: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """Forward pass and loss (a teacher, when given, sees the same batch)."""
        outputs = forward(x)
        if teacher is None:
            return outputs, criterion(outputs, y)
        with torch.no_grad():
            teacher_outputs = teacher(x)
        return outputs, criterion(outputs, y, teacher_outputs=teacher_outputs)

    for epoch in range(start_epoch, epochs):
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        model.train()
        start = time.perf_counter()
        meter = _EpochMeter(device)
        guard = _FiniteLossGuard(device, nan_every, epoch, steps_per_epoch, ckpt_path)
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{epochs}",
            disable=not progress,
            leave=False,
            mininterval=2.0,
        )
        try:
            for step, (x, y) in enumerate(train_loader):
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                # The training step: forward, loss, backward, clip, update, schedule.
                with _autocast(device, amp_dtype):
                    outputs, loss = loss_of(x, y)
                guard.check(loss, step)  # raises before a NaN/inf loss reaches the weights
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if grad_clip is not None:
                    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                # Bookkeeping, outside the step.
                if ema is not None:
                    ema.update(model, step=epoch * steps_per_epoch + step)
                meter.update(loss, outputs, y)
                bar.update(1)
                if progress and step % 20 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        except KeyboardInterrupt:
            bar.close()
            where = f"; its checkpoint is {ckpt_path}" if ckpt_path and ckpt_path.exists() else ""
            print(
                f"Interrupted during epoch {epoch + 1}. The last completed epoch is {epoch}{where}."
                + (
                    " Call fit(..., resume=True) with the same arguments to continue."
                    if where
                    else ""
                )
            )
            raise
        bar.close()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time = time.perf_counter() - start
        record: dict[str, float] = {
            "epoch": epoch + 1,
            "train_loss": meter.loss_sum.item() / meter.seen,
            "train_acc": meter.correct.item() / meter.seen,
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_time": train_time,
            "images_per_s": meter.seen / train_time,
        }
        if test_loader is not None:
            result = evaluate(forward, test_loader, device, amp)
            record.update(test_loss=result["loss"], test_acc=result["acc"])
            if ema is not None:
                record["ema_test_acc"] = evaluate(ema.module, test_loader, device, amp)["acc"]
        stop = bool(on_epoch_end(model, record)) if on_epoch_end is not None else False
        history.records.append(record)
        if verbose:
            print(_format_record(record, epochs), flush=True)
        if ckpt_path is not None:
            _save(ckpt_path, state, epoch + 1, epochs)
        if stop:
            if verbose:
                print(f"Stopped after epoch {epoch + 1} of {epochs}: on_epoch_end asked to stop.")
            break
    return history


class _EpochMeter:
    """Running training loss and accuracy of an epoch, kept on the device (no sync per step)."""

    def __init__(self, device: torch.device) -> None:
        self.loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        self.correct = torch.zeros((), device=device, dtype=torch.int64)
        self.seen = 0

    def update(self, loss: torch.Tensor, outputs: Any, y: torch.Tensor) -> None:
        batch = y.shape[0]
        self.loss_sum += loss.detach().double() * batch
        hard = y.argmax(dim=-1) if y.ndim == 2 else y  # soft (mixed) targets: their top class
        self.correct += (merge_logits(outputs).detach().argmax(dim=-1) == hard).sum()
        self.seen += batch


class _FiniteLossGuard:
    """Stops training at a NaN/inf loss, naming the first bad step. The loss is read back to the
    host only every ``every`` steps (and at the epoch's last step): a GPU keeps running between."""

    def __init__(
        self,
        device: torch.device,
        every: int,
        epoch: int,
        steps_per_epoch: int,
        ckpt_path: Path | None,
    ) -> None:
        self.first_bad = torch.full((), -1, device=device, dtype=torch.int64)
        self.every, self.epoch, self.steps = every, epoch, steps_per_epoch
        self.ckpt_path = ckpt_path

    def check(self, loss: torch.Tensor, step: int) -> None:
        bad = ~torch.isfinite(loss.detach())
        self.first_bad = torch.where(bad & (self.first_bad < 0), step, self.first_bad)
        if (step + 1) % self.every == 0 or step + 1 == self.steps:
            self._raise_if_bad()

    def _raise_if_bad(self) -> None:
        step = int(self.first_bad.item())
        if step < 0:
            return
        epoch, path = self.epoch, self.ckpt_path
        saved = (
            f" The checkpoint of epoch {epoch} in {path} is intact."
            if path is not None and path.exists()
            else ""
        )
        raise NonFiniteLossError(
            f"The training loss became NaN or infinite at epoch {epoch + 1}, step {step + 1} of "
            f"{self.steps} (global step {epoch * self.steps + step + 1}). Training stopped."
            f"{saved} Try a lower learning rate, gradient clipping (grad_clip=1.0), or check the "
            "inputs for NaN/inf values."
        )


def _make_ema(model: nn.Module, decay: float | None) -> Any:
    if decay is None:
        return None
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=decay)


def _maybe_compile(model: nn.Module, device: torch.device, compile: bool | None) -> nn.Module:
    if compile is None:
        compile = should_compile(device)
    return torch.compile(model) if compile else model


def _format_record(record: dict[str, float], epochs: int) -> str:
    text = (
        f"epoch {int(record['epoch'])}/{epochs}  train loss {record['train_loss']:.3f} "
        f"acc {100 * record['train_acc']:.1f}%"
    )
    if "test_acc" in record:
        text += f"  test loss {record['test_loss']:.3f} acc {100 * record['test_acc']:.1f}%"
    if "ema_test_acc" in record:
        text += f" (EMA {100 * record['ema_test_acc']:.1f}%)"
    return text + (
        f"  lr {record['lr']:.2e}  {record['epoch_time']:.1f} s  {record['images_per_s']:.0f} img/s"
    )


@dataclass
class _TrainingState:
    """Everything a checkpoint must hold to continue a run exactly."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    ema: Any
    history: History
    device: torch.device
    settings: dict[str, Any]
    scaler: torch.amp.GradScaler


def _save(path: Path, state: _TrainingState, done: int, epochs: int) -> None:
    payload = {
        "epoch": done,
        "epochs": epochs,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "ema": state.ema.module.state_dict() if state.ema is not None else None,
        "history": state.history.records,
        "rng_cpu": torch.get_rng_state(),
        "model_config": state.settings["model"],
        "settings": state.settings,
        "scaler": state.scaler.state_dict() if state.scaler.is_enabled() else None,
    }
    if state.device.type == "cuda":
        payload["rng_cuda"] = torch.cuda.get_rng_state(state.device)
    save_checkpoint(path, payload)


def _restore(path: Path, state: _TrainingState, epochs: int) -> int:
    saved = load_checkpoint(path)
    required = ("epoch", "epochs", "model", "optimizer", "scheduler", "history", "rng_cpu")
    missing = [k for k in required if k not in saved]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}; it was not written by fit().")
    if saved["epochs"] != epochs:
        raise CheckpointError(
            f"{path} belongs to a {saved['epochs']}-epoch run but fit() was called with "
            f"epochs={epochs}; the learning-rate schedule would differ. Use the same epochs, or a "
            "new checkpoint_dir to start a new run."
        )
    _check_same_settings(path, saved.get("settings"), state.settings)
    load_model_state(state.model, saved["model"], str(path))
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    if state.ema is not None:
        if saved.get("ema") is None:
            raise CheckpointError(f"{path} has no EMA weights but ema_decay was given.")
        state.ema.module.load_state_dict(saved["ema"])
    if state.scaler.is_enabled() and saved.get("scaler"):
        state.scaler.load_state_dict(saved["scaler"])  # the loss scale it had reached
    state.history.records.extend(saved["history"])
    torch.set_rng_state(saved["rng_cpu"])
    if state.device.type == "cuda" and "rng_cuda" in saved:
        torch.cuda.set_rng_state(saved["rng_cuda"], state.device)
    return int(saved["epoch"])


def _check_same_settings(path: Path, saved: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """Resuming with other settings would silently mix two runs: refuse, naming what differs.
    (Checkpoints written before settings were saved carry none and are not compared.)"""
    if saved is None:
        return
    differ = [
        key
        for key in current
        if key in saved
        and saved[key] != current[key]
        # a model outside the course has no configuration: the weights' check speaks for it
        and not (key in ("model", "teacher") and None in (saved[key], current[key]))
    ]
    if not differ:
        return
    shown = "; ".join(
        f"{key}: checkpoint {_short(saved[key])}, now {_short(current[key])}" for key in differ
    )
    raise CheckpointError(
        f"{path} was written by a run with other settings ({shown}). Resuming would mix two runs: "
        "call fit() with the checkpoint's settings, or give a new checkpoint_dir to start anew."
    )


def _short(value: Any, limit: int = 120) -> str:
    if isinstance(value, dict) and "args" in value:  # a model configuration: its arguments
        value = {"name": value.get("name"), **value["args"]}
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
