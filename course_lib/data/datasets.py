"""The course's datasets as in-memory tensors, and :func:`load_dataset` to get one by name.

Every dataset comes back as uint8 images ``(N, 3, H, W)`` and int64 labels ``(N,)`` for a train and
a test split, with class names. Keeping whole datasets as tensors (CIFAR-10 is 184 MB) lets the
loader put them on the training device once and augment batches there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from course_lib.data import cifar10
from course_lib.data.cache import cache_file, cached_tensors
from course_lib.data.errors import DatasetNotFoundError
from course_lib.data.shapes import SHAPES_CLASSES, make_shapes, shapes_version

DATASETS = ("cifar10", "shapes", "auto", "readout")


@dataclass
class ImageSplit:
    """One split: ``images`` uint8 ``(N, C, H, W)`` and ``labels`` int64 ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        check_images_and_labels(self.images, self.labels)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self, num_classes: int) -> torch.Tensor:
        """Images per class, ``(num_classes,)``."""
        return torch.bincount(self.labels, minlength=num_classes)


@dataclass
class ImageDataset:
    """A named dataset: train and test splits, class names, and where it came from."""

    name: str
    classes: tuple[str, ...]
    train: ImageSplit
    test: ImageSplit
    source: str
    flip_safe: bool = True
    """Whether a horizontal flip keeps the label (False for ``shapes``: "left of" classes)."""
    _stats: tuple[tuple[float, ...], tuple[float, ...]] | None = field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and standard deviation of the training images, in [0, 1] units."""
        if self._stats is None:
            self._stats = channel_mean_std(self.train.images)
        return self._stats


def check_images_and_labels(images: torch.Tensor, labels: torch.Tensor) -> None:
    """Raise a clear error unless ``images`` is uint8 ``(N, C, H, W)`` and ``labels`` is an
    integer ``(N,)`` tensor."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        got = (
            f"{type(images).__name__}"
            if not isinstance(images, torch.Tensor)
            else f"{images.dtype} tensor of shape {tuple(images.shape)}"
        )
        raise ValueError(
            f"Expected images as a uint8 tensor of shape (N, C, H, W), got a {got}. Convert with "
            "`(x * 255).round().to(torch.uint8)` for floats in [0, 1], and `x.permute(0, 3, 1, 2)` "
            "for channels-last (N, H, W, C) arrays."
        )
    if images.shape[1] not in (1, 3):
        raise ValueError(
            f"Expected 1 or 3 channels in dimension 1 of images (N, C, H, W), got shape "
            f"{tuple(images.shape)}. Channels-last data needs `images.permute(0, 3, 1, 2)`."
        )
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.is_floating_point():
        raise ValueError(
            "Expected labels as an integer tensor of shape (N,), got "
            f"{getattr(labels, 'dtype', type(labels).__name__)} with shape "
            f"{tuple(getattr(labels, 'shape', ()))}."
        )
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"Images and labels disagree: {images.shape[0]} images but {labels.shape[0]} labels."
        )


