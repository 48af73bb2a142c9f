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
from course_lib.train.losses import (
    ClassificationLoss,
    DistillationLoss,
    soft_target_cross_entropy,
)
from course_lib.train.optim import create_optimizer, param_groups, warmup_cosine
from course_lib.train.recipes import VIT_RECIPES, Recipe, TrainedModel, train_recipe

__all__ = [
    "CheckpointError",
    "ClassificationLoss",
    "DistillationLoss",
    "History",
    "Recipe",
    "TrainedModel",
    "VIT_RECIPES",
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
    "train_recipe",
    "warmup_cosine",
]
