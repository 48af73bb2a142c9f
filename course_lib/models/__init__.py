"""Course models, each built from small modules; create any of them by name."""

from course_lib.models.cnn import ResNetCifar
from course_lib.models.registry import create_model, list_models, register_model

__all__ = ["ResNetCifar", "create_model", "list_models", "register_model"]
