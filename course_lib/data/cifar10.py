"""CIFAR-10 from a local copy (two layouts) or torchvision's download, with a decoded cache.

Layouts looked for under the data root, in this order:

1. ``cifar-10-batches-py/``: torchvision's layout (the pickled batches of the original release).
2. ``cifar10-jpeg/{train,test}/<class>/*.jpg`` (or ``{train,test}/<class>/*.jpg`` directly in the
   root): an ImageFolder of JPEG files, such as the course's offline copy.

Decoding 60,000 JPEGs takes seconds, so the decoded arrays are cached as an ``.npz`` file with a
SHA-256 checksum under ``<root>/cache``; the next load reads that instead.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from course_lib.atomic import atomic_write
from course_lib.data.cache import cache_file as cache_location
from course_lib.data.errors import CorruptCacheError, CorruptDataError, DatasetNotFoundError

TORCHVISION_DIR = "cifar-10-batches-py"
JPEG_DIR = "cifar10-jpeg"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCH = "test_batch"
_ARRAY_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass
class Cifar10Arrays:
    """Decoded CIFAR-10: images uint8 ``(N, 3, 32, 32)``, labels int64 ``(N,)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]


def load(root: Path, *, download: bool = True, verbose: bool = True) -> tuple[Cifar10Arrays, str]:
    """Find CIFAR-10 under ``root`` (or download it) and return it with a description of the source.

    Raises :class:`DatasetNotFoundError` naming both ways to provide it when it cannot.
    """
    root = Path(root)
    found = find_local(root)
    if found is None and download:
        found = _download(root, verbose)
    if found is None:
        raise DatasetNotFoundError(_not_found_message(root, download))
    layout, path = found
    fingerprint = _fingerprint(layout, path)
    cache_file = cache_location(root, f"cifar10-{layout}-{fingerprint}.npz")
    if cache_file.exists():
        try:
            return read_cache(cache_file), f"{layout} layout at {path} (cached decode)"
        except PermissionError:  # another user's cache: readable to them, not damaged
            warnings.warn(
                f"The CIFAR-10 cache {cache_file} cannot be read (permission denied); decoding the "
                "images instead. Ask its owner to make it readable, or set COURSE_CACHE_DIR to a "
                "folder of your own.",
                stacklevel=2,
            )
    if verbose:
        print(f"Decoding CIFAR-10 from {path} (once; cached to {cache_file}) ...", flush=True)
    arrays = read_torchvision_layout(path) if layout == "torchvision" else read_jpeg_folder(path)
    try:
        write_cache(cache_file, arrays)
    except OSError as err:  # a read-only mount, a full disk, another user's folder
        warnings.warn(
            f"Could not write the CIFAR-10 cache {cache_file} ({err.strerror or err}); going on "
            "without it (the next load decodes again). Set COURSE_CACHE_DIR to a writable folder "
            "to keep it.",
            stacklevel=2,
        )
        return arrays, f"{layout} layout at {path} (not cached)"
    return arrays, f"{layout} layout at {path}"


def find_local(root: Path) -> tuple[str, Path] | None:
    """Return ``(layout, path)`` of a local copy under ``root``, or ``None``."""
    tv = root / TORCHVISION_DIR
    if all((tv / name).is_file() for name in (*_TRAIN_BATCHES, _TEST_BATCH, "batches.meta")):
        return "torchvision", tv
    for candidate in (root / JPEG_DIR, root):
        train, test = candidate / "train", candidate / "test"
        if train.is_dir() and test.is_dir() and any(train.iterdir()):
            return "jpeg", candidate
    return None


