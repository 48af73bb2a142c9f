"""Park & Kim's Fourier analysis (notebook 10): block outputs as 2-D maps for every course model,
the relative log amplitude against hand-computed spectra, band-limited noise that stays in its
band, and accuracy under that noise."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from course_lib.analysis.spectral import (
    accuracy_under_band_noise,
    band_noise,
    feature_map_variance,
    feature_maps,
    frequencies,
    high_frequency_change,
    relative_log_amplitude,
)
from course_lib.models import create_model

TRANSFORMERS = [
    ("vit_cifar_nano", {}),
    ("deit_cifar_nano_distilled", {}),
    ("cait_cifar_nano", {}),
    ("convit_cifar_nano", {"local_up_to_layer": 1}),
]


def _images(n: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name,overrides", TRANSFORMERS, ids=[n for n, _ in TRANSFORMERS])
def test_transformer_blocks_become_patch_grids(name, overrides):
    model = create_model(name, depth=2, **overrides).train()
    maps = feature_maps(model, _images(), include_embedding=True)
    assert [tuple(m.shape) for m in maps] == [(2, 64, 8, 8)] * 3
    assert model.training  # the mode is restored


def test_vit_maps_are_the_patch_tokens_on_their_grid():
    model = create_model("vit_cifar_nano", depth=2).eval()
    x = _images()
    with torch.no_grad():
        tokens = model.blocks(model.tokens(x))  # (B, 1 + 64, D)
    last = feature_maps(model, x)[-1]
    # Patch (row r, column c) is token 1 + 8 r + c: raster order after the class token.
    assert_close(last[:, :, 2, 5], tokens[:, 1 + 8 * 2 + 5])
    assert_close(last, tokens[:, 1:].transpose(1, 2).reshape(2, 64, 8, 8))


def test_resnet_maps_are_the_basic_block_outputs():
    model = create_model("resnet_cifar_nano")
    maps = feature_maps(model, _images(), include_embedding=True)
    shapes = [(2, 16, 32, 32), (2, 16, 32, 32), (2, 32, 16, 16), (2, 64, 8, 8)]
    assert [tuple(m.shape) for m in maps] == shapes
    with torch.no_grad():
        assert_close(maps[-1], model.eval().forward_features(_images()))


def test_unknown_models_fail_clearly():
    with pytest.raises(ValueError, match="course transformer .* or a ResNet"):
        feature_maps(nn.Sequential(nn.Conv2d(3, 4, 3)), _images())


def test_frequencies_run_from_zero_to_pi():
    assert frequencies(8).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(frequencies(7)) == 4 and frequencies(7)[-1] < 1


def test_a_checkerboard_has_all_its_amplitude_at_the_highest_frequency():
    rows, cols = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    checkerboard = ((-1.0) ** (rows + cols))[None, None]  # only the (pi, pi) frequency
    rla = relative_log_amplitude(checkerboard)
    assert rla.shape == (5,)
    assert rla[:-1].tolist() == [0.0] * 4  # nothing at frequencies 0 ... 3pi/4
    assert rla[-1].item() == pytest.approx(torch.log(torch.tensor(64 + 1e-6) / 1e-6).item())


@pytest.mark.parametrize("size", [8, 7])
def test_relative_log_amplitude_equals_the_unshifted_diagonal(size):
    # For real maps |F(k, k)| = |F(-k, -k)|, so the half diagonal of the shifted spectrum equals
    # the first size // 2 + 1 diagonal entries of the unshifted one.
    fmap = torch.randn(3, 4, size, size, generator=torch.Generator().manual_seed(size))
    log_amplitude = torch.log(torch.fft.fft2(fmap).abs() + 1e-6).mean(dim=(0, 1))
    expected = log_amplitude.diagonal()[: size // 2 + 1]
    assert_close(relative_log_amplitude(fmap), expected - expected[0], atol=1e-5, rtol=1e-5)


def test_blurring_lowers_and_sharpening_raises_the_high_frequencies():
    noise = torch.randn(4, 8, 16, 16, generator=torch.Generator().manual_seed(0))
    blurred = F.avg_pool2d(noise, 3, stride=1, padding=1, count_include_pad=False)
    sharpened = noise - blurred
    high = [relative_log_amplitude(m)[-1].item() for m in (blurred, noise, sharpened)]
    assert high[0] < high[1] - 1 and high[2] > high[1] + 1


def test_high_frequency_change_and_variance_give_one_number_per_block():
    model = create_model("vit_cifar_nano", depth=2)
    x = _images()
    for values in (high_frequency_change(model, x), feature_map_variance(model, x)):
        assert len(values) == 2 and all(isinstance(v, float) for v in values)
    assert len(high_frequency_change(model, x, include_embedding=True)) == 3
    assert all(v > 0 for v in feature_map_variance(model, x))


def test_square_maps_are_required():
    with pytest.raises(ValueError, match=r"square feature maps \(B, C, H, H\)"):
        relative_log_amplitude(torch.zeros(2, 64, 65))


@pytest.mark.parametrize("band", [(0.0, 0.3), (0.3, 0.7), (0.7, 1.5)])
def test_band_noise_stays_in_its_band_with_the_given_norm(band):
    noise = band_noise((3, 2, 16, 16), band, norm=2.5, generator=torch.Generator().manual_seed(0))
    assert_close(noise.flatten(1).norm(dim=1), torch.full((3,), 2.5))
    fy = torch.fft.fftfreq(16) * 2
    radius = (fy[:, None] ** 2 + fy[None, :] ** 2).sqrt()
    outside = (radius < band[0]) | (radius >= band[1])
    power = torch.fft.fft2(noise).abs() ** 2
    assert power[..., outside].sum() < 1e-8 * power.sum()
    again = band_noise((3, 2, 16, 16), band, norm=2.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noise, again)


def test_bands_must_be_ordered_and_hold_a_frequency():
    with pytest.raises(ValueError, match="0 <= low < high"):
        band_noise((1, 1, 8, 8), (0.5, 0.2), 1.0)
    with pytest.raises(ValueError, match="holds no frequency"):
        band_noise((1, 1, 8, 8), (1.5, 2.0), 1.0)


def test_accuracy_under_band_noise():
    x, labels = _images(12), torch.arange(12) % 10
    model = create_model("resnet_cifar_nano").eval()
    with torch.no_grad():
        clean = (model(x).argmax(dim=-1) == labels).float().mean().item()
    bands = [(0.0, 0.5), (0.5, 1.5)]
    assert accuracy_under_band_noise(model, x, labels, bands, norm=0.0) == {b: clean for b in bands}
    noisy = accuracy_under_band_noise(model, x, labels, bands, norm=20.0, seed=1, batch_size=5)
    assert list(noisy) == bands and all(0 <= a <= 1 for a in noisy.values())
    assert noisy == accuracy_under_band_noise(model, x, labels, bands, norm=20.0, seed=1)
    with pytest.raises(ValueError, match="normalised float images"):
        accuracy_under_band_noise(model, x.to(torch.uint8), labels, bands, norm=1.0)
