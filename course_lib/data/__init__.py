"""Datasets as in-memory tensors, subsets, and an on-device loader with batch augmentation."""

from course_lib.data.augment import AugmentConfig, BatchAugment, denormalize, normalize
from course_lib.data.datasets import (
    DATASETS,
    ImageDataset,
    ImageSplit,
    default_data_root,
    load_dataset,
)
from course_lib.data.errors import CorruptCacheError, CorruptDataError, DatasetNotFoundError
from course_lib.data.loader import DeviceLoader, make_loaders
from course_lib.data.readout import (
    READOUT_CLASSES,
    glyph_masks,
    load_readout,
    make_readout,
    object_patches,
)
from course_lib.data.shapes import SHAPES_CLASSES, make_shapes
from course_lib.data.subsets import subset, subset_indices

__all__ = [
    "DATASETS",
    "READOUT_CLASSES",
    "SHAPES_CLASSES",
    "AugmentConfig",
    "BatchAugment",
    "CorruptCacheError",
    "CorruptDataError",
    "DatasetNotFoundError",
    "DeviceLoader",
    "ImageDataset",
    "ImageSplit",
    "default_data_root",
    "denormalize",
    "glyph_masks",
    "load_dataset",
    "load_readout",
    "make_loaders",
    "make_readout",
    "make_shapes",
    "normalize",
    "object_patches",
    "subset",
    "subset_indices",
]
