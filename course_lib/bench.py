"""Benchmarks, run in one process: ``python -m course_lib.bench [--suite ...] [--tiny]``.

Suites (each returns a dict of measurements; all are written to one JSON file):

- ``data``: decoding the local CIFAR-10 copy once, and reloading the decoded cache.
- ``loop``: ``fit()`` against a bare hand-written loop (same model, same batches); the ratio is
  the engine's overhead.
- ``loader``: images/s of the on-device loader without and with each augmentation stage.
- ``vit``: training images/s of the course ViT against timm's implementation of the same
  configuration with the same weights (bf16 autocast on CUDA, plus ``torch.compile`` there).

``--tiny`` shrinks every suite to seconds (CI checks that the JSON is produced). Timings belong in
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
from course_lib.device import get_device, seed_everything
from course_lib.models import create_model
from course_lib.train import create_optimizer, fit

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def bench_data(tiny: bool, device: torch.device) -> dict[str, Any]:
    """Cold decode of the CIFAR-10 JPEG copy, then a reload of its cache (into a temp folder)."""
    found = cifar10.find_local(default_data_root())
    if found is None:
        return {"skipped": f"no local CIFAR-10 copy under {default_data_root()}"}
    layout, path = found
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cifar10.npz"
        start = time.perf_counter()
        if layout == "jpeg" and tiny:  # the 10,000 test images only
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


def bench_loop(tiny: bool, device: torch.device) -> dict[str, Any]:
    """Seconds per epoch of ``fit()`` and of a bare loop on the same batches (best of N epochs)."""
    n, epochs, name = (512, 2, "resnet_cifar_tiny") if tiny else (5120, 3, "resnet_cifar_small")
    loader = _batches(n, device)

    seed_everything(0)
    model = create_model(name).to(device)
    optimizer = create_optimizer(model, lr=1e-3)
    bare = []
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        _sync(device)
        start = time.perf_counter()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
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


def bench_loader(tiny: bool, device: torch.device) -> dict[str, Any]:
    """Images/s of iterating the loader (no model) per augmentation setting."""
    n = 2048 if tiny else 20_480
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
        _sync(device)
        start = time.perf_counter()
        for _inputs, _targets in loader:
            pass
        _sync(device)
        result[f"{label}_images_per_s"] = loader.num_images / (time.perf_counter() - start)
    return result


def _train_images_per_s(
    model: torch.nn.Module, device: torch.device, batch: int, steps: int, amp: bool
) -> float:
    """Training steps on random 32x32 batches (after two warm-up steps): images per second."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    dtype = torch.bfloat16 if amp else None

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return batch * steps / (time.perf_counter() - start)


def bench_vit(tiny: bool, device: torch.device) -> dict[str, Any]:
    """Course ViT vs timm's ViT, same configuration and weights: training images/s."""
    import timm

    cuda = device.type == "cuda"
    if tiny:
        name, width, depth, heads, batch, steps = "vit_cifar_nano", 64, 4, 2, 32, 3
    elif cuda:
        name, width, depth, heads, batch, steps = "vit_cifar_tiny", 192, 9, 3, 512, 50
    else:
        name, width, depth, heads, batch, steps = "vit_cifar_mini", 128, 6, 4, 128, 10
    seed_everything(0)
    reference = timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=False,
        img_size=32,
        patch_size=4,
        num_classes=10,
        embed_dim=width,
        depth=depth,
        num_heads=heads,
    ).to(device)
    ours = create_model(name).to(device)
    ours.load_state_dict(reference.state_dict())
    result: dict[str, Any] = {"model": name, "batch_size": batch, "steps": steps, "amp_bf16": cuda}
    models = {"course": ours, "timm": reference}
    if cuda and not tiny:
        models = {label: torch.compile(model) for label, model in models.items()}
    # Alternate the two and keep each one's best round: the first model timed otherwise pays for
    # the machine warming up.
    for label in ("course", "timm"):
        result[f"{label}_images_per_s"] = 0.0
    for _ in range(1 if tiny else 2):
        for label, model in models.items():
            speed = _train_images_per_s(model, device, batch, steps, cuda)
            result[f"{label}_images_per_s"] = max(result[f"{label}_images_per_s"], speed)
    result["course_over_timm"] = result["course_images_per_s"] / result["timm_images_per_s"]
    return result


SUITES: dict[str, Callable[[bool, torch.device], dict[str, Any]]] = {
    "data": bench_data,
    "loop": bench_loop,
    "loader": bench_loader,
    "vit": bench_vit,
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.bench", description=__doc__)
    parser.add_argument(
        "--suite",
        action="append",
        choices=sorted(SUITES),
        help="repeat to pick several (default: all)",
    )
    parser.add_argument("--tiny", action="store_true", help="seconds-long version for CI")
    parser.add_argument("--out", type=Path, default=Path("build/bench.json"))
    args = parser.parse_args(argv)
    device = get_device()
    report: dict[str, Any] = {
        "device": str(device),
        "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "tiny": args.tiny,
    }
    for name in args.suite or list(SUITES):
        print(f"bench {name} ...", flush=True)
        report[name] = SUITES[name](args.tiny, device)
        print(json.dumps(report[name], indent=2), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
