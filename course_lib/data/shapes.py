"""``shapes``: the course's embedded dataset, 10 classes of 32x32 RGB images made in memory.

Every image holds two textured *parts* (a square or a disc, 8-12 pixels across, filled with
**stripes**, **checks** or **dots** in two contrasting colours) on a colour-gradient background,
with solid (untextured) rectangles and strokes as clutter, and mild pixel noise. The class is the
pair of textures *and* their arrangement::

    0 stripes left of checks    1 checks left of stripes    2 stripes above checks
    3 checks above stripes      4 stripes left of dots      5 dots left of stripes
    6 stripes above dots        7 dots above stripes        8 checks left of dots
    9 dots left of checks

So a classifier needs two kinds of evidence. *Local*: which texture fills a part; a window of a
few pixels inside a part tells stripes from checks from dots, while the clutter, the part
outlines and the background gradient offer edges and colour that do not. *Global*: where the two
parts sit relative to each other. "stripes left of checks" and "checks left of stripes" hold the
same local content and differ only in arrangement; "stripes left of checks" and "stripes left of
dots" differ only in one texture. A model that sees *which* textures are present but not
*where* (a bag of patches, such as a ViT whose position embeddings have not learned anything yet)
can reach at most 30%. The parts need not touch or line up (the named axis dominates: a "left of"
pair is at least twice as far apart horizontally as vertically), the pair's midpoint moves up to
4 pixels from the image centre, and sizes, shapes, colours, stripe orientation, periods and
phases all vary, so neither a pixel template nor a colour histogram solves it.

Geometry is part of the label: a horizontal flip turns "left of" into "right of" and a vertical
flip turns "above" into "below" (and a 90-degree rotation swaps the two). Never flip or rotate
these images; random crops and small translations are safe.

Generation is vectorised over chunks of images, each with its own ``torch.Generator`` seeded from
``(seed, chunk)`` (the global RNG is never touched), so image ``k`` depends only on
``(seed, image_size, k)``: ``make_shapes(100)`` is a prefix of ``make_shapes(1000)``. Labels
cycle through the classes (image ``k`` has label ``k % 10``), so every prefix is balanced; shuffle
in the loader. Texture periods are in pixels and do not grow with ``image_size``; the parts and
the clutter do.
"""

from __future__ import annotations

import math
import operator

import torch

_TEXTURES: tuple[str, ...] = ("stripes", "checks", "dots")

# (texture of the first part, texture of the second part, axis): the first part is left of
# (axis 0) or above (axis 1) the second one.
_CLASS_LAYOUT: tuple[tuple[int, int, int], ...] = (
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
    f"{_TEXTURES[a]} {'left of' if axis == 0 else 'above'} {_TEXTURES[b]}"
    for a, b, axis in _CLASS_LAYOUT
)

_CHUNK_PIXELS = 1000 * 32 * 32  # pixels per chunk: 1000 images of 32x32, fewer larger ones
_EDGE = 0.35  # softness of drawn edges in pixels: smooth enough to look drawn, sharp enough to read
_DISC = 1.13  # a disc of radius 1.13 * half has the area of a square of side 2 * half
_NOISE = 0.04  # standard deviation of the pixel noise, in [0, 1] units


