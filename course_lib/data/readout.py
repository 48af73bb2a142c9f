"""``readout``: find one small object in clutter, a task for class attention vs average pooling.

Every 32x32 RGB image holds ONE small object, a crisp binary glyph in a random bright colour
ringed by a 1-pixel dark outline, pasted at a uniformly random position over a canvas full of
clutter. The class is the glyph::

    0 plus             1 cross            2 diamond          3 filled square    4 hollow square
    5 horizontal bars  6 vertical bars    7 L                8 T                9 diagonal

With the default ``object_size = 7`` the glyph is 5x5 pixels, 7x7 with its outline: about 5 % of
the image. It covers 2 or 3 of the 4x4-pixel patches along each axis, so 4, 6 or 9 of the 64
patches (6.25 on average), and the rest hold only clutter. Recognising the glyph is easy; finding
it is the task. A readout that averages all the patch tokens mixes the evidence of the few object
patches with that of some 58 clutter patches, while a selective one (class attention) can weigh
them up.

The clutter looks like the object up close, so no single pixel or colour gives the object away:

- the background gradient, solid rectangles and soft strokes of ``shapes``
  (:mod:`course_lib.data.shapes`), 6 rectangles and 6 strokes on 32x32 instead of 3 and 2;
- 14 *fragments*: dots, short crisp bars (2 or 3 pixels, fewer than the glyph's side), diagonal
  pairs and 2x2 blocks, in bright colours with the same dark outline as the glyph.

``clutter`` scales these counts (and they grow with the canvas area).

The clutter never forms a glyph: the soft items have no dark outline, and a fragment's outline
darkens every pixel next to it, so any connected patch of fragment colour belongs to a single
fragment, which has fewer pixels than the smallest connected part of any glyph. The object is
pasted last, so nothing covers it.

Image ``k`` and its object's position depend only on ``(seed, image_size, object_size, clutter,
k)`` (chunks of images, each with its own ``torch.Generator``, as in ``shapes``); labels cycle
through the classes (image ``k`` has label ``k % 10``), so every prefix is balanced. ``L`` and
``diagonal`` are not mirror-symmetric: never flip these images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.data.datasets import ImageDataset, ImageSplit
from course_lib.data.shapes import (
    _NOISE,
    _background,
    _chunk_generator,
    _chunk_size,
    _integer,
    _rectangles,
    _strokes,
    _uniform,
)

READOUT_CLASSES: tuple[str, ...] = (
    "plus",
    "cross",
    "diamond",
    "filled square",
    "hollow square",
    "horizontal bars",
    "vertical bars",
    "L",
    "T",
    "diagonal",
)

# Clutter items on a 32x32 canvas at clutter = 1 (scaled with the area and ``clutter``).
_RECTANGLES = 6
_STROKES = 6
_FRAGMENTS = 14
_TRANSPARENT, _INK, _OUTLINE = 0, 1, 2  # codes of a stamp's pixels
_PAD = 4  # margin around the image while stamping: fragments may hang off the edge


def make_readout(
    n: int,
    seed: int = 0,
    image_size: int = 32,
    object_size: int = 7,
    clutter: float = 1.0,
    *,
    return_positions: bool = False,
    draw_object: bool = True,
) -> tuple[torch.Tensor, ...]:
    """Generate ``n`` images of the ``readout`` task (see the module docstring).

    Args:
        n: number of images, at least 1.
        seed: any integer; the same arguments give bit-identical tensors, and image ``k`` does not
            depend on ``n``.
        image_size: side of the square canvas in pixels, at least 8.
        object_size: side of the object with its outline, in pixels: 5 or more (a glyph of at
            least 3x3), at most ``image_size``.
        clutter: how much clutter, as a multiple of the default amount (``0``: only the
            background gradient and pixel noise).
        return_positions: also return where each object lies.
        draw_object: ``False`` renders the very same images without the object (the random
            stream is the same), for controls: no model should beat chance on them.

    Returns:
        ``(images, labels)``: uint8 ``(n, 3, image_size, image_size)`` and int64 ``(n,)`` with
        label ``k % 10`` for image ``k`` (class names in ``READOUT_CLASSES``); with
        ``return_positions``, also int64 ``(n, 2)``: the ``(row, column)`` of the top-left pixel
        of each object's ``object_size x object_size`` box.
    """
    n = _integer(n, "n", 1, "the number of images")
    image_size = _integer(image_size, "image_size", 8, "the side in pixels")
    object_size = _integer(object_size, "object_size", 5, "the object's side with its outline")
    seed = _integer(seed, "seed", None, "it picks the images")
    if object_size > image_size:
        raise ValueError(
            f"object_size {object_size} does not fit a {image_size}x{image_size} canvas: it must "
            f"be at most image_size ({image_size})."
        )
    if not (isinstance(clutter, (int, float)) and 0 <= clutter < float("inf")):
        raise ValueError(f"clutter must be a number >= 0 (1: the default amount), got {clutter!r}.")
    labels = torch.arange(n, dtype=torch.int64) % len(READOUT_CLASSES)
    images = torch.empty((n, 3, image_size, image_size), dtype=torch.uint8)
    positions = torch.empty((n, 2), dtype=torch.int64)
    glyphs, fragments = _object_stamps(object_size), _fragment_stamps(object_size - 2)
    chunk_size = _chunk_size(image_size)
    for chunk, start in enumerate(range(0, n, chunk_size)):
        stop = min(n, start + chunk_size)
        # A chunk always draws a full chunk_size images, so image k does not depend on n.
        chunk_labels = torch.arange(start, start + chunk_size) % len(READOUT_CLASSES)
        rendered, where = _render(
            chunk_labels,
            image_size,
            glyphs,
            fragments,
            clutter,
            draw_object,
            _chunk_generator(seed, chunk),
        )
        images[start:stop] = rendered[: stop - start]
        positions[start:stop] = where[: stop - start]
    return (images, labels, positions) if return_positions else (images, labels)


def object_patches(
    positions: torch.Tensor, patch_size: int, image_size: int = 32, object_size: int = 7
) -> torch.Tensor:
    """Which patches of a ``patch_size`` grid each object overlaps: ``positions`` ``(n, 2)``, the
    ``(row, column)`` of each object's top-left pixel (``make_readout(...,
    return_positions=True)``), to a boolean ``(n, N)`` with ``N = (image_size / patch_size)^2``
    patches in row-major order, the order of a ViT's patch tokens."""
    patch_size = _integer(patch_size, "patch_size", 1, "the patch side in pixels")
    if image_size % patch_size:
        raise ValueError(
            f"patch_size {patch_size} does not divide the image side {image_size}: a ViT needs "
            "a whole number of patches per side."
        )
    if positions.ndim != 2 or positions.shape[1] != 2:
        raise ValueError(f"positions must be (n, 2) (row, column), got {tuple(positions.shape)}.")
    starts = torch.arange(0, image_size, patch_size)  # first pixel of each patch row / column
    first, last = positions[:, :, None], positions[:, :, None] + object_size - 1  # (n, 2, 1)
    overlaps = (starts + patch_size - 1 >= first) & (starts <= last)  # (n, 2, grid)
    return (overlaps[:, 0, :, None] & overlaps[:, 1, None, :]).flatten(1)


