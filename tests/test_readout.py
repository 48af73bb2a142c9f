"""The ``readout`` task (notebook 08): one small glyph in clutter, deterministic by seed, with
the object really where the generator says, clutter that never forms a glyph, clear errors, and
``load_dataset("readout")``."""

import pytest
import torch

from course_lib.data import (
    READOUT_CLASSES,
    ImageDataset,
    glyph_masks,
    load_dataset,
    make_readout,
    object_patches,
)
from course_lib.data.readout import _fragment_stamps, _object_stamps
from tests.conftest import assert_valid_images


def _components(mask: torch.Tensor) -> list[int]:
    """Sizes of the 8-connected components of a boolean ``(H, W)`` mask."""
    todo = {tuple(p) for p in mask.nonzero().tolist()}
    sizes = []
    while todo:
        stack, size = [todo.pop()], 0
        while stack:
            r, c = stack.pop()
            size += 1
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if (r + dr, c + dc) in todo:
                        todo.remove((r + dr, c + dc))
                        stack.append((r + dr, c + dc))
        sizes.append(size)
    return sizes


def test_readout_is_deterministic_by_seed_and_balanced():
    x1, y1 = make_readout(300, seed=5)
    x2, y2 = make_readout(300, seed=5)
    assert_valid_images(x1, y1, 300)
    assert x1.shape == (300, 3, 32, 32)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.bincount(y1, minlength=10).tolist() == [30] * 10
    x3, y3 = make_readout(300, seed=6)
    assert not torch.equal(x1, x3) and torch.equal(y1, y3)
    # Image k does not depend on n, across chunks of 1000 images too.
    x4, _, p4 = make_readout(1010, seed=5, return_positions=True)
    assert torch.equal(x4[:300], x1)
    _, _, p5 = make_readout(1010, seed=5, return_positions=True)
    assert torch.equal(p4, p5)


def test_the_object_is_where_the_generator_says():
    x, y, where = make_readout(200, seed=0, return_positions=True)
    bare, labels = make_readout(200, seed=0, draw_object=False)
    assert torch.equal(labels, y) and where.shape == (200, 2) and where.dtype == torch.int64
    assert where.min() >= 0 and where.max() <= 32 - 7
    assert where.min() == 0 and where.max() >= 23  # positions spread over the canvas
    stamps = _object_stamps(7)  # (10, 7, 7): 0 clutter shows through, 1 glyph, 2 outline
    for k in range(200):
        r, c = where[k].tolist()
        box = (slice(None), slice(r, r + 7), slice(c, c + 7))
        stamp = stamps[y[k]]
        with_object, without = x[k][box].float(), bare[k][box].float()
        # Outside the object's box the two renders are the same image, bit for bit ...
        outside = torch.ones(32, 32, dtype=torch.bool)
        outside[r : r + 7, c : c + 7] = False
        assert torch.equal(x[k][:, outside], bare[k][:, outside])
        # ... inside, the clutter shows through the transparent pixels, and the glyph is there:
        assert torch.equal(with_object[:, stamp == 0], without[:, stamp == 0])
        ink, outline = with_object[:, stamp == 1], with_object[:, stamp == 2]
        assert ink.max(dim=0).values.mean() > 200  # a bright colour (largest channel 1) ...
        assert ink.std(dim=1).max() < 25  # ... one colour, up to the pixel noise
        assert outline.mean() < 60  # a dark outline
        assert (with_object - without).abs().sum(dim=0)[stamp > 0].mean() > 60


def test_the_object_covers_few_patches():
    _, _, where = make_readout(500, seed=1, return_positions=True)
    first, last = where // 4, (where + 6) // 4  # the 4x4 patches of the 7x7 object's corners
    patches = ((last - first + 1)[:, 0] * (last - first + 1)[:, 1]).tolist()
    assert set(patches) == {4, 6, 9}


