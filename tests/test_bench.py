import json

from course_lib import bench


def test_smoke_bench_writes_its_json(tmp_path):
    out = tmp_path / "bench.json"
    assert (
        bench.main(
            [
                "--smoke",
                "--suite",
                "loop",
                "--suite",
                "loader",
                "--suite",
                "models",
                "--suite",
                "tta",
            ]
            + ["--out", str(out)]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["smoke"] is True and report["device"]
    assert report["loop"]["fit_over_bare"] > 0
    assert report["loader"]["none_images_per_s"] > 0
    assert report["loader"]["crop_flip_trivialaugment_mixup_cutmix_images_per_s"] > 0
    for family in ("vit", "deit", "cait", "convit"):
        entry = report["models"][family]
        assert entry["course_over_timm"] > 0 and entry["forward_gflops_per_image"] > 0
    assert report["models"]["convit_over_vit"] > 0
    tta = report["tta"]
    assert tta["epochs_run"] >= 1 and 0 <= tta["best_test_acc"] <= 1
    assert tta["reached"] == (tta["seconds_to_target"] is not None)
