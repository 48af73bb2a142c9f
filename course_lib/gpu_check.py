"""The course's GPU targets, measured in one command: ``python -m course_lib.gpu_check``.

Made for a GPU that is lent for a few minutes: everything runs in one process, each part has its
own time cap (one slow part cannot eat the others), and the result is a table to commit as it
is, ``<out>/summary.md``, with ``<out>/summary.json`` beside it. The parts, in order of value:

1. ``models``: each course transformer (ViT, distilled DeiT, CaiT, ConViT at width 192) against
   timm's same configuration with the same weights: training images/s with mixed precision and
   ``torch.compile``, the course/timm ratio, and the model FLOP utilisation (MFU) against the
   card's peak for that precision.
2. ``time_to_accuracy``: the course ViT with the ``gpu`` recipe on CIFAR-10: the time to 85% and
   90% test accuracy, or the best accuracy within the cap.
3. ``convit_vs_vit``: ConViT against the same-width ViT on 10% of CIFAR-10, short budget, two
   seeds.
4. ``profile``: an eager profiler trace of 20 ViT training steps; the top 10 kernels by self
   time (what the next optimisation works from).

It needs Python with torch, torchvision and timm, and nothing else: no notebook tools and no
network. ``--data`` takes the unpacked CIFAR-10 folder or the ``.tar.gz`` it came in.
``--smoke`` runs the same code on the CPU in seconds, on nano models (the test suite runs it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from course_lib.data import ImageDataset, load_dataset, subset
from course_lib.device import describe_precision, get_device, should_compile
from course_lib.measure import forward_flops, peak_tflops, timm_pair, train_images_per_s
from course_lib.models import create_model, find_model
from course_lib.train import seeded, train_for_images
from course_lib.train.recipes import VIT_RECIPES, train_recipe

# Seconds each part may take on a GPU (the whole check must stay under 8 minutes, compile and
# data included), and in --smoke mode.
CAPS = {"models": 200, "time_to_accuracy": 150, "convit_vs_vit": 60, "profile": 30}
SMOKE_CAPS = {"models": 30, "time_to_accuracy": 30, "convit_vs_vit": 30, "profile": 15}
FAMILIES = ("vit", "convit", "cait", "deit")  # in order of value, should the cap cut the list


class PartTimeout(RuntimeError):
    """A part reached its time cap; what it measured until then is kept."""


class Clock:
    """A part's time cap: ``check()`` raises :class:`PartTimeout` once ``cap_s`` has passed."""

    def __init__(self, cap_s: float) -> None:
        self.cap_s, self.start = cap_s, time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def check(self) -> None:
        if self.elapsed > self.cap_s:
            raise PartTimeout(f"stopped at the {self.cap_s:.0f} s cap")


def models_part(clock: Clock, device: torch.device, smoke: bool) -> dict[str, Any]:
    """Course model against its timm twin: training images/s, ratio and MFU per family."""
    size = "nano" if smoke else "tiny"
    batch, steps = (16, 2) if smoke else (512, 30)
    amp = device.type == "cuda"
    compiled = should_compile(device) and not smoke
    peak = peak_tflops(device)
    result: dict[str, Any] = {"size": size, "batch": batch, "steps": steps, "compiled": compiled}
    result["peak_tflops"] = peak
    for family in FAMILIES:
        clock.check()
        name = find_model(family, size)
        models = timm_pair(name, device)
        flops = forward_flops(models["course"], device)
        speeds = {}
        for label, model in models.items():
            runnable = torch.compile(model) if compiled else model
            speeds[label] = train_images_per_s(runnable, device, batch, steps, amp)
        entry = {
            "model": name,
            "forward_gflops_per_image": flops / 1e9,
            "course_images_per_s": speeds["course"],
            "timm_images_per_s": speeds["timm"],
            "course_over_timm": speeds["course"] / speeds["timm"],
        }
        if peak:
            entry["course_mfu"] = 3 * flops * speeds["course"] / (peak * 1e12)
        result[family] = entry
    return result


def time_to_accuracy_part(
    clock: Clock, device: torch.device, smoke: bool, data: ImageDataset
) -> dict[str, Any]:
    """The course ViT with the gpu recipe (the smoke recipe with --smoke): seconds to 85% and 90%
    test accuracy, or the best accuracy within the cap."""
    recipe = VIT_RECIPES["smoke" if smoke else "gpu"]
    targets = (0.85, 0.90)
    reached: dict[str, float] = {}
    best = 0.0

    def on_epoch_end(_model: torch.nn.Module, record: dict[str, float]) -> bool:
        nonlocal best
        best = max(best, record.get("test_acc", 0.0))
        for target in targets:
            if record.get("test_acc", 0.0) >= target:
                reached.setdefault(f"{target:.0%}", round(clock.elapsed, 1))
        return len(reached) == len(targets) or clock.elapsed > clock.cap_s

    with tempfile.TemporaryDirectory() as checkpoints:
        history = train_recipe(
            recipe,
            data,
            device=device,
            checkpoint_root=checkpoints,
            seed=0,
            verbose=False,
            on_epoch_end=on_epoch_end,
        ).history
    return {
        "model": recipe.model,
        "recipe": "smoke" if smoke else "gpu",
        "epochs_run": len(history),
        "seconds": round(clock.elapsed, 1),
        "seconds_to": reached,
        "best_test_acc": best,
        "stopped_by_cap": clock.elapsed > clock.cap_s,
    }


