"""Reference models: trained once with a named recipe, kept as compact checkpoints, loaded by the
notebooks that look inside a trained network (04, 10), and by notebook 12, which transfers its
upstream models to classes they never saw.

``make reference`` (``python -m course_lib.reference``) trains each reference model, resumably,
and exports ``data/reference/<name>.pt`` (fp16 weights) with ``<name>.json`` beside it: the model
name and overrides, the recipe, the test accuracy on the whole test set, the training time, the
device, and the file's sha256, which :func:`load_reference` checks before it loads anything.

The recipe is chosen by device: the ``cpu`` recipes are what 2 CPU cores can train in about an
hour each; on a GPU the same command trains the ``gpu`` recipes and replaces the files.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_lib.atomic import atomic_write
from course_lib.data import ImageDataset
from course_lib.device import get_device
from course_lib.models import create_model
from course_lib.train.budget import seeded
from course_lib.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from course_lib.train.recipes import VIT_RECIPES, Recipe
from course_lib.transfer import CIFAR10_ANIMALS, class_subset

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO / "data" / "reference"

REFERENCE_RECIPES: dict[str, dict[str, Recipe]] = {
    # The course's reference ViT. On 2 cores: 20 passes over all 50,000 images with crop, flip and
    # label smoothing (design section 9 measured 75% for this recipe).
    "vit": {
        "cpu": Recipe("vit_cifar_mini", epochs=20, test_per_class=100, batch_size=128, lr=1e-3),
        "gpu": dataclasses.replace(VIT_RECIPES["gpu"], test_per_class=200),
    },
    # A ResNet trained to an accuracy comparable with the ViT's: the fair baseline of 04's few-shot
    # probe, and the convolutional network of 10.
    "resnet": {
        "cpu": Recipe("resnet_cifar_mini", epochs=4, test_per_class=100, batch_size=128, lr=2e-3),
        "gpu": Recipe(
            "resnet_cifar_tiny",
            epochs=40,
            test_per_class=200,
            batch_size=512,
            lr=4e-3,
            warmup_epochs=2,
        ),
    },
    # Notebook 12's upstream models: pre-trained on CIFAR-10's six animal classes only (see
    # REFERENCE_CLASSES), so that the four vehicle classes are a transfer task they never saw.
    # One recipe for all three architectures: 10 passes over the 30,000 animal images.
    **{
        f"upstream_{family}": {
            "cpu": Recipe(
                model,
                epochs=10,
                test_per_class=300,
                batch_size=128,
                lr=2e-3,
                model_overrides=overrides,
            ),
            "gpu": Recipe(
                gpu_model,
                epochs=60,
                test_per_class=500,
                batch_size=512,
                lr=2e-3,
                warmup_epochs=3,
                policy="trivialaugment",
            ),
        }
        for family, model, overrides, gpu_model in (
            ("vit", "vit_cifar_nano", {"patch_size": 8}, "vit_cifar_tiny"),
            ("resnet", "resnet_cifar_nano", {}, "resnet_cifar_tiny"),
            ("mixer", "mixer_cifar_nano", {"patch_size": 8}, "mixer_cifar_tiny"),
        )
    },
}

#: References trained on a subset of CIFAR-10's classes (indices, in the order of the new labels).
REFERENCE_CLASSES: dict[str, tuple[int, ...]] = {
    name: CIFAR10_ANIMALS for name in REFERENCE_RECIPES if name.startswith("upstream_")
}


def reference_data(name: str, data: ImageDataset) -> ImageDataset:
    """The data reference ``name`` is trained and scored on: ``data`` itself, or its classes in
    :data:`REFERENCE_CLASSES`."""
    classes = REFERENCE_CLASSES.get(name)
    return data if classes is None else class_subset(data, classes)


@dataclass
class Reference:
    """A loaded reference model and how it was made (the ``<name>.json`` record)."""

    name: str
    model: nn.Module
    info: dict[str, Any]

    def initial_model(self) -> nn.Module:
        """The same architecture with the weights it started training from (eval mode, CPU):
        :func:`train_reference` seeds the global generator with the record's ``seed`` right
        before it builds the model, so the same call rebuilds the initial weights exactly."""
        info = self.info
        model = seeded(
            lambda: create_model(
                info["model"], num_classes=info["num_classes"], **info["overrides"]
            ),
            info["seed"],
        )
        return model.eval()

    def describe(self) -> str:
        """One paragraph for a notebook: what this model is and how it was trained."""
        info = self.info
        recipe = info["recipe"]
        seen = "all" if recipe.get("per_class") is None else f"{recipe['per_class']} per class of"
        return (
            f"Reference '{self.name}': {info['model']} "
            f"({info['parameters'] / 1e6:.2f}M parameters), "
            f"{recipe['epochs']} epochs over {seen} the {info['dataset']} training images, "
            f"lr {recipe['lr']}, batch {recipe['batch_size']}, label smoothing "
            f"{recipe['label_smoothing']}, policy {recipe['policy']}; test accuracy "
            f"{100 * info['test_acc']:.1f}% on {info['test_images']} test images; trained in "
            f"{info['train_time_s'] / 60:.0f} min on {info['device']} ({info['trained_on']})."
        )


def reference_paths(name: str, folder: Path = REFERENCE_DIR) -> tuple[Path, Path]:
    """``(<folder>/<name>.pt, <folder>/<name>.json)``."""
    return folder / f"{name}.pt", folder / f"{name}.json"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_reference(
    name: str,
    *,
    device: torch.device | str = "cpu",
    folder: str | Path | None = None,
    dataset: str | None = None,
) -> Reference | None:
    """The reference model ``name`` in fp32 eval mode on ``device``, or ``None`` when no reference
    checkpoint exists (or it was trained on another dataset than ``dataset``).

    Raises :class:`~course_lib.train.checkpoint.CheckpointError` when the file is there but its
    sha256 does not match its record, or it does not fit the model it names.
    """
    if name not in REFERENCE_RECIPES:
        raise KeyError(f"Unknown reference model {name!r}. Known: {', '.join(REFERENCE_RECIPES)}.")
    weights, record = reference_paths(name, Path(folder) if folder else REFERENCE_DIR)
    if not (weights.is_file() and record.is_file()):
        return None
    info = json.loads(record.read_text())
    if dataset is not None and info["dataset"] != dataset:
        return None
    actual = sha256_of(weights)
    if actual != info["sha256"]:
        raise CheckpointError(
            f"{weights} does not match its record {record.name} (sha256 {actual[:12]}... instead "
            f"of {info['sha256'][:12]}...): the file is damaged or was replaced. Restore it with "
            "`git checkout data/reference`, or retrain it with `make reference`."
        )
    state = load_checkpoint(weights)
    model = create_model(info["model"], num_classes=info["num_classes"], **info["overrides"])
    try:
        model.load_state_dict({k: v.float() for k, v in state["state_dict"].items()}, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{weights} does not fit {info['model']}: {err}") from err
    return Reference(name, model.to(device).eval(), info)


def train_reference(
    name: str,
    *,
    device: torch.device | str | None = None,
    folder: str | Path | None = None,
    data: ImageDataset | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train reference ``name`` with the recipe for this device kind (resuming an interrupted
    run) on ``data`` (default: CIFAR-10), score it on the whole test set and export it. Returns
    the record written."""
    from course_lib.data import load_dataset, make_loaders
    from course_lib.train import evaluate, train_recipe

    device = torch.device(device) if device is not None else get_device()
    kind = "gpu" if device.type == "cuda" else "cpu"
    recipe = REFERENCE_RECIPES[name][kind]
    folder = Path(folder) if folder else REFERENCE_DIR
    data = reference_data(name, data if data is not None else load_dataset("cifar10", seed=seed))
    trained = train_recipe(
        recipe, data, device=device, checkpoint_root=folder / "runs", seed=seed, verbose=True
    )
    history = trained.history
    model = trained.model.float().cpu()
    weights, record = reference_paths(name, folder)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    save_checkpoint(weights, {"state_dict": state})
    # score the weights as saved (fp16, read back as fp32): the model every notebook loads
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    _, test_loader = make_loaders(data, batch_size=256, device=device)
    test_acc = evaluate(model.to(device), test_loader, device)["acc"]
    info = {
        "name": name,
        "model": recipe.model,
        "overrides": recipe.model_overrides,
        "num_classes": data.num_classes,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dataset": data.name,
        "recipe": dataclasses.asdict(recipe),
        "recipe_kind": kind,
        "seed": seed,
        "test_acc": test_acc,
        "test_images": len(data.test),
        "final_train_acc": history.last.get("train_acc"),
        "train_time_s": round(sum(history["epoch_time"]), 1),
        "device": kind,
        "trained_on": _machine(device),
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
        "sha256": sha256_of(weights),
    }
    atomic_write(record, lambda f: f.write((json.dumps(info, indent=2) + "\n").encode()))
    print(
        f"Reference {name}: {100 * test_acc:.2f}% on {len(data.test)} test images, "
        f"{info['train_time_s'] / 60:.1f} min of training; wrote {weights} and {record.name}."
    )
    return info


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.reference",
        description="Train the course's reference models and save compact checkpoints under "
        "data/reference/ (an interrupted run continues where it stopped).",
    )
    every = " ".join(REFERENCE_RECIPES)
    parser.add_argument("names", nargs="*", help=f"which ones (default: {every})")
    parser.add_argument("--background", action="store_true", help="run detached, log to a file")
    parser.add_argument("--folder", default=str(REFERENCE_DIR), help="where the checkpoints go")
    args = parser.parse_args(argv)
    names = args.names or list(REFERENCE_RECIPES)
    unknown = [n for n in names if n not in REFERENCE_RECIPES]
    if unknown:
        parser.error(f"unknown reference {unknown[0]!r}; known: {', '.join(REFERENCE_RECIPES)}")
    if args.background:
        log = Path(args.folder) / "reference.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "course_lib.reference", "--folder", args.folder, *names]
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "COURSE_PROGRESS": "0"},
            )
        print(f"Training {', '.join(names)} in the background (pid {process.pid}); log: {log}")
        return 0
    for name in names:
        start = time.perf_counter()
        train_reference(name, folder=args.folder)
        print(f"{name}: {time.perf_counter() - start:.0f} s in this call.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
