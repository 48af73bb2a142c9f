"""Residual-block variants (notebook 07) and the branch-ratio analysis."""

import pytest
import torch
from torch import nn

from course_lib.analysis.residual import residual_branch_ratios
from course_lib.models import create_model
from course_lib.models.layers import LayerScale
from course_lib.models.residual import (
    RESIDUAL_VARIANTS,
    ScalarScale,
    layerscale_init,
    residual_variant_vit,
)


def test_layerscale_init_follows_cait():
    assert [layerscale_init(d) for d in (6, 18, 24, 36)] == [0.1, 0.1, 1e-5, 1e-6]


@pytest.mark.parametrize("variant", RESIDUAL_VARIANTS)
def test_each_variant_builds_the_block_it_names(variant):
    model = residual_variant_vit(variant, depth=3)
    block = model.blocks[0]
    has_norm = isinstance(block.norm1, nn.LayerNorm)
    assert has_norm == (variant not in ("rezero", "fixup"))
    scale = {"prenorm": nn.Identity, "layerscale": LayerScale}.get(variant, ScalarScale)
    assert isinstance(block.ls1, scale) and isinstance(block.ls2, scale)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_rezero_starts_as_the_identity_and_ratios_follow_the_scale():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    rezero = residual_branch_ratios(residual_variant_vit("rezero", depth=3), x)
    assert rezero["attn"] == [0.0] * 3 and rezero["mlp"] == [0.0] * 3
    torch.manual_seed(0)
    plain = residual_branch_ratios(residual_variant_vit("prenorm", depth=3), x)
    torch.manual_seed(0)
    scaled = residual_branch_ratios(residual_variant_vit("layerscale", depth=3, init=0.1), x)
    # The first attention branch sees the same input in both: LayerScale divides it by 10.
    assert scaled["attn"][0] == pytest.approx(0.1 * plain["attn"][0], rel=1e-4)


def test_ratios_work_for_cait_and_unknown_variants_fail():
    ratios = residual_branch_ratios(create_model("cait_cifar_nano"), torch.randn(2, 3, 32, 32))
    assert len(ratios["attn"]) == 4 and all(r > 0 for r in ratios["mlp"])
    with pytest.raises(ValueError, match="Unknown residual variant 'postnorm'"):
        residual_variant_vit("postnorm", depth=2)
