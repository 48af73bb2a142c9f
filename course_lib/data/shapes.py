"""``shapes``: the course's embedded dataset, 10 classes of 32x32 RGB images made in memory.

Every image holds two small textured *parts* (squares or discs filled with **stripes**, **checks**
or **dots**) on a colour-gradient background with untextured clutter. The class is the pair of
textures *and* their arrangement::

    stripes left of checks   checks left of stripes   stripes above checks   checks above stripes
    stripes left of dots     dots left of stripes     stripes above dots     dots above stripes
    checks left of dots      dots left of checks

So a classifier needs two kinds of evidence. *Local*: which texture fills a part (a 3x3 window
inside a part tells stripes from checks from dots). *Global*: where the two parts sit relative to
each other: "stripes left of checks" and "checks left of stripes" have the same local content and
differ only in arrangement. Positions, sizes, colours, stripe orientation, periods and clutter all
vary, so neither a pixel template nor a colour histogram solves it.

Geometry is part of the label: a horizontal flip turns "left of" into "right of" (and a vertical
flip "above" into "below"). Never flip these images; ``ImageDataset.flip_safe`` is ``False``.

Generation is vectorised over chunks of images with a private ``torch.Generator`` per chunk, so
image ``k`` depends only on ``(seed, k)``: ``make_shapes(100)`` is a prefix of
``make_shapes(1000)``, and labels cycle through the classes, so every prefix is balanced.
"""

from __future__ import annotations

import math

import torch

TEXTURES = ("stripes", "checks", "dots")

# (first texture, second texture, axis): the first part is left of (axis 0) or above (axis 1)
# the second one.
_CLASS_LAYOUT = (
    (0, 1, 0),
    (1, 0, 0),
    (0, 1, 1),
    (1, 0, 1),
    (0, 2, 0),
    (2, 0, 0),
    (0, 2, 1),
    (2, 0, 1),
    (1, 2, 0),
    (2, 1, 0),
)
SHAPES_CLASSES: tuple[str, ...] = tuple(
    f"{TEXTURES[a]} {'left of' if axis == 0 else 'above'} {TEXTURES[b]}"
    for a, b, axis in _CLASS_LAYOUT
)

_CHUNK = 1024
_EDGE = 0.35  # softness of edges in pixels: smooth enough to look drawn, sharp enough to read