def load_readout(
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    *,
    object_size: int = 7,
    clutter: float = 1.0,
) -> ImageDataset:
    """The ``readout`` task (:func:`make_readout`) as a dataset of 32x32 images:
    ``n_train`` / ``n_test`` images (default 50,000 / 10,000), train and test from different
    seeds, classes ``READOUT_CLASSES``, ``flip_safe=False`` (the ``L`` and ``diagonal`` glyphs
    are not mirror-symmetric). ``load_dataset("readout", n_train=..., n_test=..., seed=...)``
    calls it with the default object size and clutter."""
    n_train = 50_000 if n_train is None else n_train
    n_test = 10_000 if n_test is None else n_test
    options = dict(object_size=object_size, clutter=clutter)
    # Train and test come from different seeds so no test image repeats a training image.
    x_train, y_train = make_readout(n_train, seed=2 * seed, **options)
    x_test, y_test = make_readout(n_test, seed=2 * seed + 1, **options)
    return ImageDataset(
        name="readout",
        classes=tuple(READOUT_CLASSES),
        train=ImageSplit(x_train, y_train),
        test=ImageSplit(x_test, y_test),
        source=(
            f"generated in memory (seed {seed}, {n_train} train / {n_test} test, object "
            f"{object_size}px, clutter {clutter})"
        ),
        flip_safe=False,
    )