def channel_mean_std(images: torch.Tensor, chunk: int = 8192) -> tuple[tuple[float, ...], ...]:
    """Per-channel mean and std of uint8 images ``(N, C, H, W)``, in [0, 1] units."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].float()  # exact: integers below 2^24
        total += x.sum(dim=(0, 2, 3), dtype=torch.float64)
        total_sq += (x * x).sum(dim=(0, 2, 3), dtype=torch.float64)
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count / 255.0
    total_sq = total_sq / 255.0**2
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())


def default_data_root() -> Path:
    """``$COURSE_DATA_DIR`` if set, else the repository's ``data/`` folder (next to
    ``course_lib``), else ``./data``."""
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    repo_data = Path(__file__).resolve().parents[2] / "data"
    if repo_data.is_dir():
        return repo_data
    return Path.cwd() / "data"


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    download: bool = True,
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    verbose: bool = True,
    **readout_options: float,
) -> ImageDataset:
    """Load a dataset by name: ``"cifar10"``, ``"shapes"``, ``"auto"`` or ``"readout"``.

    - ``cifar10``: a local copy under ``root`` (torchvision's ``cifar-10-batches-py`` or the JPEG
      ImageFolder layout ``cifar10-jpeg/{train,test}/<class>/*.jpg``), else torchvision's download
      when ``download`` is true. Decoded tensors are cached under ``root/cache``.
    - ``shapes``: the procedural dataset made in memory from ``seed``; ``n_train`` / ``n_test``
      set its size (default 50,000 / 10,000, like CIFAR-10).
    - ``auto``: ``cifar10`` when it is there or can be downloaded, else ``shapes`` (it says why).
    - ``readout``: one small glyph in clutter (:mod:`course_lib.data.readout`, notebook 08), made
      in memory from ``seed`` like ``shapes`` and sized the same way; ``readout_options``
      (``object_size``, ``clutter``) go to :func:`~course_lib.data.readout.load_readout`. Never
      chosen by ``auto``.

    ``root`` defaults to :func:`default_data_root`.
    """
    key = str(name).strip().lower().replace("-", "").replace("_", "")
    where = "the root argument" if root is not None else "COURSE_DATA_DIR or the default"
    root = Path(root).expanduser() if root is not None else default_data_root()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(
            f"The data root {root} ({where}) is a file, not a folder: point it at the folder "
            "that holds cifar10-jpeg/ or cifar-10-batches-py/ (or where to download them)."
        )
    if readout_options and key != "readout":
        raise ValueError(
            f"{', '.join(sorted(readout_options))}: options of the 'readout' dataset only, not of "
            f"{name!r}."
        )
    if key == "shapes":
        return _load_shapes(seed, n_train, n_test, root)
    if key == "readout":
        from course_lib.data.readout import load_readout  # readout.py imports this module

        return load_readout(n_train, n_test, seed, **readout_options)
    if key not in ("cifar10", "auto"):
        raise ValueError(
            f"Unknown dataset {name!r}. Expected one of {', '.join(map(repr, DATASETS))}."
        )
    if n_train is not None or n_test is not None:
        raise ValueError(
            "n_train / n_test size the generated datasets ('shapes', 'readout') only; CIFAR-10 has "
            "fixed splits. Use course_lib.data.subset(...) to take part of it."
        )
    if key == "cifar10":
        return _load_cifar10(root, download, verbose)
    try:
        dataset = _load_cifar10(root, download, verbose)
    except DatasetNotFoundError as err:
        if verbose:
            print(
                "Dataset 'auto': CIFAR-10 is not available "
                f"({str(err).splitlines()[0]}). Using the embedded 'shapes' dataset instead; "
                "results will differ from the CIFAR-10 numbers quoted in the notebooks."
            )
        return _load_shapes(seed, None, None, root)
    if verbose:
        print(f"Dataset 'auto': using CIFAR-10 ({dataset.source}).")
    return dataset


def _load_cifar10(root: Path, download: bool, verbose: bool) -> ImageDataset:
    arrays, source = cifar10.load(root, download=download, verbose=verbose)
    return ImageDataset(
        name="cifar10",
        classes=arrays.classes,
        train=ImageSplit(arrays.x_train, arrays.y_train),
        test=ImageSplit(arrays.x_test, arrays.y_test),
        source=source,
    )


# Below this many images, generating is quicker than a cache file is worth.
SHAPES_CACHE_MIN_IMAGES = 20_000


def _load_shapes(
    seed: int, n_train: int | None, n_test: int | None, root: Path | None = None
) -> ImageDataset:
    n_train = 50_000 if n_train is None else n_train
    n_test = 10_000 if n_test is None else n_test

    def generate() -> dict[str, torch.Tensor]:
        # Train and test come from different seeds so no test image repeats a training image.
        x_train, y_train = make_shapes(n_train, seed=2 * seed)
        x_test, y_test = make_shapes(n_test, seed=2 * seed + 1)
        return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}

    source = f"generated (seed {seed}, {n_train} train / {n_test} test)"
    if root is not None and n_train + n_test >= SHAPES_CACHE_MIN_IMAGES:
        name = f"shapes-{shapes_version()}-seed{seed}-{n_train}-{n_test}.pt"
        arrays, how = cached_tensors(cache_file(root, name), generate)
        source += f", {how}"
    else:
        arrays = generate()
    x_train, y_train, x_test, y_test = (
        arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")
    )
    return ImageDataset(
        name="shapes",
        classes=tuple(SHAPES_CLASSES),
        train=ImageSplit(x_train, y_train),
        test=ImageSplit(x_test, y_test),
        source=source,
        flip_safe=False,
    )
