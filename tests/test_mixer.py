"""MLP-Mixer: the block is the two MLPs of its definition, its sizes are fixed by the patches,
and its errors name what to change."""

import math

import pytest
import torch
from torch import nn

from course_lib.models import MlpMixer, create_model
from course_lib.models.mixer import MixerBlock


def test_a_mixer_block_is_token_mixing_then_channel_mixing():
    torch.manual_seed(0)
    block = MixerBlock(dim=8, seq_len=6, mlp_ratio=(0.5, 4.0)).eval()
    x = torch.randn(2, 6, 8)

    def mlp(m, v):  # fc2(gelu(fc1(v)))
        return m.fc2(nn.functional.gelu(m.fc1(v)))

    with torch.no_grad():
        mixed = x + mlp(block.mlp_tokens, block.norm1(x).transpose(1, 2)).transpose(1, 2)
        expected = mixed + mlp(block.mlp_channels, block.norm2(mixed))
        torch.testing.assert_close(block(x), expected)
    # token mixing: N -> D/2 -> N, shared by every channel; channel mixing: D -> 4D -> D
    assert block.mlp_tokens.fc1.weight.shape == (4, 6)
    assert block.mlp_channels.fc1.weight.shape == (32, 8)


def test_token_mixing_moves_information_between_positions_and_nothing_else_does():
    torch.manual_seed(0)
    block = MixerBlock(dim=8, seq_len=6).eval()
    with torch.no_grad():
        block.mlp_tokens.fc2.weight.zero_()
        block.mlp_tokens.fc2.bias.zero_()
        x = torch.randn(1, 6, 8)
        y = x.clone()
        y[0, 3] += 1.0  # change one token
        changed = (block(x) - block(y)).abs().sum(-1)[0]
    assert (changed[[0, 1, 2, 4, 5]] == 0).all() and changed[3] > 0


def test_parameters_follow_the_formula_and_the_loss_starts_at_ln_classes():
    model = create_model("mixer_cifar_nano")
    d, n, blocks = 64, 64, 4
    per_block = 2 * 2 * d + (n * d // 2 + d // 2 + d // 2 * n + n) + (d * 4 * d * 2 + 4 * d + d)
    expected = (48 * d + d) + blocks * per_block + 2 * d + (d * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == expected
    with torch.no_grad():
        loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.arange(4))
    assert loss.item() == pytest.approx(math.log(10), abs=1e-6)  # the head starts at zero


def test_wrong_sizes_are_refused_with_what_to_change():
    with pytest.raises(ValueError, match="not divisible by the patch size"):
        MlpMixer(img_size=30, patch_size=4)
    model = create_model("mixer_cifar_nano")
    with pytest.raises(ValueError, match="32") as error:
        model(torch.randn(1, 3, 64, 64))
    assert "number of patches" in str(error.value)
