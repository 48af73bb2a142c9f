import numpy as np
import pytest
import torch

from course_lib.device import (
    autocast_dtype,
    get_device,
    resolve_profile,
    seed_everything,
    should_compile,
)


def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    """The choice is tested on any machine by faking what is available."""
    import course_lib.device as device_module

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device_module, "_mps_available", lambda: True)
    assert get_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_device() == torch.device("mps")
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)
    assert get_device() == torch.device("cpu")


def test_course_device_overrides(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        get_device()


def test_seed_everything_repeats_random_streams():
    seed_everything(123)
    a = (torch.rand(5), np.random.rand(5))
    seed_everything(123)
    b = (torch.rand(5), np.random.rand(5))
    assert torch.equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])
    seed_everything(124)
    assert not torch.equal(a[0], torch.rand(5))


def test_autocast_and_compile_policy(monkeypatch):
    assert autocast_dtype("cpu") is None
    assert should_compile("cpu") is False
    monkeypatch.setenv("COURSE_COMPILE", "1")
    assert should_compile("cpu") is True
    monkeypatch.setenv("COURSE_COMPILE", "0")
    assert should_compile("cuda") is False


def test_resolve_profile(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert resolve_profile("auto", "cpu") == "cpu"
    assert resolve_profile("auto", "cuda") == "gpu"
    assert resolve_profile("Smoke") == "smoke"
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert resolve_profile("gpu") == "smoke"


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    with pytest.raises(ValueError, match=r"Unknown profile 'fast'.*'smoke', 'cpu', 'gpu'"):
        resolve_profile("fast")
