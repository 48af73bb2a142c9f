"""Training: ``fit`` / ``evaluate``, losses, optimizer groups and schedules, checkpoints."""

from course_lib.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)
from course_lib.train.engine import (
    History,
    NonFiniteLossError,
    evaluate,
    fit,
    merge_logits,
    predict,
)
from course_lib.train.losses import ClassificationLoss, soft_target_cross_entropy
from course_lib.train.optim import create_optimizer, param_groups, warmup_cosine

__all__ = [
    "CheckpointError",
    "ClassificationLoss",
    "History",
    "NonFiniteLossError",
    "create_optimizer",
    "evaluate",
    "fit",
    "load_checkpoint",
    "load_model_state",
    "merge_logits",
    "param_groups",
    "predict",
    "save_checkpoint",
    "soft_target_cross_entropy",
    "warmup_cosine",
]