def glyph_masks(size: int = 5) -> torch.Tensor:
    """The 10 glyphs as boolean masks ``(10, size, size)``, in ``READOUT_CLASSES`` order; ``size``
    is the object's side without its outline (``object_size - 2``), at least 3."""
    size = _integer(size, "size", 3, "the glyph's side in pixels")
    i = torch.arange(size, dtype=torch.float32)[:, None].expand(size, size)
    j = torch.arange(size, dtype=torch.float32)[None, :].expand(size, size)
    last, centre = size - 1, (size - 1) / 2
    middle_row, middle_col = (i - centre).abs() < 0.75, (j - centre).abs() < 0.75  # 1 or 2 lines
    border = (i == 0) | (i == last) | (j == 0) | (j == last)
    masks = (
        middle_row | middle_col,  # plus
        (i == j) | (i + j == last),  # cross
        (i - centre).abs() + (j - centre).abs() == size // 2,  # diamond
        torch.ones(size, size, dtype=torch.bool),  # filled square
        border,  # hollow square
        (i == 0) | (i == last),  # horizontal bars
        (j == 0) | (j == last),  # vertical bars
        (j == 0) | (i == last),  # L
        (i == 0) | middle_col,  # T
        i == j,  # diagonal
    )
    return torch.stack(masks)


def _with_outline(masks: torch.Tensor) -> torch.Tensor:
    """Boolean masks ``(K, s, s)`` -> stamps ``(K, s + 2, s + 2)`` int64: ``_INK`` on the mask,
    ``_OUTLINE`` on the pixels next to it (8-neighbourhood), ``_TRANSPARENT`` elsewhere."""
    ink = F.pad(masks.float(), (1, 1, 1, 1))
    ring = F.max_pool2d(ink[:, None], 3, stride=1, padding=1)[:, 0] > 0
    stamps = torch.full(ink.shape, _TRANSPARENT, dtype=torch.int64)
    stamps[ring] = _OUTLINE
    stamps[ink > 0] = _INK
    return stamps


def _object_stamps(object_size: int) -> torch.Tensor:
    """The glyphs with their outlines, ``(10, object_size, object_size)``."""
    return _with_outline(glyph_masks(object_size - 2))


def _fragment_stamps(glyph_size: int) -> torch.Tensor:
    """Clutter fragments with outlines, ``(K, 5, 5)``: a dot, horizontal and vertical bars of 2 to
    ``min(3, glyph_size - 1)`` pixels, the two diagonal pairs and (for glyphs of side 5 or more)
    a 2x2 block. Each has fewer pixels than ``glyph_size``, the size of the smallest connected
    part of any glyph."""
    longest = min(3, glyph_size - 1)
    shapes = [[(1, 1)], [(0, 0), (1, 1)], [(0, 1), (1, 0)]]
    for length in range(2, longest + 1):
        shapes += [[(1, c) for c in range(length)], [(r, 1) for r in range(length)]]
    if glyph_size >= 5:
        shapes.append([(0, 0), (0, 1), (1, 0), (1, 1)])
    masks = torch.zeros(len(shapes), 3, 3, dtype=torch.bool)
    for k, pixels in enumerate(shapes):
        for r, c in pixels:
            masks[k, r, c] = True
    return _with_outline(masks)


