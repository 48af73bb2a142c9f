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


class RecordedLoss(ClassificationLoss):
    """:class:`ClassificationLoss` that keeps the loss of every call (every training step, when
    passed to ``fit`` as its ``criterion``), for curves finer than one point per epoch."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__(label_smoothing)
        self._values: list[torch.Tensor] = []
        # the plain loss does the work: with several heads its recursion must not record each
        self._plain = ClassificationLoss(label_smoothing)

    def forward(self, outputs: torch.Tensor | tuple[torch.Tensor, ...], targets: torch.Tensor):
        loss = self._plain(outputs, targets)
        self._values.append(loss.detach())  # no .item(): a GPU step need not wait for it
        return loss

    @property
    def values(self) -> list[float]:
        """The loss of every call so far, in order."""
        return torch.stack(self._values).float().cpu().tolist() if self._values else []


DISTILLATION_TYPES = ("none", "soft", "hard")


class DistillationLoss(nn.Module):
    """DeiT's distillation loss (Touvron et al., 2021), for ``fit(..., teacher=...)``.

    ``outputs`` is either one logits tensor ``(B, K)`` or the pair ``(cls, dist)`` a
    :class:`~course_lib.models.deit.DistilledVisionTransformer` returns in training. The class
    head gets the ``base`` loss against the targets (hard labels or Mixup/CutMix soft targets);
    the distillation head (or the single head) learns from the teacher's logits ``Z_t``, computed
    on the same augmented batch:

    - ``"soft"``: ``tau^2 * KL(softmax(Z_t / tau) || softmax(Z_s / tau))``, the sum over classes
      averaged over all ``B * K`` elements, as DeiT's code does;
    - ``"hard"``: cross-entropy to the teacher's decision ``argmax Z_t``;
    - ``"none"``: the base loss alone (no teacher needed).

    ``loss = (1 - alpha) * base + alpha * distillation``. DeiT uses ``alpha = 0.5`` for hard
    distillation, ``alpha = 0.1, tau = 3`` for soft.
    """

    def __init__(
        self,
        distillation_type: str = "hard",
        alpha: float = 0.5,
        tau: float = 1.0,
        base: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if distillation_type not in DISTILLATION_TYPES:
            raise ValueError(
                f"Unknown distillation type {distillation_type!r}; choose one of "
                f"{', '.join(map(repr, DISTILLATION_TYPES))}."
            )
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
        if tau <= 0:
            raise ValueError(f"The temperature tau must be > 0, got {tau}.")
        self.distillation_type = distillation_type
        self.alpha = alpha
        self.tau = tau
        self.base = base if base is not None else ClassificationLoss()

    @property
    def uses_teacher(self) -> bool:
        return self.distillation_type != "none"

    def forward(
        self,
        outputs: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
        targets: torch.Tensor,
        teacher_outputs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if isinstance(outputs, (tuple, list)):
            outputs, outputs_kd = outputs
        else:
            outputs_kd = outputs
        base_loss = self.base(outputs, targets)
        if self.distillation_type == "none":
            return base_loss
        if teacher_outputs is None:
            raise ValueError(
                f"Distillation type {self.distillation_type!r} needs the teacher's logits: train "
                "with fit(..., teacher=<a trained model>), or use distillation type 'none'."
            )
        if teacher_outputs.shape != outputs_kd.shape:
            raise ValueError(
                f"The teacher's logits have shape {tuple(teacher_outputs.shape)} but the "
                f"student's have {tuple(outputs_kd.shape)}: teacher and student must predict the "
                "same classes (build both with the same num_classes)."
            )
        student, teacher = outputs_kd.float(), teacher_outputs.float()
        if self.distillation_type == "soft":
            t = self.tau
            kl = F.kl_div(
                F.log_softmax(student / t, dim=1),
                F.log_softmax(teacher / t, dim=1),
                reduction="sum",
                log_target=True,
            )
            distillation = kl * (t * t) / student.numel()
        else:
            distillation = F.cross_entropy(student, teacher.argmax(dim=1))
        return (1 - self.alpha) * base_loss + self.alpha * distillation