def convit_vs_vit_part(
    clock: Clock, device: torch.device, smoke: bool, data: ImageDataset
) -> dict[str, Any]:
    """ConViT against the same-width ViT on 10% of the training set, two seeds each."""
    size = "nano" if smoke else "tiny"
    per_class = 20 if smoke else len(data.train) // data.num_classes // 10
    seen = 2_000 if smoke else 40 * per_class * data.num_classes
    result: dict[str, Any] = {"size": size, "per_class": per_class, "images_seen": seen}
    for family in ("vit", "convit"):
        scores = []
        for seed in (0, 1):
            clock.check()
            name = find_model(family, size)
            model = seeded(lambda name=name: create_model(name), seed)
            run = train_for_images(
                model,
                data,
                subset(data.train, per_class=per_class, seed=seed),
                images_seen=seen,
                batch_size=32 if smoke else 256,
                device=device,
                test=subset(data.test, per_class=20, seed=0) if smoke else data.test,
                seed=seed,
                lr=2e-3,
                compile=False,
            )
            scores.append(run.test_acc)
        result[family] = {"model": find_model(family, size), "test_acc": scores}
    result["convit_minus_vit"] = (
        sum(result["convit"]["test_acc"]) / 2 - sum(result["vit"]["test_acc"]) / 2
    )
    return result


def profile_part(clock: Clock, device: torch.device, smoke: bool) -> dict[str, Any]:
    """20 eager training steps of the course ViT under the profiler: top 10 kernels by self
    time (on the GPU: CUDA kernels; on the CPU: operators)."""
    from torch.profiler import ProfilerActivity, profile

    name = find_model("vit", "nano" if smoke else "tiny")
    model = seeded(lambda: create_model(name), 0).to(device).train()
    batch = 16 if smoke else 512
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    y = torch.randint(0, 10, (batch,), generator=torch.Generator().manual_seed(1)).to(device)
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])

    def step() -> None:
        with torch.autocast(device.type, enabled=cuda):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up, outside the trace
    with profile(activities=activities) as trace:
        for _ in range(5 if smoke else 20):
            clock.check()
            step()
        if cuda:
            torch.cuda.synchronize(device)
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = sorted(trace.key_averages(), key=lambda e: getattr(e, key, 0), reverse=True)
    total = sum(getattr(e, key, 0) for e in events) or 1
    top = [
        {
            "kernel": e.key[:80],
            "self_ms": getattr(e, key, 0) / 1e3,
            "share": getattr(e, key, 0) / total,
        }
        for e in events[:10]
    ]
    return {"model": name, "batch": batch, "steps": 5 if smoke else 20, "by": key, "top": top}


def prepare_data(path: str | None, smoke: bool, workdir: Path) -> ImageDataset:
    """CIFAR-10 from ``path`` (an unpacked folder or the ``.tar.gz``), else the default data
    root; in --smoke mode ``shapes`` when there is no CIFAR-10 at all."""
    root = None
    if path:
        source = Path(path).expanduser()
        if source.is_file() and source.name.endswith((".tar.gz", ".tgz", ".tar")):
            root = workdir / "data"
            with tarfile.open(source) as archive:
                try:
                    archive.extractall(root / "cifar10-jpeg", filter="data")
                except TypeError:  # Python before 3.10.12 / 3.11.4: no extraction filters
                    archive.extractall(root / "cifar10-jpeg")  # noqa: S202 - the course's own copy
        elif source.is_dir():
            root = source  # a data root holding cifar10-jpeg/, or that folder itself
        else:
            raise FileNotFoundError(f"--data {path}: neither a folder nor a .tar.gz archive.")
    try:
        return load_dataset("cifar10", root=root, download=False, verbose=False)
    except FileNotFoundError:
        if not smoke:
            raise
        return load_dataset("shapes", n_train=500, n_test=200, seed=0)


def run_part(name: str, cap_s: float, work: Callable[[Clock], dict[str, Any]]) -> dict[str, Any]:
    """Run one part under its cap; a timeout keeps nothing but says so, an error is recorded
    with its message, and neither stops the other parts."""
    clock = Clock(cap_s)
    print(f"gpu-check: {name} (cap {cap_s:.0f} s) ...", flush=True)
    try:
        result = work(clock)
        status = "ok"
    except PartTimeout as err:
        result, status = {"note": str(err)}, "timeout"
    except Exception as err:  # noqa: BLE001 - one part's failure must not lose the others
        result = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()[-2000:]}
        status = "error"
    result.update(status=status, wall_s=round(clock.elapsed, 1))
    print(f"gpu-check: {name} {status} in {clock.elapsed:.0f} s", flush=True)
    return result


