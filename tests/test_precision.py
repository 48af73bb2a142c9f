"""Mixed precision by compute capability (issue 18), tested on any machine by faking the GPU; a
run with an fp16 gradient scaler saves and restores the scaler's state."""

import pytest
import torch

import course_lib.device as device_module
from course_lib.data import DeviceLoader, make_shapes
from course_lib.device import describe_precision, precision_choice, should_compile
from course_lib.models import create_model
from course_lib.train import fit, load_checkpoint


@pytest.fixture()
def fake_gpu(monkeypatch):
    """Pretend to have a CUDA card of the given compute capability."""

    def with_capability(major, minor):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, minor))

    monkeypatch.delenv("COURSE_AMP", raising=False)
    return with_capability


@pytest.mark.parametrize(
    ("capability", "dtype", "compiles"),
    [
        ((9, 0), torch.bfloat16, True),  # H100 / H200
        ((8, 0), torch.bfloat16, True),  # A100
        ((7, 5), torch.float16, True),  # T4 (Colab, Kaggle)
        ((7, 0), torch.float16, True),  # V100
        ((6, 0), None, False),  # P100 (Kaggle): no tensor cores, no Triton
    ],
)
def test_the_precision_follows_the_compute_capability(fake_gpu, capability, dtype, compiles):
    fake_gpu(*capability)
    chosen, why = precision_choice(torch.device("cuda"))
    assert chosen is dtype and f"{capability[0]}.{capability[1]}" in why
    assert should_compile("cuda") is compiles


def test_cpu_and_mps_train_in_fp32_unless_told(monkeypatch):
    monkeypatch.delenv("COURSE_AMP", raising=False)
    assert precision_choice("cpu")[0] is None
    assert precision_choice("mps")[0] is None
    assert describe_precision("cpu") == "fp32 (no mixed precision on the CPU)"
    monkeypatch.setenv("COURSE_AMP", " BF16 ")
    assert precision_choice("cpu") == (torch.bfloat16, "from COURSE_AMP")
    assert describe_precision("cpu") == "bf16 autocast (from COURSE_AMP)"
    monkeypatch.setenv("COURSE_AMP", "half")
    with pytest.raises(ValueError, match="COURSE_AMP is 'half'; use bf16, fp16 or off"):
        precision_choice("cpu")


def test_course_amp_overrides_the_card(fake_gpu, monkeypatch):
    fake_gpu(7, 5)
    monkeypatch.setenv("COURSE_AMP", "off")
    assert precision_choice("cuda")[0] is None
    monkeypatch.setenv("COURSE_AMP", "bf16")
    assert precision_choice("cuda")[0] is torch.bfloat16
    assert device_module.autocast_dtype("cuda") is torch.bfloat16


def _run(tmp_path, epochs_done=None):
    x, y = make_shapes(64, seed=0)
    loader = DeviceLoader(
        x,
        y,
        batch_size=16,
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
        num_classes=10,
        shuffle=True,
        drop_last=True,
        seed=0,
    )
    torch.manual_seed(0)
    model = create_model("resnet_cifar_nano")

    def stop(model, record):
        if epochs_done is not None and record["epoch"] == epochs_done + 1:
            raise KeyboardInterrupt

    history = fit(
        model,
        loader,
        epochs=3,
        lr=1e-3,
        grad_clip=1.0,
        checkpoint_dir=tmp_path,
        resume=True,
        progress=False,
        verbose=False,
        on_epoch_end=stop,
    )
    return model, history


def test_an_fp16_run_keeps_its_gradient_scaler_across_a_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_AMP", "fp16")  # fp16 autocast and a scaler, here on the CPU
    full_model, full_history = _run(tmp_path / "full")
    saved = load_checkpoint(tmp_path / "full" / "last.pt")["scaler"]
    assert saved is not None and saved["scale"] > 0
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", epochs_done=1)
    resumed_model, resumed_history = _run(tmp_path / "cut")
    assert resumed_history["train_loss"] == full_history["train_loss"]
    for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["scaler"] == saved


def test_an_fp32_run_saves_no_scaler(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_AMP", raising=False)
    _run(tmp_path)
    assert load_checkpoint(tmp_path / "last.pt")["scaler"] is None


@pytest.mark.parametrize(
    ("name", "capability", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", (9, 0), 989.0),
        ("NVIDIA A100-SXM4-80GB", (8, 0), 312.0),
        ("NVIDIA A10", (8, 6), 125.0),
        ("Tesla T4", (7, 5), 65.0),  # fp16 tensor cores
        ("Tesla V100-SXM2-16GB", (7, 0), 125.0),
        ("Tesla P100-PCIE-16GB", (6, 0), None),  # fp32: no tensor-core peak to compare with
    ],
)
def test_mfu_peaks_follow_the_precision_in_use(fake_gpu, monkeypatch, name, capability, peak):
    from course_lib.measure import peak_tflops

    monkeypatch.delenv("COURSE_PEAK_TFLOPS", raising=False)
    fake_gpu(*capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert peak_tflops("cuda") == peak
