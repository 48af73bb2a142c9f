"""The GPU check runs its code path on the CPU (--smoke), writes the summary the GPU run will
commit, and needs nothing beyond torch, torchvision and timm."""

import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from course_lib import gpu_check


@pytest.mark.slow
def test_smoke_gpu_check_writes_the_summary(tmp_path):
    assert gpu_check.main(["--smoke", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["smoke"] is True and summary["torch"] and summary["date"]
    assert summary["precision"].startswith("fp32")
    parts = summary["parts"]
    assert set(parts) == set(gpu_check.CAPS)
    for family in gpu_check.FAMILIES:
        entry = parts["models"][family]
        assert entry["course_over_timm"] > 0 and entry["forward_gflops_per_image"] > 0
    assert 0 <= parts["time_to_accuracy"]["best_test_acc"] <= 1
    assert len(parts["convit_vs_vit"]["vit"]["test_acc"]) == 2
    assert len(parts["profile"]["top"]) == 10
    assert all(part["status"] == "ok" for part in parts.values())
    table = (tmp_path / "summary.md").read_text()
    assert "| models | vit_cifar_nano: course / timm images/s |" in table
    assert "| profile | #1 by self time:" in table


def test_a_part_that_fails_or_runs_out_of_time_does_not_stop_the_others():
    def boom(clock):
        raise RuntimeError("out of memory")

    def slow(clock):
        clock.cap_s = -1
        clock.check()

    failed = gpu_check.run_part("a", 5, boom)
    assert failed["status"] == "error" and "out of memory" in failed["error"]
    assert gpu_check.run_part("b", 5, slow)["status"] == "timeout"
    assert gpu_check.run_part("c", 5, lambda clock: {"x": 1})["status"] == "ok"


def test_the_data_can_be_the_tarball(tmp_path):
    source = tmp_path / "src"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in ("cat", "dog"):
            folder = source / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.jpg")
    archive = tmp_path / "cifar10-jpeg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(source / split, arcname=split)
    work = tmp_path / "work"
    data = gpu_check.prepare_data(str(archive), smoke=False, workdir=work)
    assert data.name == "cifar10" and len(data.train) == 4 and data.classes == ("cat", "dog")
    from_folder = gpu_check.prepare_data(str(source), smoke=False, workdir=work)
    assert len(from_folder.test) == 4


def test_the_check_imports_no_notebook_tools():
    code = (
        "import sys, course_lib.gpu_check; "
        "print(sorted(m for m in ('matplotlib', 'papermill', 'nbformat', 'nbval') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