def _not_found_message(root: Path, download: bool) -> str:
    tried = "torchvision's download failed (no internet?)" if download else "download=False"
    return (
        f"CIFAR-10 was not found under {root} and {tried}.\n"
        "Provide it in one of two ways:\n"
        f"  1. put a local copy under {root}: torchvision's '{TORCHVISION_DIR}/' folder, or the\n"
        f"     JPEG ImageFolder layout '{JPEG_DIR}/train/<class>/*.jpg' and '.../test/...'\n"
        "     (e.g. `tar -xzf cifar10-jpeg.tar.gz -C <root>/cifar10-jpeg`); set COURSE_DATA_DIR\n"
        "     to use another folder as the data root;\n"
        "  2. connect to the internet and load again with download=True: torchvision fetches\n"
        "     the canonical archive (170 MB) into the data root.\n"
        "Or use the embedded dataset: load_dataset('shapes')."
    )


# A proxy that accepts the connection and never answers would hang the download forever: every
# socket operation of the download gives up after this many seconds.
DOWNLOAD_TIMEOUT_S = 30.0


def _download(root: Path, verbose: bool) -> tuple[str, Path] | None:
    import socket

    from torchvision.datasets import CIFAR10

    previous = socket.getdefaulttimeout()
    try:
        root.mkdir(parents=True, exist_ok=True)
        if verbose:
            print(f"CIFAR-10 not found under {root}; trying torchvision's download ...", flush=True)
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        CIFAR10(root=str(root), train=True, download=True)
    except Exception as err:  # noqa: BLE001 - any failure means "not available"; we explain below
        if verbose:
            print(f"Download failed: {type(err).__name__}: {err}")
        return None
    finally:
        socket.setdefaulttimeout(previous)
    return find_local(root)


def read_torchvision_layout(folder: Path) -> Cifar10Arrays:
    """Read torchvision's pickled batches from ``folder`` (``cifar-10-batches-py``)."""

    def unpickle(path: Path) -> dict:
        try:
            with open(path, "rb") as f:
                batch = pickle.load(f, encoding="latin1")
        except (pickle.UnpicklingError, EOFError, ValueError, AttributeError) as err:
            raise CorruptDataError(
                f"{path} cannot be read ({type(err).__name__}: {err}): the file is truncated or "
                f"damaged. Delete {folder} and download it again (or unpack a fresh copy)."
            ) from err
        if not isinstance(batch, dict):
            raise CorruptDataError(f"{path} is not a CIFAR-10 batch (a {type(batch).__name__}).")
        return batch

    def read_batches(names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for name in names:
            batch = unpickle(folder / name)
            data = np.asarray(batch.get("data"), dtype=np.uint8)
            targets = np.asarray(batch.get("labels", batch.get("fine_labels")), np.int64)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(targets) != len(data):
                raise CorruptDataError(
                    f"{folder / name} holds data of shape {data.shape} and {targets.size} labels; "
                    "a CIFAR-10 batch holds (N, 3072) bytes (32x32 RGB) and N labels. Replace "
                    "the file with one from the original archive."
                )
            images.append(data.reshape(-1, 3, 32, 32))
            labels.append(targets)
        return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))

    classes = tuple(unpickle(folder / "batches.meta")["label_names"])
    x_train, y_train = read_batches(_TRAIN_BATCHES)
    x_test, y_test = read_batches((_TEST_BATCH,))
    return Cifar10Arrays(x_train, y_train, x_test, y_test, classes)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # compared in lower case: .JPG counts


def read_jpeg_folder(folder: Path) -> Cifar10Arrays:
    """Decode ``folder/{train,test}/<class>/*.jpg`` (classes in sorted order, as ImageFolder;
    ``.jpeg`` and ``.png`` files too). Both splits must have the same class folders."""
    classes = tuple(sorted(p.name for p in (folder / "train").iterdir() if p.is_dir()))
    test_classes = tuple(sorted(p.name for p in (folder / "test").iterdir() if p.is_dir()))
    if test_classes != classes:
        missing = sorted(set(classes) - set(test_classes))
        extra = sorted(set(test_classes) - set(classes))
        raise DatasetNotFoundError(
            f"The class folders of {folder / 'train'} and {folder / 'test'} differ: the test "
            f"split lacks {missing or 'none'} and has extra {extra or 'none'}. Both need the "
            f"same classes ({len(classes)} in train: {', '.join(classes)})."
        )
    x_train, y_train = decode_split(folder / "train", classes)
    x_test, y_test = decode_split(folder / "test", classes)
    return Cifar10Arrays(x_train, y_train, x_test, y_test, classes)


