"""The AlterNet-style hybrid of notebook 10: ResNet stages, then transformer blocks on the last
stage's map."""

import pytest
import torch
from torch.testing import assert_close

from course_lib.models import AlterNetCifar, create_model


def test_registered_sizes_have_the_documented_shapes_and_sizes():
    nano = create_model("alternet_cifar_nano", num_classes=7).eval()
    tiny = create_model("alternet_cifar_tiny")
    assert sum(p.numel() for p in nano.parameters()) == 132_055
    assert sum(p.numel() for p in tiny.parameters()) == 2_403_658
    assert nano.grid_size == 8 and nano.num_features == 64 and len(nano.blocks) == 1
    with torch.no_grad():
        assert nano(torch.randn(2, 3, 32, 32)).shape == (2, 7)
        assert nano.forward_features(torch.randn(2, 3, 32, 32)).shape == (2, 64, 64)


def test_the_last_stage_map_becomes_tokens_in_raster_order():
    torch.manual_seed(0)
    model = AlterNetCifar(num_classes=3, widths=(4, 8), depths=(1, 1), img_size=8).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        fmap = model.stages(model.stem(x))  # (2, 8, 4, 4)
        tokens = torch.stack([fmap[:, :, i, j] for i in range(4) for j in range(4)], dim=1)
        expected = model.head(model.norm(model.blocks(tokens + model.pos_embed)).mean(dim=1))
        assert_close(model(x), expected)


def test_the_convolutional_part_is_the_resnets():
    torch.manual_seed(0)
    model = create_model("alternet_cifar_nano")
    resnet = create_model("resnet_cifar_nano")
    names = {n for n, _ in model.named_parameters() if n.startswith(("stem.", "stages."))}
    assert names == {n for n, _ in resnet.named_parameters() if not n.startswith("head.")}
    assert model.no_weight_decay() == {"pos_embed"}


def test_every_parameter_gets_a_gradient():
    model = create_model("alternet_cifar_nano", num_classes=4)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_bad_settings_and_inputs_fail_clearly():
    with pytest.raises(ValueError, match="msa_blocks"):
        AlterNetCifar(msa_blocks=0)
    with pytest.raises(ValueError, match="not divisible by 4"):
        AlterNetCifar(img_size=30)
    model = create_model("alternet_cifar_nano")
    with pytest.raises(ValueError, match="Expected 3 channels"):
        model(torch.randn(1, 1, 32, 32))
