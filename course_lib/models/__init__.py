"""Course models, each built from small modules; create any of them by name."""

from course_lib.models.cnn import ConvPatchEmbed, ResNetCifar
from course_lib.models.registry import create_model, list_models, register_model
from course_lib.models.vit import VisionTransformer

__all__ = [
    "ConvPatchEmbed",
    "ResNetCifar",
    "VisionTransformer",
    "create_model",
    "list_models",
    "register_model",
]
