"""The course ConViT equals timm's; GPSA's local init, gating and errors do what they claim."""

import pytest
import timm
import torch

from course_lib.analysis.attention import (
    GateAndLocalityMonitor,
    GateGradients,
    gate_values,
    history_grid,
    nonlocality,
)
from course_lib.models import create_model
from course_lib.models.convit import GPSA, ConViT, freeze_local_attention, relative_indices
from course_lib.train import fit

CIFAR_TIMM = {
    "img_size": 32,
    "patch_size": 4,
    "depth": 9,
    "local_up_to_layer": 7,
    "num_classes": 10,
}


def test_six_heads_match_timm():
    """6 heads: only 2x2 = 4 of them get the local init; the other two keep a random init (the
    anchor configurations are in tests/test_timm_twins.py)."""
    torch.manual_seed(0)
    reference = timm.create_model(
        "convit_tiny", pretrained=False, **{**CIFAR_TIMM, "num_heads": 6, "embed_dim": 32}
    ).eval()
    with torch.no_grad():  # move the gates off their init so that the test sees them
        for name, p in reference.named_parameters():
            if "gating_param" in name:
                p.add_(torch.randn_like(p))
    model = create_model("convit_cifar_tiny", num_heads=6).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)
        for block in model.blocks:
            block.attn.fused = False
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)


def test_local_init_matches_timm_and_leaves_extra_heads_random():
    torch.manual_seed(0)
    reference = timm.create_model(
        "convit_tiny", pretrained=False, **{**CIFAR_TIMM, "num_heads": 6, "embed_dim": 32}
    )
    torch.manual_seed(0)
    model = create_model("convit_cifar_tiny", num_heads=6)
    ours, theirs = model.blocks[0].attn.pos_proj.weight, reference.blocks[0].attn.pos_proj.weight
    torch.testing.assert_close(ours[:4], theirs[:4])  # the 2x2 kernel: deterministic
    assert (ours[:4, 2] == -1).all()
    assert not (ours[4:, 2] == -1).any()  # leftover heads: random, like timm's
    torch.testing.assert_close(model.blocks[0].attn.v.weight, torch.eye(192))


def test_relative_indices_and_a_3x3_convolution_from_9_heads():
    r = relative_indices(3, 4)
    assert r.shape == (12, 12, 3)
    assert r[0, 5].tolist() == [1.0, 1.0, 2.0]  # key (row 1, col 1) seen from (0, 0)
    gpsa = GPSA(9 * 4, num_heads=9, locality_strength=10.0, grid_size=(5, 5))
    gpsa.local_init()
    with torch.no_grad():
        positional = gpsa.positional_scores(25, torch.zeros(())).softmax(dim=-1)  # (9, 25, 25)
    centre, r = 12, relative_indices(5, 5)  # the query at row 2, col 2
    peaks = positional[:, centre].argmax(dim=-1)  # each head's favourite key
    offsets = sorted((int(r[centre, j, 0]), int(r[centre, j, 1])) for j in peaks)
    assert offsets == sorted((dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1))
    assert positional[:, centre].max(dim=-1).values.min() > 0.99  # alpha = 10: sharp


def test_non_square_grids_need_a_grid_size():
    gpsa = GPSA(16, num_heads=4)
    with pytest.raises(ValueError, match="not a square grid"):
        gpsa(torch.randn(1, 32, 16))
    rectangular = GPSA(16, num_heads=4, grid_size=(4, 8))
    assert rectangular(torch.randn(1, 32, 16)).shape == (1, 32, 16)


def test_bad_configurations_fail_clearly():
    with pytest.raises(ValueError, match="local_up_to_layer=5 with depth=4"):
        ConViT(img_size=32, patch_size=4, embed_dim=64, depth=4, num_heads=4, local_up_to_layer=5)
    with pytest.raises(ValueError, match="locality_strength must be > 0"):
        create_model("convit_cifar_nano", locality_strength=0.0)
    with pytest.raises(ValueError, match="Expected 32x32 images"):
        create_model("convit_cifar_nano")(torch.randn(1, 3, 48, 48))


def test_gates_nonlocality_and_the_training_monitor():
    torch.manual_seed(0)
    model = create_model("convit_cifar_nano", depth=2, local_up_to_layer=1)
    images = torch.randn(4, 3, 32, 32)
    assert torch.allclose(gate_values(model), torch.sigmoid(torch.ones(1, 4)))
    assert nonlocality(model, images).shape == (1, 4)
    history = fit(
        model,
        [(images, torch.arange(4))],
        epochs=2,
        verbose=False,
        progress=False,
        device="cpu",
        on_epoch_end=GateAndLocalityMonitor(images[:2]),
    )
    assert history_grid(history, "gate").shape == (2, 1, 4)
    assert history_grid(history, "nonlocality").shape == (2, 1, 4)


def test_ablation_switches():
    x = torch.randn(2, 3, 32, 32)
    no_gate = create_model("convit_cifar_nano", gating=False).eval()
    with torch.no_grad():
        fused = no_gate(x)
        for block in no_gate.blocks:
            block.attn.fused = False
        torch.testing.assert_close(no_gate(x), fused, atol=1e-5, rtol=0)
    random = create_model("convit_cifar_nano", local_init=False)
    assert not torch.equal(random.blocks[0].attn.v.weight, torch.eye(64))
    maps = freeze_local_attention(create_model("convit_cifar_nano"))
    assert len(maps) == 3 * 4 and not any(".v." in n or ".proj." in n for n in maps)
    whole = freeze_local_attention(create_model("convit_cifar_nano"), maps_only=False)
    assert len(whole) == 3 * 7 and all(".attn." in n for n in whole)


def test_gate_gradients_record_every_backward_pass_and_their_steadiness():
    torch.manual_seed(0)
    model = create_model("convit_cifar_nano", num_heads=9, embed_dim=72)
    images = torch.randn(4, 3, 32, 32)
    grads = []
    with GateGradients(model) as recorder:
        for sign in (1.0, 1.0, -1.0):
            model.zero_grad()
            (sign * model(images).square().mean()).backward()
            grads.append(torch.stack([m.gating_param.grad.clone() for m in model.gpsa_layers()]))
    assert recorder.mean.shape == (3, 9)
    torch.testing.assert_close(recorder.mean, torch.stack(grads).mean(dim=0))
    # two pushes one way and one the other: |g + g - g| / 3|g| = 1/3 for every head
    torch.testing.assert_close(recorder.steadiness, torch.full((3, 9), 1 / 3))
    model.zero_grad()
    model(images).sum().backward()  # outside the context: not recorded
    assert recorder.steps.tolist() == [3, 3, 3]
    with pytest.raises(ValueError, match="no GPSA"):
        GateGradients(create_model("vit_cifar_nano"))
