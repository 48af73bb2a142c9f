"""Course models, each built from small modules; create any of them by name.

Importing this package registers every model: adding a family means one model file and one
import line here.
"""

from course_lib.models.alternet import AlterNetCifar
from course_lib.models.cait import CaiT
from course_lib.models.cnn import ResNetCifar
from course_lib.models.convit import ConViT
from course_lib.models.deit import DistilledVisionTransformer
from course_lib.models.mixer import MlpMixer
from course_lib.models.registry import (
    CIFAR,
    CIFAR_SIZES,
    ModelEntry,
    create_model,
    create_timm_twin,
    find_model,
    list_models,
    model_entry,
    register_model,
)
from course_lib.models.stems import ConvPatchEmbed
from course_lib.models.vit import VisionTransformer

__all__ = [
    "CIFAR",
    "CIFAR_SIZES",
    "AlterNetCifar",
    "CaiT",
    "ConViT",
    "ConvPatchEmbed",
    "DistilledVisionTransformer",
    "MlpMixer",
    "ModelEntry",
    "ResNetCifar",
    "VisionTransformer",
    "create_model",
    "create_timm_twin",
    "find_model",
    "list_models",
    "model_entry",
    "register_model",
]
