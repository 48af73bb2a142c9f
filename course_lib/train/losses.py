"""Training criteria. Each is called as ``criterion(outputs, targets)``; one that also needs a
teacher's outputs sets ``uses_teacher = True`` and is called with ``teacher_outputs=`` (the
engine's distillation hook)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a distribution: logits ``(B, K)``, targets ``(B, K)`` rows summing
    to 1 (as Mixup/CutMix make them). Mean over the batch."""
    return torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()


class ClassificationLoss(nn.Module):
    """Cross-entropy with optional label smoothing, for hard labels ``(B,)`` or soft targets
    ``(B, K)``. Models that return several logits in training (a tuple of ``(B, K)`` tensors)
    get the mean of the per-output losses."""

    uses_teacher = False

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, outputs: torch.Tensor | tuple[torch.Tensor, ...], targets: torch.Tensor):
        if isinstance(outputs, (tuple, list)):
            return torch.stack([self.forward(o, targets) for o in outputs]).mean()
        outputs = outputs.float()
        if targets.ndim == 2:
            return soft_target_cross_entropy(outputs, targets)
        return F.cross_entropy(outputs, targets, label_smoothing=self.label_smoothing)