def make_shapes(n: int, seed: int = 0, image_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``n`` images of the ``shapes`` dataset (see the module docstring for the classes).

    Args:
        n: number of images, at least 1.
        seed: any integer; the same ``(n, seed, image_size)`` gives bit-identical tensors, and
            image ``k`` does not depend on ``n``.
        image_size: side of the square images in pixels, at least 16.

    Returns:
        ``(images, labels)``: uint8 ``(n, 3, image_size, image_size)`` and int64 ``(n,)``, with
        label ``k % 10`` for image ``k`` (balanced in every prefix; the loader shuffles).
        Class ``i`` is named ``SHAPES_CLASSES[i]``. Do not flip these images: flips change labels.
    """
    n = _integer(n, "n", 1, "the number of images")
    image_size = _integer(image_size, "image_size", 16, "the side in pixels")
    seed = _integer(seed, "seed", None, "it picks the images")
    labels = torch.arange(n, dtype=torch.int64) % len(SHAPES_CLASSES)
    images = torch.empty((n, 3, image_size, image_size), dtype=torch.uint8)
    chunk_size = _chunk_size(image_size)
    for chunk, start in enumerate(range(0, n, chunk_size)):
        stop = min(n, start + chunk_size)
        # A chunk always draws a full chunk_size images, so image k does not depend on n.
        chunk_labels = torch.arange(start, start + chunk_size) % len(SHAPES_CLASSES)
        rendered = _render(chunk_labels, image_size, _chunk_generator(seed, chunk))
        images[start:stop] = rendered[: stop - start]
    return images, labels


def _integer(value: object, name: str, minimum: int | None, meaning: str) -> int:
    """``value`` as an ``int`` (Python, NumPy or 0-d tensor integers), else a ValueError."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or (minimum is not None and number < minimum):
        expected = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {expected} ({meaning}), got {value!r}.")
    return number


def _chunk_size(size: int) -> int:
    """Images drawn together: a multiple of 10 (balanced chunks) that bounds the memory used."""
    return max(10, _CHUNK_PIXELS // (size * size) // 10 * 10)


def _chunk_generator(seed: int, chunk: int) -> torch.Generator:
    """A private generator for one chunk, seeded by mixing ``seed`` and ``chunk`` (SplitMix64)."""
    mask = 2**64 - 1
    z = (seed * 0x9E3779B97F4A7C15 + chunk * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    z ^= z >> 31
    return torch.Generator().manual_seed(z >> 1)  # 63 bits


def _uniform(g: torch.Generator, m: int, low: float, high: float, *shape: int) -> torch.Tensor:
    """``(m, *shape)`` floats drawn uniformly from ``[low, high)``."""
    return low + (high - low) * torch.rand((m, *shape), generator=g)


def _coin(g: torch.Generator, m: int, p: float = 0.5) -> torch.Tensor:
    """``(m,)`` booleans, each True with probability ``p``."""
    return torch.rand(m, generator=g) < p


def _grid(v: torch.Tensor) -> torch.Tensor:
    """A per-image value ``(m,)`` shaped ``(m, 1, 1)`` to broadcast against pixel grids."""
    return v[:, None, None]


def _paint(image: torch.Tensor, mask: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    """Blend ``colour`` (``(m, 3)`` or ``(m, 3, H, W)``) over ``image`` ``(m, 3, H, W)`` in place,
    weighted by the soft ``mask`` ``(m, H, W)`` (1: all colour); returns ``image``."""
    if colour.ndim == 2:
        colour = colour[:, :, None, None]
    return image.lerp_(colour.expand_as(image), mask[:, None])  # in place: one pass, no copies


def _render(labels: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """Draw one chunk: labels ``(m,)`` -> uint8 images ``(m, 3, size, size)``."""
    m = labels.shape[0]
    layout = torch.tensor(_CLASS_LAYOUT)[labels]  # (m, 3): texture a, texture b, axis
    scale = size / 32
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    ys, xs = coords[None, :, None], coords[None, None, :]  # broadcast to (m, H, W)

    image = _background(m, xs, ys, size, g)
    image = _rectangles(image, xs, ys, size, g, count=3, longest=10 * scale)
    parts = _place_pair(layout[:, 2], size, g)
    for part, (cx, cy, half) in enumerate(parts):
        dx, dy = xs - _grid(cx), ys - _grid(cy)
        mask = _part_mask(dx, dy, half, g)
        pattern = _texture(layout[:, part], dx, dy, g)
        ink, paper = _ink_and_paper(m, g)
        image = _paint(image, mask, paper)  # the part's shape in the paper colour,
        image = _paint(image, mask * pattern, ink)  # then its texture in the ink colour
    image = _strokes(image, xs, ys, size, g, count=2, scale=scale)
    image += torch.randn(image.shape, generator=g).mul_(_NOISE)
    return image.clamp_(0, 1).mul_(255).round_().to(torch.uint8)


def _background(m: int, xs: torch.Tensor, ys: torch.Tensor, size: int, g: torch.Generator):
    """A linear gradient between two mid-range colours in a random direction, ``(m, 3, H, W)``."""
    start, end = _uniform(g, m, 0.15, 0.85, 3), _uniform(g, m, 0.15, 0.85, 3)
    angle = _uniform(g, m, 0, 2 * math.pi)
    along = (xs - size / 2) * _grid(torch.cos(angle)) + (ys - size / 2) * _grid(torch.sin(angle))
    t = (along / size + 0.5).clamp(0, 1)[:, None]  # (m, 1, H, W)
    return start[:, :, None, None] + (end - start)[:, :, None, None] * t


def _rectangles(image, xs, ys, size: int, g: torch.Generator, count: int, longest: float):
    """Clutter behind the parts: up to ``count`` solid axis-aligned rectangles of random colour,
    1 to ``longest`` pixels a side, each present with probability 3/4."""
    m = image.shape[0]
    for _ in range(count):
        w, h = _uniform(g, m, 1.0, longest), _uniform(g, m, 1.0, longest)
        x0, y0 = _uniform(g, m, -2, size - 1), _uniform(g, m, -2, size - 1)
        colour = _uniform(g, m, 0, 1, 3)
        present = _coin(g, m, 0.75)
        inside = (
            (xs >= _grid(x0))
            & (xs <= _grid(x0 + w))
            & (ys >= _grid(y0))
            & (ys <= _grid(y0 + h))
            & _grid(present)
        )
        image = _paint(image, inside.float(), colour)
    return image


def _strokes(image, xs, ys, size: int, g: torch.Generator, count: int, scale: float):
    """Clutter on top: up to ``count`` straight strokes about 1 pixel wide and 4-12 pixels long,
    in any direction and colour, each present with probability 1/2. A stroke is an edge, not a
    texture: it may cross a part without changing the class."""
    m = image.shape[0]
    for _ in range(count):
        x0, y0 = _uniform(g, m, 0, size), _uniform(g, m, 0, size)
        length = _uniform(g, m, 4.0, 12.0) * scale
        angle = _uniform(g, m, 0, math.pi)
        width = _uniform(g, m, 0.4, 0.7)
        colour = _uniform(g, m, 0, 1, 3)
        present = _coin(g, m, 0.5)
        ux, uy = _grid(torch.cos(angle)), _grid(torch.sin(angle))
        px, py = xs - _grid(x0), ys - _grid(y0)
        t = torch.minimum((px * ux + py * uy).clamp_min(0), _grid(length))  # nearest point
        dist = torch.sqrt((px - t * ux) ** 2 + (py - t * uy) ** 2)
        mask = torch.sigmoid((_grid(width) - dist) / _EDGE) * _grid(present.float())
        image = _paint(image, mask, colour)
    return image


def _place_pair(axis: torch.Tensor, size: int, g: torch.Generator):
    """Centres and half-sizes of the two parts, with part 0 before part 1 along ``axis``
    (0: left of, 1: above).

    The parts do not overlap, their offset along the axis is at least twice their offset across
    it (so the relation is unambiguous), and the pair's midpoint lies within ``size / 8`` of the
    image centre, moved inward where a part would leave the image (1-pixel margin).
    Returns ``[(cx, cy, half), (cx, cy, half)]``, each ``(m,)``.
    """
    m = axis.shape[0]
    scale = size / 32
    margin = 1.0
    half = [_uniform(g, m, 3.5, 5.5) * scale, _uniform(g, m, 3.5, 5.5) * scale]
    reach = [_DISC * h for h in half]  # distance from a centre to a part's furthest pixel
    # Offset along the axis: from "just apart" to as far as the image allows.
    nearest = reach[0] + reach[1] + 1.0
    furthest = (size - 2 * margin - reach[0] - reach[1]).clamp_min(nearest)
    along = nearest + torch.rand(m, generator=g) * (furthest - nearest)
    # Offset across the axis: at most half the offset along it, and what fits.
    room = (size - 2 * margin - reach[0] - reach[1]).clamp_min(0)
    limit = torch.minimum(along / 2, room)
    across = (2 * torch.rand(m, generator=g) - 1) * limit
    # Extent of the pair around part 0's centre (part 1 sits at (along, across) from it).
    lo_along = torch.minimum(-reach[0], along - reach[1])
    hi_along = torch.maximum(reach[0], along + reach[1])
    lo_across = torch.minimum(-reach[0], across - reach[1])
    hi_across = torch.maximum(reach[0], across + reach[1])
    # The pair's midpoint sits within size / 8 of the image centre (moved inward where needed).
    jitter = size / 8
    low, high = margin - lo_along, size - margin - hi_along
    start_along = _near(g, size / 2 - along / 2, jitter, low, high)
    low, high = margin - lo_across, size - margin - hi_across
    start_across = _near(g, size / 2 - across / 2, jitter, low, high)
    a0, a1 = start_along, start_along + along
    c0, c1 = start_across, start_across + across
    horizontal = axis == 0
    return [
        (torch.where(horizontal, a, c), torch.where(horizontal, c, a), h)
        for a, c, h in ((a0, c0, half[0]), (a1, c1, half[1]))
    ]


def _near(g: torch.Generator, centre, jitter: float, low, high) -> torch.Tensor:
    """Uniform draws within ``jitter`` of ``centre``, clamped to ``[low, high]``."""
    value = centre + jitter * (2 * torch.rand(centre.shape, generator=g) - 1)
    return torch.minimum(torch.maximum(value, low), high)


def _part_mask(dx: torch.Tensor, dy: torch.Tensor, half: torch.Tensor, g: torch.Generator):
    """Soft mask ``(m, H, W)`` of a square (half side ``half``) or, for half of the images, a disc
    of the same area, centred where ``dx = dy = 0``."""
    disc = _grid(_coin(g, dx.shape[0]))
    h = _grid(half)
    square_dist = torch.maximum(dx.abs(), dy.abs()) - h
    disc_dist = torch.sqrt(dx**2 + dy**2) - _DISC * h
    return torch.sigmoid(-torch.where(disc, disc_dist, square_dist) / _EDGE)


def _ink_and_paper(m: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two contrasting random colours ``(m, 3)`` for a texture, a light one (every channel in
    0.55-1) and a dark one (0-0.4): half the time light ink on dark paper, half the reverse."""
    light, dark = _uniform(g, m, 0.55, 1.0, 3), _uniform(g, m, 0.0, 0.4, 3)
    swap = _coin(g, m)[:, None]
    return torch.where(swap, dark, light), torch.where(swap, light, dark)


def _stripes(dx, dy, period, angle, phase) -> torch.Tensor:
    """Parallel stripes of ``period`` pixels at ``angle`` (radians) with ``phase`` (in periods)."""
    u = dx * torch.cos(angle) + dy * torch.sin(angle)
    return torch.sigmoid(4 * torch.sin(2 * math.pi * (u / period + phase)))


def _checks(dx, dy, cell, phase_x, phase_y) -> torch.Tensor:
    """An axis-aligned checkerboard of square cells ``cell`` pixels wide, shifted by the phases
    (in cells)."""
    wave = torch.sin(math.pi * (dx / cell + phase_x)) * torch.sin(math.pi * (dy / cell + phase_y))
    return torch.sigmoid(8 * wave)


def _dots(dx, dy, period, radius, phase_x, phase_y) -> torch.Tensor:
    """Round dots of ``radius`` pixels on a square grid of ``period`` pixels, shifted by the
    phases (in periods)."""
    gx = torch.remainder(dx / period + phase_x, 1.0) - 0.5
    gy = torch.remainder(dy / period + phase_y, 1.0) - 0.5
    return torch.sigmoid((radius - period * torch.sqrt(gx**2 + gy**2)) / _EDGE)


# Each texture with the ranges its parameters are drawn from (pixels, radians, or periods).
_TEXTURE_DRAWERS = (
    (_stripes, ((2.5, 4.0), (0.0, math.pi), (0.0, 1.0))),  # period, angle, phase
    (_checks, ((1.6, 2.6), (0.0, 1.0), (0.0, 1.0))),  # cell, phase x, phase y
    (_dots, ((3.5, 4.5), (0.6, 0.85), (0.0, 1.0), (0.0, 1.0))),  # period, radius, phases
)


def _texture(kind: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, g: torch.Generator):
    """Texture intensity in [0, 1], ``(m, H, W)``: per image, kind 0 (stripes), 1 (checks) or
    2 (dots) at offsets ``dx, dy`` from the part's centre, with random parameters. Parameters
    are drawn for every image and texture, so the random stream does not depend on the labels;
    each texture is computed only for the images that show it."""
    m = dx.shape[0]
    pattern = torch.empty((m, dy.shape[1], dx.shape[2]))  # dx is (m, 1, W), dy is (m, H, 1)
    for k, (draw, ranges) in enumerate(_TEXTURE_DRAWERS):
        params = [_uniform(g, m, low, high) for low, high in ranges]
        rows = (kind == k).nonzero().squeeze(1)
        pattern[rows] = draw(dx[rows], dy[rows], *(_grid(p[rows]) for p in params))
    return pattern


def shapes_version() -> str:
    """A short hash of this module's source: a cache of generated images is only reused while
    the generator that made them is unchanged."""
    import hashlib
    from pathlib import Path

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