def _bright(g: torch.Generator, m: int) -> torch.Tensor:
    """``(m, 3)`` saturated bright colours: random hues with the largest channel at 1."""
    colour = _uniform(g, m, 0.0, 1.0, 3) ** 2  # squared: often one or two channels near 0
    return colour / colour.amax(dim=1, keepdim=True).clamp_min(1e-6)


def _stamp(
    canvas: torch.Tensor,
    stamps: torch.Tensor,
    kind: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    ink: torch.Tensor,
    outline: torch.Tensor,
) -> None:
    """Paste stamp ``kind`` ``(m,)`` of ``stamps`` ``(K, s, s)`` into ``canvas`` ``(m, 3, H, W)``
    (the image padded by ``_PAD`` on every side) in place, its top-left pixel at image
    coordinates ``(top, left)`` (``(m,)`` integers, at most ``_PAD`` pixels off the image):
    ``ink`` and ``outline`` colours ``(m, 3)``, the transparent pixels left as they are.
    Only the ``s * s`` pixels under the stamp are read and written."""
    m, _, height, width = canvas.shape
    size = stamps.shape[-1]
    offsets = (torch.arange(size)[:, None] * width + torch.arange(size)).flatten()  # (s * s,)
    start = (top + _PAD) * width + left + _PAD  # (m,)
    index = (start[:, None] + offsets).unsqueeze(1).expand(m, 3, size * size)
    flat = canvas.view(m, 3, height * width)
    code = stamps[kind].view(m, 1, size * size)
    pixels = flat.gather(2, index)
    pixels = torch.where(code == _OUTLINE, outline[:, :, None], pixels)
    pixels = torch.where(code == _INK, ink[:, :, None], pixels)
    flat.scatter_(2, index, pixels)


def _count(base: int, size: int, clutter: float) -> int:
    """Clutter items for a canvas of side ``size``: ``base`` on 32x32 at ``clutter = 1``."""
    return round(base * clutter * (size / 32) ** 2)


def _render(
    labels: torch.Tensor,
    size: int,
    glyphs: torch.Tensor,
    fragments: torch.Tensor,
    clutter: float,
    draw_object: bool,
    g: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one chunk: labels ``(m,)`` -> uint8 images ``(m, 3, size, size)`` and the objects'
    top-left ``(row, column)``, ``(m, 2)``."""
    m = labels.shape[0]
    scale = size / 32
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    ys, xs = coords[None, :, None], coords[None, None, :]  # broadcast to (m, H, W)

    image = _background(m, xs, ys, size, g)
    count = _count(_RECTANGLES, size, clutter)
    image = _rectangles(image, xs, ys, size, g, count=count, longest=8 * scale)
    image = _strokes(image, xs, ys, size, g, count=_count(_STROKES, size, clutter), scale=scale)
    canvas = F.pad(image, (_PAD,) * 4)
    reach = fragments.shape[-1]  # 5: a fragment's ink lies in its middle 3x3, partly visible
    for _ in range(_count(_FRAGMENTS, size, clutter)):
        kind = torch.randint(0, fragments.shape[0], (m,), generator=g)
        top, left = (torch.randint(3 - reach, size - 1, (m,), generator=g) for _ in range(2))
        ink, outline = _bright(g, m), _uniform(g, m, 0.0, 0.15, 3)
        _stamp(canvas, fragments, kind, top, left, ink, outline)
    # The object's draws are made even without the object, so the clutter stays the same.
    box = glyphs.shape[-1]
    where = torch.randint(0, size - box + 1, (m, 2), generator=g)
    ink, outline = _bright(g, m), _uniform(g, m, 0.0, 0.15, 3)
    if draw_object:
        _stamp(canvas, glyphs, labels, where[:, 0], where[:, 1], ink, outline)
    image = canvas[:, :, _PAD:-_PAD, _PAD:-_PAD]
    image += torch.randn(image.shape, generator=g).mul_(_NOISE)
    return image.clamp_(0, 1).mul_(255).round_().to(torch.uint8), where