def test_glyphs_are_distinct_and_no_clutter_fragment_looks_like_one():
    for size in range(3, 9):
        masks = glyph_masks(size)
        assert masks.shape == (10, size, size) and masks.dtype == torch.bool
        assert len({m.flatten().tolist().__str__() for m in masks}) == 10, size
        smallest = min(min(_components(m)) for m in masks)
        assert smallest >= size, size
        fragments = _fragment_stamps(size)
        assert ((fragments == 1).flatten(1).sum(dim=1) < smallest).all(), size
    assert len(READOUT_CLASSES) == 10 and len(set(READOUT_CLASSES)) == 10
    # L and diagonal are not mirror-symmetric: a flip makes another picture.
    masks = glyph_masks(5)
    for name in ("L", "diagonal"):
        glyph = masks[READOUT_CLASSES.index(name)]
        assert not torch.equal(glyph, glyph.flip(-1))


def test_clutter_is_real_and_can_be_turned_down():
    busy, _ = make_readout(100, seed=2)
    calm, _ = make_readout(100, seed=2, clutter=0.0, draw_object=False)

    def roughness(x: torch.Tensor) -> float:  # mean step between neighbouring pixels
        return (x[..., 1:].float() - x[..., :-1].float()).abs().mean().item()

    def dark(x: torch.Tensor) -> float:  # share of near-black pixels: outlines
        return (x.amax(dim=1) < 60).float().mean().item()

    # A bare gradient with pixel noise, against a canvas full of outlined fragments.
    assert roughness(busy) > 2 * roughness(calm)
    assert dark(busy) > 0.1 and dark(calm) < 0.01
    other_size, _ = make_readout(20, seed=2, image_size=48, object_size=9)
    assert other_size.shape == (20, 3, 48, 48)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n=0), "n must be an integer >= 1"),
        (dict(n=10, object_size=33), "object_size 33 does not fit a 32x32 canvas"),
        (dict(n=10, image_size=16, object_size=20), "does not fit a 16x16"),
        (dict(n=10, object_size=3), "object_size must be an integer >= 5"),
        (dict(n=10, clutter=-1.0), "clutter must be a number >= 0"),
    ],
)
def test_bad_arguments_fail_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_readout(**kwargs)


def test_load_dataset_readout():
    data = load_dataset("readout", n_train=200, n_test=100, seed=1)
    assert isinstance(data, ImageDataset)
    assert data.name == "readout" and data.num_classes == 10 and data.classes == READOUT_CLASSES
    assert_valid_images(data.train.images, data.train.labels, 200)
    assert_valid_images(data.test.images, data.test.labels, 100)
    assert data.image_size == 32 and data.flip_safe is False
    assert not torch.equal(data.train.images[:100], data.test.images)
    assert data.train.class_counts(10).tolist() == [20] * 10
    again = load_dataset("Readout", n_train=200, n_test=100, seed=1)
    assert torch.equal(again.train.images, data.train.images)
    larger = load_dataset("readout", n_train=20, n_test=10, seed=1, object_size=9, clutter=0.5)
    direct = make_readout(20, seed=2, object_size=9, clutter=0.5)[0]  # train split: seed 2 * 1
    assert torch.equal(larger.train.images, direct)
    with pytest.raises(ValueError, match="readout"):
        load_dataset("shapes", n_train=20, n_test=10, object_size=9)


def test_object_patches_are_the_patches_the_box_overlaps():
    _, _, where = make_readout(300, seed=3, return_positions=True)
    for patch in (4, 8):
        grid = 32 // patch
        got = object_patches(where, patch)
        assert got.shape == (300, grid * grid) and got.dtype == torch.bool
        boxes = torch.zeros(300, 32, 32, dtype=torch.bool)
        for k, (r, c) in enumerate(where.tolist()):
            boxes[k, r : r + 7, c : c + 7] = True
        pooled = boxes.reshape(300, grid, patch, grid, patch).any(dim=4).any(dim=2)
        assert torch.equal(got, pooled.flatten(1))
    counts = object_patches(where, 4).sum(dim=1)
    assert set(counts.tolist()) <= {4, 6, 9}  # 2 or 3 patches along each axis
    with pytest.raises(ValueError, match="divide"):
        object_patches(where, 5)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        object_patches(where[:, 0], 4)
