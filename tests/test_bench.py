import json

from course_lib import bench


def test_tiny_bench_writes_its_json(tmp_path):
    out = tmp_path / "bench.json"
    assert (
        bench.main(
            ["--tiny", "--suite", "loop", "--suite", "loader", "--suite", "vit", "--out", str(out)]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["tiny"] is True and report["device"]
    assert report["loop"]["fit_over_bare"] > 0
    assert report["loader"]["none_images_per_s"] > 0
    assert report["loader"]["crop_flip_trivialaugment_mixup_cutmix_images_per_s"] > 0
    assert report["vit"]["course_over_timm"] > 0
