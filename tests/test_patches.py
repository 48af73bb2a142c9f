"""patchify / unpatchify: shapes, order, inverse, and the link to PatchEmbed (notebook 01)."""

import pytest
import torch
from torch import nn

from course_lib.models.layers import PatchEmbed, patchify, unpatchify


@pytest.mark.parametrize(
    ("size", "patch", "tokens"), [(224, 16, 196), (32, 4, 64), (128, 16, 64), (28, 7, 16)]
)
def test_patch_counts(size, patch, tokens):
    patches = patchify(torch.zeros(2, 3, size, size), patch)
    assert patches.shape == (2, tokens, patch * patch * 3)


def test_raster_order_and_pixel_layout():
    # Each pixel holds its own (channel, row, column) code, so every number says where it came
    # from.
    c, h, w, p = 2, 4, 6, 2
    codes = torch.arange(c * h * w).reshape(1, c, h, w)
    patches = patchify(codes, p)  # (1, 6, 8)
    assert patches.shape == (1, (h // p) * (w // p), p * p * c)
    # Patch 1 is the second patch of the first row: rows 0-1, columns 2-3.
    expected = codes[0, :, 0:2, 2:4].permute(1, 2, 0).flatten()  # (P, P, C) layout
    assert torch.equal(patches[0, 1], expected)
    # Patch 3 starts the second row of patches: rows 2-3, columns 0-1.
    assert torch.equal(patches[0, 3], codes[0, :, 2:4, 0:2].permute(1, 2, 0).flatten())


def test_unpatchify_inverts_patchify_for_any_dtype():
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(unpatchify(patchify(images, 4), 4), images)
    rect = torch.randn(2, 3, 8, 12)
    assert torch.equal(unpatchify(patchify(rect, 4), 4, grid_size=(2, 3)), rect)


def test_flatten_plus_linear_equals_patch_embed():
    torch.manual_seed(0)
    p, d = 4, 16
    linear = nn.Linear(p * p * 3, d)
    embed = PatchEmbed(img_size=32, patch_size=p, in_chans=3, embed_dim=d)
    with torch.no_grad():
        embed.proj.weight.copy_(linear.weight.reshape(d, p, p, 3).permute(0, 3, 1, 2))
        embed.proj.bias.copy_(linear.bias)
        x = torch.randn(2, 3, 32, 32)
        torch.testing.assert_close(linear(patchify(x, p)), embed(x))


def test_errors_are_clear():
    with pytest.raises(ValueError, match="not divisible by the patch size 5"):
        patchify(torch.zeros(1, 3, 32, 32), 5)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        patchify(torch.zeros(3, 32, 32), 4)
    with pytest.raises(ValueError, match="square grid"):
        unpatchify(torch.zeros(1, 6, 48), 4)
    with pytest.raises(ValueError, match="grid_size"):
        unpatchify(torch.zeros(1, 6, 48), 4, grid_size=(2, 2))
