"""What each block does to the frequencies of its feature maps (notebook 10, Park & Kim, 2022).

Every block's output is seen as a stack of 2-D maps ``(B, C, H, W)``: a ResNet's feature maps
as they are, a transformer's patch tokens put back on their ``g x g`` grid. Park & Kim's Fourier
analysis measures how much high-frequency amplitude each map keeps relative to its mean
(frequency 0): multi-head self-attention lowers it (a low-pass filter), convolutions raise it
(a high-pass filter). :func:`accuracy_under_band_noise` tests the same claim from the outside:
a model that relies on high frequencies suffers most from high-frequency noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from course_lib.measure import eval_mode
from course_lib.models.stems import BasicBlock
from course_lib.train.engine import predict_classes


def _is_transformer(model: nn.Module) -> bool:
    return hasattr(model, "blocks") and hasattr(getattr(model, "patch_embed", None), "grid_size")


def _tokens_to_map(tokens: torch.Tensor, grid_size: int) -> torch.Tensor:
    """Tokens ``(B, T, D)`` -> patch tokens on their grid ``(B, D, g, g)``; the first
    ``T - g*g`` tokens (class / distillation tokens) are dropped."""
    if tokens.ndim != 3:
        raise ValueError(f"Expected block outputs (B, T, D), got shape {tuple(tokens.shape)}.")
    b, t, d = tokens.shape
    prefix = t - grid_size**2
    if prefix < 0:
        raise ValueError(
            f"A block returned {t} tokens, fewer than the {grid_size}x{grid_size} patch grid."
        )
    return tokens[:, prefix:].transpose(1, 2).reshape(b, d, grid_size, grid_size)


@torch.no_grad()
def feature_maps(
    model: nn.Module, images: torch.Tensor, include_embedding: bool = False
) -> list[torch.Tensor]:
    """The output of every block as a 2-D map ``(B, C, H, W)``, in forward order, on the CPU in
    float32 (``model`` runs once on ``images`` ``(B, 3, H, W)``, in eval mode, on its device).

    - Transformers (models with ``.blocks`` and ``.patch_embed.grid_size``: ViT, DeiT, CaiT's
      self-attention stage, ConViT): each block's tokens ``(B, T, D)`` lose their prefix tokens
      (``T - g*g`` of them: 0 in ConViT's GPSA blocks, 1 or 2 elsewhere) and the patch tokens are
      reshaped to ``(B, D, g, g)``. CaiT's class-attention blocks update only the class token and
      have no map.
    - ResNets (models made of :class:`~course_lib.models.cnn.BasicBlock`): every residual block's
      output, ``(B, C, H, W)`` already.

    ``include_embedding`` puts the embedding first: a transformer's first block input (patch
    embeddings plus position embeddings), a ResNet's ``stem`` output.
    """
    if _is_transformer(model):
        grid = model.patch_embed.grid_size
        blocks = list(model.blocks)

        def to_map(x: torch.Tensor) -> torch.Tensor:
            return _tokens_to_map(x, grid)
    else:
        blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
        if not blocks:
            raise ValueError(
                f"feature_maps expects a course transformer (with .blocks and "
                f".patch_embed.grid_size) or a ResNet made of BasicBlocks; got "
                f"{type(model).__name__}."
            )

        def to_map(x: torch.Tensor) -> torch.Tensor:
            return x

    maps: list[torch.Tensor] = []

    def keep(x: torch.Tensor) -> None:
        maps.append(to_map(x.detach()).to("cpu", torch.float32, copy=True))

    handles = []
    if include_embedding:
        if _is_transformer(model):
            hook = blocks[0].register_forward_pre_hook(lambda module, args: keep(args[0]))
        elif isinstance(getattr(model, "stem", None), nn.Module):
            hook = model.stem.register_forward_hook(lambda module, args, out: keep(out))
        else:
            raise ValueError(
                f"{type(model).__name__} has no .stem to take the embedding from; "
                "use include_embedding=False."
            )
        handles.append(hook)
    handles += [b.register_forward_hook(lambda module, args, out: keep(out)) for b in blocks]
    try:
        with eval_mode(model):
            model(images.to(next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    return maps


def frequencies(size: int) -> torch.Tensor:
    """The frequencies of :func:`relative_log_amplitude`'s entries for ``size x size`` maps, in
    units of pi (radians per pixel along each axis): ``2k / size`` for ``k = 0 ... size // 2``,
    i.e. ``0 ... 1`` for even sizes (``1``: the Nyquist frequency, a pixel-wise alternation)."""
    return torch.arange(size // 2 + 1, dtype=torch.float32) * 2 / size


def relative_log_amplitude(fmap: torch.Tensor) -> torch.Tensor:
    """Park & Kim's Fourier analysis of feature maps ``(B, C, H, H)``: ``(H // 2 + 1,)``.

    Each channel's 2-D FFT gives a log amplitude ``log(|F| + 1e-6)``; with the zero frequency
    shifted to the centre it is averaged over images and channels, and read along the half
    diagonal from the centre (frequency 0) to the corner (frequency pi on both axes, see
    :func:`frequencies`). The value at frequency 0 is subtracted, so the first entry is 0 and
    the last says how much weaker (negative) the highest frequency is than the mean.
    """
    if fmap.ndim != 4 or fmap.shape[-1] != fmap.shape[-2]:
        raise ValueError(
            f"Expected square feature maps (B, C, H, H), got shape {tuple(fmap.shape)}; "
            "transformer tokens must be put on their grid first (feature_maps does this)."
        )
    log_amplitude = torch.log(torch.fft.fft2(fmap.float()).abs() + 1e-6)
    centred = torch.fft.fftshift(log_amplitude, dim=(-2, -1)).mean(dim=(0, 1))  # (H, H)
    centre = fmap.shape[-1] // 2  # where fftshift puts frequency 0
    half_diagonal = centred.diagonal()[: centre + 1].flip(0)  # centre -> corner (0, 0)
    return half_diagonal - half_diagonal[0]


def high_frequency_change(
    model: nn.Module, images: torch.Tensor, include_embedding: bool = False
) -> list[float]:
    """Per block (in forward order), the relative log amplitude at the highest frequency: the
    last entry of :func:`relative_log_amplitude` of its :func:`feature_maps`. Plotted against
    depth, a block that lowers it acts as a low-pass filter (MSA), one that raises it as a
    high-pass filter (convolutions)."""
    maps = feature_maps(model, images, include_embedding)
    return [relative_log_amplitude(m)[-1].item() for m in maps]


def feature_map_variance(
    model: nn.Module, images: torch.Tensor, include_embedding: bool = False
) -> list[float]:
    """Per block, the variance of its feature map's values over channels and positions, averaged
    over the images (Park & Kim: MSAs reduce it, convolutions and MLPs increase it)."""
    maps = feature_maps(model, images, include_embedding)
    return [m.flatten(1).var(dim=1).mean().item() for m in maps]


def band_noise(
    shape: Sequence[int],
    band: tuple[float, float],
    norm: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Gaussian noise ``(B, C, H, W)`` whose spectrum lies in a frequency band.

    White noise is drawn (on ``generator``'s device, the CPU without one), its 2-D FFT is kept
    only at frequencies whose radius ``sqrt(fx^2 + fy^2)`` lies in ``[band[0], band[1])``, and
    the real part of the inverse FFT is rescaled so that each image's noise has L2 norm ``norm``.
    Frequencies are normalised per axis: 0 is the mean (DC), 1 the Nyquist frequency along an
    axis (a pixel-wise alternation); the corners reach ``sqrt(2)``, so ``(0.5, 1.5)`` holds all
    the high frequencies.
    """
    if len(shape) != 4:
        raise ValueError(f"Expected a shape (B, C, H, W), got {tuple(shape)}.")
    low, high = band
    if not 0 <= low < high:
        raise ValueError(f"A band is (low, high) with 0 <= low < high, got {band}.")
    device = generator.device if generator is not None else None
    white = torch.randn(tuple(shape), generator=generator, device=device)
    h, w = shape[-2:]
    fy = torch.fft.fftfreq(h, device=white.device) * 2  # in units of the Nyquist frequency
    fx = torch.fft.fftfreq(w, device=white.device) * 2
    radius = (fy[:, None] ** 2 + fx[None, :] ** 2).sqrt()
    mask = (radius >= low) & (radius < high)
    if not mask.any():
        raise ValueError(
            f"The band {band} holds no frequency of a {h}x{w} image (they lie on steps of "
            f"{2 / max(h, w):.3f}); widen it."
        )
    noise = torch.fft.ifft2(torch.fft.fft2(white) * mask).real
    scale = norm / noise.flatten(1).norm(dim=1).clamp_min(1e-12)
    return noise * scale.view(-1, 1, 1, 1)


@torch.no_grad()
def accuracy_under_band_noise(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    bands: Sequence[tuple[float, float]],
    norm: float,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[tuple[float, float], float]:
    """Top-1 accuracy (in [0, 1]) of ``model`` on ``images + noise`` for each frequency band.

    ``images``: normalised float images ``(N, C, H, W)`` (the model's input scale; ``norm`` is
    measured in those units, per image); ``labels``: ``(N,)``. The noise comes from
    :func:`band_noise` with the same seed for every band, so bands differ only in which
    frequencies of one white-noise draw are kept. ``norm=0`` gives the clean accuracy.
    Returns ``{band: accuracy}``.
    """
    if not images.is_floating_point():
        raise ValueError(
            f"Expected normalised float images, got {images.dtype}; convert uint8 images with "
            "course_lib.data.normalize first."
        )
    device = next(model.parameters()).device
    results: dict[tuple[float, float], float] = {}
    with eval_mode(model):
        for band in bands:
            generator = torch.Generator().manual_seed(seed)
            noise = band_noise(images.shape, band, norm, generator)
            predictions = predict_classes(model, images.cpu() + noise, batch_size, device)
            results[(float(band[0]), float(band[1]))] = (
                (predictions == labels.cpu()).float().mean().item()
            )
    return results
