"""course_lib.measure: sizes, FLOPs, speeds and modes, checked against hand counts."""

import pytest
import timm
import torch

from course_lib.measure import (
    bf16_peak_tflops,
    count_parameters,
    eval_mode,
    explicit_attention_path,
    forward_flops,
    forward_ms,
    input_size,
    train_images_per_s,
)
from course_lib.models import create_model


def vit_multiply_adds(depth, width, tokens, patch, classes, mlp_ratio=4, channels=3):
    """Multiply-adds of one image through a ViT, layer by layer."""
    block = (
        tokens * width * 3 * width  # qkv
        + 2 * tokens * tokens * width  # q k^T and A v
        + tokens * width * width  # proj
        + 2 * tokens * width * mlp_ratio * width  # fc1, fc2
    )
    patches = (tokens - 1) * width * patch * patch * channels
    return patches + depth * block + width * classes


def test_forward_flops_counts_every_matmul_including_attention():
    model = create_model("vit_cifar_nano").eval()
    expected = 2 * vit_multiply_adds(depth=4, width=64, tokens=65, patch=4, classes=10)
    assert forward_flops(model) == expected
    assert all(block.attn.fused for block in model.blocks)  # the switch is undone


def test_modes_are_restored_even_after_an_error():
    model = create_model("vit_cifar_nano").train()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training
        raise RuntimeError("inside")
    assert model.training
    model.blocks[0].attn.fused = False
    with pytest.raises(RuntimeError), explicit_attention_path(model):
        assert not any(block.attn.fused for block in model.blocks)
        raise RuntimeError("inside")
    assert [block.attn.fused for block in model.blocks] == [False, True, True, True]


def test_input_size_reads_the_model_or_falls_back():
    assert input_size(create_model("vit_cifar_nano")) == (32, 32)
    assert input_size(create_model("vit_tiny_patch16_224")) == (224, 224)
    assert input_size(create_model("resnet_cifar_nano")) == (32, 32)  # any size: the default
    twin = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=48, patch_size=8)
    assert input_size(twin) == (48, 48)  # timm stores a pair


def test_speeds_are_positive_and_modes_sensible():
    model = create_model("resnet_cifar_nano").train()
    assert forward_ms(model, batch=4, repeats=1) > 0
    attention = create_model("vit_cifar_nano").blocks[0].attn
    assert forward_ms(attention, inputs=torch.randn(2, 65, 64), repeats=1) > 0
    with pytest.raises(ValueError, match="needs a batch size or the inputs"):
        forward_ms(model)
    assert model.training  # forward_ms measured in eval mode and gave the mode back
    assert train_images_per_s(create_model("vit_cifar_nano"), "cpu", batch=4, steps=1) > 0
    assert count_parameters(model) == 78_042


def test_peak_is_unknown_on_the_cpu_unless_set(monkeypatch):
    monkeypatch.delenv("COURSE_PEAK_TFLOPS", raising=False)
    assert bf16_peak_tflops("cpu") is None
    monkeypatch.setenv("COURSE_PEAK_TFLOPS", "123.5")
    assert bf16_peak_tflops(torch.device("cpu")) == 123.5


def test_measuring_leaves_the_global_random_state_alone():
    model = create_model("vit_cifar_nano")
    before = torch.get_rng_state()
    forward_flops(model)
    forward_ms(model, batch=2, repeats=1)
    train_images_per_s(model, "cpu", batch=2, steps=1)
    assert torch.equal(torch.get_rng_state(), before)