def summary_markdown(summary: dict[str, Any]) -> str:
    """The committed table: one line per figure."""
    lines = [
        f"# GPU check, {summary['date']}",
        "",
        f"- device: {summary['device_name']} ({summary['device']}), precision "
        f"{summary['precision']}",
        f"- torch {summary['torch']}, python {summary['python']}, total "
        f"{summary['wall_s']:.0f} s{' (--smoke: CPU smoke run)' if summary['smoke'] else ''}",
        "",
        "| part | figure | value |",
        "|---|---|---|",
    ]
    parts = summary["parts"]
    models = parts.get("models", {})
    for family in FAMILIES:
        entry = models.get(family)
        if not entry:
            continue
        mfu = f", MFU {entry['course_mfu']:.1%}" if "course_mfu" in entry else ""
        lines.append(
            f"| models | {entry['model']}: course / timm images/s | "
            f"{entry['course_images_per_s']:,.0f} / {entry['timm_images_per_s']:,.0f} = "
            f"{entry['course_over_timm']:.2f}{mfu} |"
        )
    tta = parts.get("time_to_accuracy", {})
    if "best_test_acc" in tta:
        reached = ", ".join(f"{k} in {v} s" for k, v in tta["seconds_to"].items()) or "none"
        lines.append(
            f"| time to accuracy | {tta['model']} ({tta['recipe']} recipe), targets reached | "
            f"{reached}; best {tta['best_test_acc']:.1%} after {tta['epochs_run']} epochs, "
            f"{tta['seconds']} s |"
        )
    cv = parts.get("convit_vs_vit", {})
    if "convit_minus_vit" in cv:
        accs = {f: ", ".join(f"{a:.1%}" for a in cv[f]["test_acc"]) for f in ("vit", "convit")}
        lines.append(
            f"| convit vs vit | {cv['per_class']} per class, 2 seeds: ViT / ConViT | "
            f"{accs['vit']} / {accs['convit']} ({100 * cv['convit_minus_vit']:+.1f} points) |"
        )
    prof = parts.get("profile", {})
    for rank, entry in enumerate(prof.get("top", []), 1):
        lines.append(
            f"| profile | #{rank} by self time: `{entry['kernel']}` | "
            f"{entry['self_ms']:.2f} ms ({entry['share']:.0%}) |"
        )
    for name, part in parts.items():
        if part.get("status") != "ok":
            note = part.get("error") or part.get("note", "")
            lines.append(f"| {name} | status | {part.get('status')}: {note} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.gpu_check", description=__doc__)
    parser.add_argument(
        "--smoke",
        "--tiny",
        dest="smoke",
        action="store_true",
        help="the same code on the CPU, in seconds (--tiny is the old name)",
    )
    parser.add_argument("--data", default=None, help="CIFAR-10 folder or .tar.gz archive")
    parser.add_argument("--out", type=Path, default=Path("build/gpu-check"))
    parser.add_argument(
        "--parts", nargs="*", default=list(CAPS), choices=list(CAPS), help="default: all"
    )
    args = parser.parse_args(argv)
    device = torch.device("cpu") if args.smoke else get_device()
    caps = SMOKE_CAPS if args.smoke else CAPS
    start = time.perf_counter()
    cuda = device.type == "cuda"
    summary: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "device": str(device),
        "device_name": (
            torch.cuda.get_device_name(device)
            if cuda
            else f"{platform.machine()} CPU, {os.cpu_count()} cores"
        ),
        "precision": describe_precision(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "smoke": args.smoke,
        "parts": {},
    }
    with tempfile.TemporaryDirectory() as workdir:
        needs_data = {"time_to_accuracy", "convit_vs_vit"} & set(args.parts)
        data = prepare_data(args.data, args.smoke, Path(workdir)) if needs_data else None
        summary["data_s"] = round(time.perf_counter() - start, 1)
        summary["dataset"] = data.name if data is not None else None
        works: dict[str, Callable[[Clock], dict[str, Any]]] = {
            "models": lambda c: models_part(c, device, args.smoke),
            "time_to_accuracy": lambda c: time_to_accuracy_part(c, device, args.smoke, data),
            "convit_vs_vit": lambda c: convit_vs_vit_part(c, device, args.smoke, data),
            "profile": lambda c: profile_part(c, device, args.smoke),
        }
        for name in args.parts:
            summary["parts"][name] = run_part(name, caps[name], works[name])
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "summary.md").write_text(summary_markdown(summary))
    print(summary_markdown(summary))
    print(f"Wrote {args.out / 'summary.json'} and summary.md ({summary['wall_s']:.0f} s).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
