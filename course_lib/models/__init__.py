"""Course models, each built from small modules; create any of them by name."""

from course_lib.models.alternet import AlterNetCifar
from course_lib.models.cait import CaiT
from course_lib.models.cnn import ConvPatchEmbed, ResNetCifar
from course_lib.models.convit import ConViT
from course_lib.models.deit import DistilledVisionTransformer
from course_lib.models.registry import create_model, list_models, register_model
from course_lib.models.vit import VisionTransformer

__all__ = [
    "AlterNetCifar",
    "CaiT",
    "ConViT",
    "DistilledVisionTransformer",
    "ConvPatchEmbed",
    "ResNetCifar",
    "VisionTransformer",
    "create_model",
    "list_models",
    "register_model",
]