def make_shapes(n: int, seed: int = 0, image_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``n`` images of the ``shapes`` dataset.

    Returns images as uint8 ``(n, 3, image_size, image_size)`` and labels as int64 ``(n,)``, with
    label ``k % 10`` for image ``k`` (balanced; the loader shuffles). Deterministic in
    ``(seed, k)``; about 10,000 images per second on one CPU core.
    """
    if n < 1:
        raise ValueError(f"n must be a positive number of images, got {n}.")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}.")
    labels = torch.arange(n, dtype=torch.int64) % len(SHAPES_CLASSES)
    images = torch.empty((n, 3, image_size, image_size), dtype=torch.uint8)
    for chunk, start in enumerate(range(0, n, _CHUNK)):
        stop = min(n, start + _CHUNK)
        generator = torch.Generator().manual_seed((seed * 1_000_003 + chunk) % 2**63)
        # A chunk always draws parameters for _CHUNK images so image k does not depend on n.
        full = _render(labels_for_chunk(chunk), image_size, generator)
        images[start:stop] = full[: stop - start]
    return images, labels


def labels_for_chunk(chunk: int) -> torch.Tensor:
    """Labels of images ``chunk * 1024 ... chunk * 1024 + 1023``, ``(1024,)``."""
    return (torch.arange(_CHUNK) + chunk * _CHUNK) % len(SHAPES_CLASSES)


def _uniform(generator: torch.Generator, n: int, low: float, high: float, *shape: int):
    return low + (high - low) * torch.rand((n, *shape), generator=generator)


def _render(labels: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """Draw one chunk: labels ``(M,)`` -> uint8 images ``(M, 3, size, size)``."""
    m = labels.shape[0]
    layout = torch.tensor(_CLASS_LAYOUT)[labels]  # (M, 3): texture a, texture b, axis
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    ys, xs = coords[None, :, None], coords[None, None, :]  # broadcast to (M, H, W)

    image = _background(m, xs, ys, size, g)
    image = _clutter(image, xs, ys, size, g, count=3, small=False)
    centres = _place_parts(layout[:, 2], size, g)
    for part in range(2):
        cx, cy, half = centres[part]
        texture = layout[:, part]
        mask = _part_mask(xs - cx[:, None, None], ys - cy[:, None, None], half, g)
        pattern = _texture(texture, xs - cx[:, None, None], ys - cy[:, None, None], g)
        light = _uniform(g, m, 0.55, 1.0, 3)
        dark = _uniform(g, m, 0.0, 0.4, 3)
        # Half of the parts draw their texture dark on light, half light on dark.
        swap = (torch.rand(m, generator=g) < 0.5)[:, None, None, None]
        ink, paper = light[:, :, None, None], dark[:, :, None, None]
        ink, paper = torch.where(swap, paper, ink), torch.where(swap, ink, paper)
        colour = paper + (ink - paper) * pattern[:, None]
        image = image * (1 - mask[:, None]) + colour * mask[:, None]
    image = _clutter(image, xs, ys, size, g, count=1, small=True)
    image = image + 0.03 * torch.randn(image.shape, generator=g)
    return (image.clamp(0, 1) * 255).round().to(torch.uint8)


def _background(m: int, xs, ys, size: int, g: torch.Generator) -> torch.Tensor:
    """A linear gradient between two mid-range colours in a random direction, ``(M, 3, H, W)``."""
    start, end = _uniform(g, m, 0.15, 0.85, 3), _uniform(g, m, 0.15, 0.85, 3)
    angle = _uniform(g, m, 0, 2 * math.pi)
    t = (xs - size / 2) * torch.cos(angle)[:, None, None] + (ys - size / 2) * torch.sin(angle)[
        :, None, None
    ]
    t = (t / size + 0.5).clamp(0, 1)  # (M, H, W)
    return start[:, :, None, None] + (end - start)[:, :, None, None] * t[:, None]


def _clutter(image, xs, ys, size: int, g: torch.Generator, count: int, small: bool):
    """Paint ``count`` solid (untextured) rectangles of random colour and size on each image."""
    m = image.shape[0]
    for _ in range(count):
        high = 3.0 if small else 9.0
        w, h = _uniform(g, m, 1.0, high), _uniform(g, m, 1.0, high)
        x0, y0 = _uniform(g, m, -2, size - 1), _uniform(g, m, -2, size - 1)
        colour = _uniform(g, m, 0, 1, 3)
        inside = (
            (xs >= x0[:, None, None])
            & (xs <= (x0 + w)[:, None, None])
            & (ys >= y0[:, None, None])
            & (ys <= (y0 + h)[:, None, None])
        ).float()
        image = image * (1 - inside[:, None]) + colour[:, :, None, None] * inside[:, None]
    return image


def _place_parts(axis: torch.Tensor, size: int, g: torch.Generator):
    """Centres and half-sizes of the two parts: part 0 before part 1 along ``axis`` (0: x,
    1: y) with a gap of 1-4 pixels; both roughly aligned on the other axis.

    Returns ``[(cx, cy, half), (cx, cy, half)]``, each ``(M,)``.
    """
    m = axis.shape[0]
    scale = size / 32
    half = [_uniform(g, m, 4.0, 6.0) * scale, _uniform(g, m, 4.0, 6.0) * scale]
    gap = _uniform(g, m, 1.0, 4.0) * scale
    span = 2 * half[0] + gap + 2 * half[1]
    margin = 1.0
    start = margin + torch.rand(m, generator=g) * (size - 2 * margin - span).clamp_min(0)
    along = [start + half[0], start + 2 * half[0] + gap + half[1]]
    largest = torch.maximum(half[0], half[1])
    low, high = margin + largest + 2, size - margin - largest - 2
    across_centre = low + torch.rand(m, generator=g) * (high - low)
    across = [across_centre + _uniform(g, m, -2.0, 2.0) for _ in range(2)]
    horizontal = axis == 0
    return [
        (
            torch.where(horizontal, along[p], across[p]),
            torch.where(horizontal, across[p], along[p]),
            half[p],
        )
        for p in range(2)
    ]


def _part_mask(dx, dy, half, g: torch.Generator) -> torch.Tensor:
    """Soft mask of a square (half side ``half``) or a disc of equal area, ``(M, H, W)``."""
    m = dx.shape[0]
    disc = (torch.rand(m, generator=g) < 0.5)[:, None, None]
    h = half[:, None, None]
    square_dist = torch.maximum(dx.abs(), dy.abs()) - h
    disc_dist = torch.sqrt(dx**2 + dy**2) - h * 1.13  # a disc with the square's area
    dist = torch.where(disc, disc_dist, square_dist)
    return torch.sigmoid(-dist / _EDGE)


def _texture(kind: torch.Tensor, dx, dy, g: torch.Generator) -> torch.Tensor:
    """Texture intensity in [0, 1], ``(M, H, W)``: stripes (any orientation, period 2.5-4 px),
    checks (cells of 1.6-2.6 px) or dots (radius ~1 px on a 3-4 px grid), random phases."""
    m = dx.shape[0]

    def per_image(t: torch.Tensor) -> torch.Tensor:
        return t[:, None, None]

    period = per_image(_uniform(g, m, 2.5, 4.0))
    angle = per_image(_uniform(g, m, 0, math.pi))
    phase = per_image(_uniform(g, m, 0, 1))
    u = dx * torch.cos(angle) + dy * torch.sin(angle)
    stripes = torch.sigmoid(4 * torch.sin(2 * math.pi * (u / period + phase)))

    cell = per_image(_uniform(g, m, 1.6, 2.6))
    px, py = per_image(_uniform(g, m, 0, 1)), per_image(_uniform(g, m, 0, 1))
    wave = torch.sin(math.pi * (dx / cell + px)) * torch.sin(math.pi * (dy / cell + py))
    checks = torch.sigmoid(8 * wave)

    grid = per_image(_uniform(g, m, 3.0, 4.0))
    radius = per_image(_uniform(g, m, 0.8, 1.2))
    ox, oy = per_image(_uniform(g, m, 0, 1)), per_image(_uniform(g, m, 0, 1))
    gx = torch.remainder(dx / grid + ox, 1.0) - 0.5
    gy = torch.remainder(dy / grid + oy, 1.0) - 0.5
    dots = torch.sigmoid((radius - grid * torch.sqrt(gx**2 + gy**2)) / _EDGE)

    kind = per_image(kind)
    return torch.where(kind == 0, stripes, torch.where(kind == 1, checks, dots))
