"""Training: ``fit`` / ``evaluate``, losses, optimizer groups and schedules, checkpoints."""

from course_lib.train.budget import BudgetRun, repeat_to_batches, seeded, train_for_images
from course_lib.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_model,
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
    predict_classes,
)
from course_lib.train.losses import (
    ClassificationLoss,
    DistillationLoss,
    RecordedLoss,
    soft_target_cross_entropy,
)
from course_lib.train.optim import (
    create_optimizer,
    param_groups,
    schedule_factor,
    schedule_rates,
    warmup_cosine,
    warmup_cosine_rates,
)
from course_lib.train.recipes import VIT_RECIPES, Recipe, TrainedModel, train_recipe

__all__ = [
    "BudgetRun",
    "CheckpointError",
    "ClassificationLoss",
    "RecordedLoss",
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
    "load_model",
    "load_model_state",
    "merge_logits",
    "param_groups",
    "schedule_factor",
    "schedule_rates",
    "predict",
    "predict_classes",
    "repeat_to_batches",
    "save_checkpoint",
    "seeded",
    "soft_target_cross_entropy",
    "train_for_images",
    "train_recipe",
    "warmup_cosine",
    "warmup_cosine_rates",
]
