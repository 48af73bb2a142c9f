"""Small helpers the notebooks lean on."""

import pytest
import torch

from course_lib.notebook import matches


def test_matches_is_assert_close_as_a_bool():
    a = torch.tensor([1.0, 2.0])
    assert matches(a, a + 1e-7)
    assert not matches(a, a + 1e-3)
    assert matches(a, a + 1e-3, atol=1e-2, rtol=0)
    assert not matches(a, a[:1])  # shapes differ
    assert not matches(a, a.double())  # dtypes differ


def test_the_header_names_the_profile_that_ran_and_why(monkeypatch, capsys):
    from course_lib.notebook import start_notebook

    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    run = start_notebook("xx_header", profile="gpu", dataset=None)
    header = capsys.readouterr().out
    assert run.profile == "smoke"
    assert "Profile  : smoke (from COURSE_PROFILE; the notebook's parameter is 'gpu')" in header
    monkeypatch.delenv("COURSE_PROFILE")
    start_notebook("xx_header", profile="cpu", dataset=None)
    assert "Profile  : cpu\n" in capsys.readouterr().out


def test_the_header_says_the_precision(monkeypatch, capsys):
    from course_lib.notebook import start_notebook

    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    start_notebook("xx_header", profile="smoke", dataset=None)
    assert "Precision: fp32 (no mixed precision on the CPU)" in capsys.readouterr().out


def test_the_runner_orders_and_selects_lettered_notebooks(tmp_path):
    from course_lib.run import course_notebooks, find_notebooks

    for name in ("04_inside", "03b_training", "03_vision", "10_how", "notes"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    assert [p.stem for p in course_notebooks(tmp_path)] == [
        "03_vision",
        "03b_training",
        "04_inside",
        "10_how",
    ]
    stems = lambda selection: [p.stem for p in find_notebooks(selection, tmp_path)]  # noqa: E731
    assert stems(["03"]) == ["03_vision"]
    assert stems(["03b"]) == ["03b_training"]
    assert stems(["03_vis", "03b_tr"]) == ["03_vision", "03b_training"]
    assert stems([]) == ["03_vision", "03b_training", "04_inside", "10_how"]
    with pytest.raises(SystemExit, match="03b_training"):
        find_notebooks(["05"], tmp_path)


def test_live_takes_its_own_settings_or_the_smoke_ones(monkeypatch, capsys, tmp_path):
    from course_lib.notebook import start_notebook

    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    run = start_notebook("xx_live", profile="live", dataset=None, output_dir=tmp_path)
    assert run.profile == "live"
    assert run.choose(smoke=1, cpu=5, gpu=60) == 1
    assert run.choose(smoke=1, cpu=5, gpu=60, live=2) == 2
    with pytest.raises(KeyError, match="live"):
        run.choose(cpu=5, gpu=60)
    run.finish()  # no committed notebook of that name: says so instead of inventing a table
    assert "No committed notebooks/xx_live.ipynb" in capsys.readouterr().out