def decode_split(split_dir: Path, classes: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode ``split_dir/<class>/*.jpg``: uint8 images ``(N, 3, 32, 32)``, labels ``(N,)``."""
    from PIL import Image

    files: list[Path] = []
    labels: list[int] = []
    others: list[Path] = []
    for index, name in enumerate(classes):
        folder = split_dir / name
        entries = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        class_files = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
        others += [p for p in entries if p.suffix.lower() not in IMAGE_SUFFIXES]
        files += class_files
        labels += [index] * len(class_files)
    if others:
        shown = ", ".join(str(p.relative_to(split_dir)) for p in others[:3])
        warnings.warn(
            f"{len(others)} files in {split_dir} are not images ({'/'.join(IMAGE_SUFFIXES)}) and "
            f"were not loaded, e.g. {shown}.",
            stacklevel=2,
        )
    if not files:
        raise DatasetNotFoundError(f"No image files found in {split_dir}/<class>/ (*.jpg).")
    images = np.empty((len(files), 32, 32, 3), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as image:
                size = image.size
                pixels = np.asarray(image.convert("RGB"))
        except (OSError, SyntaxError, ValueError) as err:  # PIL's ways of saying "damaged"
            raise CorruptDataError(
                f"{path} cannot be decoded ({type(err).__name__}: {err}): the file is truncated "
                "or damaged. Replace it from the original archive (or delete it to load without "
                "it), then load again."
            ) from err
        if size != (32, 32):
            raise CorruptDataError(f"{path} is {size[0]}x{size[1]}, expected 32x32.")
        images[i] = pixels
    # Stored channels-last by PIL; the course's layout is (N, C, H, W).
    chw = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    return chw, torch.tensor(labels, dtype=torch.int64)


def _fingerprint(layout: str, path: Path) -> str:
    """A short hash of the source files' names and sizes: a changed copy gets a new cache."""
    digest = hashlib.sha256(layout.encode())

    def visit(folder: str, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_dir():
                    visit(entry.path, f"{prefix}{entry.name}/")
                else:
                    digest.update(f"{prefix}{entry.name}:{entry.stat().st_size};".encode())

    visit(str(path), "")
    return digest.hexdigest()[:12]


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in _ARRAY_KEYS:
        digest.update(np.ascontiguousarray(arrays[key]).data)
    return digest.hexdigest()


def write_cache(path: Path, arrays: Cifar10Arrays) -> None:
    """Write ``arrays`` to ``path`` atomically (temporary file, then rename) with a checksum."""
    data = {key: getattr(arrays, key).numpy() for key in _ARRAY_KEYS}
    checksum = _checksum(data)
    atomic_write(
        path,
        lambda f: np.savez(f, **data, classes=np.array(arrays.classes), sha256=np.array(checksum)),
    )


def read_cache(path: Path) -> Cifar10Arrays:
    """Read a cache written by :func:`write_cache`; raise :class:`CorruptCacheError` if it is
    unreadable or its checksum does not match."""
    fix = f"Delete it (rm '{path}') and load again: it is rebuilt from the source images."
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in _ARRAY_KEYS}
            classes = tuple(str(c) for c in npz["classes"])
            stored = str(npz["sha256"])
    except PermissionError:
        raise  # not damage: load() says so and decodes instead
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise CorruptCacheError(f"The CIFAR-10 cache {path} cannot be read ({err}). {fix}") from err
    if _checksum(data) != stored:
        raise CorruptCacheError(f"The CIFAR-10 cache {path} fails its checksum. {fix}")
    tensors = {key: torch.from_numpy(value) for key, value in data.items()}
    return Cifar10Arrays(**tensors, classes=classes)
