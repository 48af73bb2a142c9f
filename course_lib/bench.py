"""Benchmarks, run in one process: ``python -m course_lib.bench [--suite ...] [--smoke]``.

Suites (each returns a dict of measurements; all are written to one JSON file):

- ``data``: decoding the local CIFAR-10 copy once, and reloading the decoded cache.
- ``loop``: ``fit()`` against a bare hand-written loop (same model, same batches); the ratio is
  the engine's overhead.
- ``loader``: images/s of the on-device loader without and with each augmentation stage.
- ``models``: training images/s of each course transformer (ViT, distilled DeiT, CaiT, ConViT)
  against timm's implementation of the same configuration with the same weights (bf16 autocast
  and ``torch.compile`` on CUDA), forward FLOPs, MFU against the GPU's bf16 peak, and ConViT's
  speed relative to the ViT of the same width.
- ``tta``: time to accuracy: the course ViT trained from scratch until a target test accuracy.

``--smoke`` shrinks every suite to seconds (CI checks that the JSON is produced). Timings belong in
this benchmark, never in timed tests.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from course_lib.data import AugmentConfig, DeviceLoader, cifar10, default_data_root, make_shapes
from course_lib.device import describe_precision, get_device, seed_everything, should_compile
from course_lib.measure import (
    forward_flops,
    peak_tflops,
    synchronize,
    timm_pair,
    train_images_per_s,
)
from course_lib.models import create_model, find_model
from course_lib.train import create_optimizer, fit

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def bench_data(smoke: bool, device: torch.device) -> dict[str, Any]:
    """Cold decode of the CIFAR-10 JPEG copy, then a reload of its cache (into a temp folder)."""
    found = cifar10.find_local(default_data_root())
    if found is None:
        return {"skipped": f"no local CIFAR-10 copy under {default_data_root()}"}
    layout, path = found
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cifar10.npz"
        start = time.perf_counter()
        if layout == "jpeg" and smoke:  # the 10,000 test images only
            classes = _classes(path)
            test = cifar10.decode_split(path / "test", classes)
            arrays = cifar10.Cifar10Arrays(*test, *test, classes=classes)
        elif layout == "jpeg":
            arrays = cifar10.read_jpeg_folder(path)
        else:
            arrays = cifar10.read_torchvision_layout(path)
        decode_s = time.perf_counter() - start
        cifar10.write_cache(cache, arrays)
        start = time.perf_counter()
        cifar10.read_cache(cache)
        reload_s = time.perf_counter() - start
    n = arrays.x_train.shape[0] + arrays.x_test.shape[0]
    return {"layout": layout, "images": n, "decode_s": decode_s, "cached_reload_s": reload_s}


def _classes(path: Path) -> tuple[str, ...]:
    return tuple(sorted(p.name for p in (path / "train").iterdir() if p.is_dir()))


def _batches(n: int, device: torch.device) -> DeviceLoader:
    x, y = make_shapes(n, seed=0)
    return DeviceLoader(
        x,
        y,
        batch_size=128,
        mean=MEAN,
        std=STD,
        num_classes=10,
        device=device,
        shuffle=True,
        drop_last=True,
    )


def bench_loop(smoke: bool, device: torch.device) -> dict[str, Any]:
    """Seconds per epoch of ``fit()`` and of a bare loop on the same batches (best of N epochs)."""
    n, epochs, name = (512, 2, "resnet_cifar_nano") if smoke else (5120, 3, "resnet_cifar_mini")
    loader = _batches(n, device)

    seed_everything(0)
    model = create_model(name).to(device)
    optimizer = create_optimizer(model, lr=1e-3)
    bare = []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        synchronize(device)
        start = time.perf_counter()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(device)
        bare.append(time.perf_counter() - start)

    seed_everything(0)
    model = create_model(name).to(device)
    history = fit(model, loader, epochs=epochs, device=device, compile=False, verbose=False)
    engine = history["epoch_time"]
    return {
        "model": name,
        "images_per_epoch": loader.num_images,
        "bare_epoch_s": min(bare),
        "fit_epoch_s": min(engine),
        "fit_over_bare": min(engine) / min(bare),
    }


def bench_loader(smoke: bool, device: torch.device) -> dict[str, Any]:
    """Images/s of iterating the loader (no model) per augmentation setting."""
    n = 2048 if smoke else 20_480
    x, y = make_shapes(n, seed=0)
    settings = {
        "none": None,
        "crop_flip": AugmentConfig(),
        "crop_flip_trivialaugment": AugmentConfig(policy="trivialaugment"),
        "crop_flip_trivialaugment_mixup_cutmix": AugmentConfig(
            policy="trivialaugment", mixup_alpha=0.8, cutmix_alpha=1.0
        ),
    }
    result: dict[str, Any] = {"batch_size": 256, "images": n}
    for label, augment in settings.items():
        loader = DeviceLoader(
            x,
            y,
            batch_size=256,
            mean=MEAN,
            std=STD,
            num_classes=10,
            device=device,
            shuffle=True,
            drop_last=True,
            augment=augment,
        )
        next(iter(loader))  # warm-up
        synchronize(device)
        start = time.perf_counter()
        for _inputs, _targets in loader:
            pass
        synchronize(device)
        result[f"{label}_images_per_s"] = loader.num_images / (time.perf_counter() - start)
    return result


TRANSFORMER_FAMILIES = ("vit", "deit", "cait", "convit")


def bench_models(smoke: bool, device: torch.device) -> dict[str, Any]:
    """Every course transformer against timm's same configuration with the same weights:
    training images/s (bf16 autocast and ``torch.compile`` on CUDA; ``COURSE_COMPILE=1`` compiles
    on the CPU too), forward FLOPs per image and, on CUDA, the model FLOP utilisation (MFU:
    achieved training FLOP/s over the peak of the precision used, counting a training step as 3
    forward passes)."""
    cuda = device.type == "cuda"
    size = "nano" if smoke else ("tiny" if cuda else "mini")
    batch, steps = (32, 2) if smoke else ((512, 50) if cuda else (128, 5))
    compile_models = should_compile(device) and not smoke
    peak = peak_tflops(device)
    result: dict[str, Any] = {
        "size": size,
        "batch_size": batch,
        "steps": steps,
        "precision": describe_precision(device) if cuda else "fp32",
        "compiled": compile_models,
        "peak_tflops": peak,
    }
    for family in TRANSFORMER_FAMILIES:
        models = timm_pair(find_model(family, size), device)
        entry: dict[str, Any] = {"model": find_model(family, size)}
        entry["forward_gflops_per_image"] = forward_flops(models["course"], device) / 1e9
        if compile_models:
            models = {label: torch.compile(model) for label, model in models.items()}
        for label in models:
            entry[f"{label}_images_per_s"] = 0.0
        # Alternate the two, swap which goes first every round, and keep each one's best round:
        # on a CPU the order alone moves the speed by a few percent.
        for round_index in range(1 if smoke else 4):
            order = list(models.items())
            for label, model in order if round_index % 2 == 0 else reversed(order):
                speed = train_images_per_s(model, device, batch, steps, cuda)
                entry[f"{label}_images_per_s"] = max(entry[f"{label}_images_per_s"], speed)
        entry["course_over_timm"] = entry["course_images_per_s"] / entry["timm_images_per_s"]
        if peak:
            achieved = 3 * entry["forward_gflops_per_image"] * 1e9 * entry["course_images_per_s"]
            entry["course_mfu"] = achieved / (peak * 1e12)
        result[family] = entry
    result["convit_over_vit"] = (
        result["convit"]["course_images_per_s"] / result["vit"]["course_images_per_s"]
    )
    return result


def bench_time_to_accuracy(smoke: bool, device: torch.device) -> dict[str, Any]:
    """Train the course ViT from scratch with its recipe for this device and stop at a target
    test accuracy: wall time (training plus the per-epoch evaluations) to reach it.

    CUDA: ``vit_cifar_tiny`` on all of CIFAR-10, target 90%. CPU: ``vit_cifar_nano`` on 500
    images per class, target 40%. Smoke mode: 60 images per class, target 15%, on CIFAR-10 if
    present, else ``shapes``."""
    from dataclasses import replace

    from course_lib.data import load_dataset
    from course_lib.train.recipes import VIT_RECIPES, train_recipe

    cuda = device.type == "cuda"
    if smoke:
        recipe, target = VIT_RECIPES["smoke"], 0.15
    elif cuda:
        recipe, target = VIT_RECIPES["gpu"], 0.90
    else:
        recipe = replace(VIT_RECIPES["smoke"], epochs=20, per_class=500, test_per_class=100)
        target = 0.40
    data = load_dataset("auto", verbose=False) if smoke else load_dataset("cifar10")
    reached: dict[str, float] = {}
    start = time.perf_counter()

    def stop_at_target(_model: torch.nn.Module, record: dict[str, float]) -> bool:
        if record.get("test_acc", 0.0) >= target and not reached:
            reached.update(epoch=record["epoch"], seconds=time.perf_counter() - start)
            return True
        return False

    with tempfile.TemporaryDirectory() as tmp:
        trained = train_recipe(
            recipe,
            data,
            device=device,
            checkpoint_root=tmp,
            verbose=False,
            on_epoch_end=stop_at_target,
        )
    wall = time.perf_counter() - start
    return {
        "model": recipe.model,
        "dataset": data.name,
        "train_images": len(trained.train_split),
        "target_acc": target,
        "reached": bool(reached),
        "epochs_run": len(trained.history),
        "epochs_planned": recipe.epochs,
        "seconds_to_target": reached.get("seconds"),
        "best_test_acc": max(trained.history["test_acc"]),
        "wall_s": wall,
    }


SUITES: dict[str, Callable[[bool, torch.device], dict[str, Any]]] = {
    "data": bench_data,
    "loop": bench_loop,
    "loader": bench_loader,
    "models": bench_models,
    "tta": bench_time_to_accuracy,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.bench", description=__doc__)
    parser.add_argument(
        "--suite",
        action="append",
        choices=sorted(SUITES),
        help="repeat to pick several (default: all)",
    )
    parser.add_argument(
        "--smoke",
        "--tiny",
        dest="smoke",
        action="store_true",
        help="seconds-long version for CI (--tiny is the old name)",
    )
    parser.add_argument("--out", type=Path, default=Path("build/bench.json"))
    args = parser.parse_args(argv)
    device = get_device()
    report: dict[str, Any] = {
        "device": str(device),
        "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "smoke": args.smoke,
    }
    for name in args.suite or list(SUITES):
        print(f"bench {name} ...", flush=True)
        report[name] = SUITES[name](args.smoke, device)
        print(json.dumps(report[name], indent=2), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
