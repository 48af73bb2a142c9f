"""Filter-normalised loss landscapes (notebook 10): directions scaled filter by filter, the loss
training optimises (NLL + weight decay), and lines and surfaces that leave the weights exactly as
they were."""

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from course_lib.analysis.landscape import (
    filter_normalized_direction,
    loss_line,
    loss_surface,
    training_loss,
)
from course_lib.models import create_model


def _model():
    torch.manual_seed(0)
    return create_model("vit_cifar_nano", img_size=16, embed_dim=32, depth=1)


def _batches():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(3, 3, 16, 16, generator=g), torch.randint(0, 10, (3,), generator=g))] * 2


def test_directions_match_each_filter_norm_and_leave_the_rest_alone():
    model = _model()
    direction = filter_normalized_direction(model, seed=3)
    params = dict(model.named_parameters())
    assert direction.keys() == params.keys()
    for name, d in direction.items():
        w = params[name].detach()
        assert d.shape == w.shape
        if w.ndim >= 2 and name not in ("pos_embed", "cls_token"):
            assert_close(d.flatten(1).norm(dim=1), w.flatten(1).norm(dim=1))
            assert not torch.equal(d, w)
        else:
            assert not d.any(), name
    again = filter_normalized_direction(model, seed=3)
    assert all(torch.equal(direction[n], again[n]) for n in direction)
    other = filter_normalized_direction(model, seed=4)
    assert not torch.equal(direction["head.weight"], other["head.weight"])


def test_resnet_directions_normalise_each_output_channel():
    model = create_model("resnet_cifar_nano")
    direction = filter_normalized_direction(model)
    w = model.stem[0].weight.detach()  # (16, 3, 3, 3): 16 filters
    assert_close(direction["stem.0.weight"].flatten(1).norm(dim=1), w.flatten(1).norm(dim=1))
    assert not direction["stem.1.weight"].any()  # batch norm


def test_training_loss_is_nll_plus_the_decay_term():
    model, batches = _model(), _batches()
    model.eval()
    with torch.no_grad():
        nll = F.cross_entropy(model(batches[0][0]), batches[0][1]).item()
    assert training_loss(model, batches, weight_decay=0.0) == pytest.approx(nll, rel=1e-6)
    decayed = [
        p
        for n, p in model.named_parameters()
        if p.ndim >= 2 and n not in ("pos_embed", "cls_token")
    ]
    l2 = sum(p.detach().pow(2).sum().item() for p in decayed)
    assert training_loss(model, batches, weight_decay=0.1) == pytest.approx(nll + 0.05 * l2)


def test_training_loss_takes_soft_labels():
    model, (x, y) = _model(), _batches()[0]
    soft = F.one_hot(y, 10).float()
    assert training_loss(model, [(x, soft)]) == pytest.approx(training_loss(model, [(x, y)]))


def test_line_and_surface_restore_the_weights_exactly():
    model, batches = _model(), _batches()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d1 = filter_normalized_direction(model, seed=1)
    d2 = filter_normalized_direction(model, seed=2)
    alphas, betas = [-0.5, 0.0, 0.5], [0.0, 1.0]
    line = loss_line(model, iter(batches), d1, alphas, weight_decay=0.05)
    surface = loss_surface(model, batches, d1, d2, alphas, betas, weight_decay=0.05)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert line.shape == (3,) and surface.shape == (3, 2)
    assert line[1].item() == pytest.approx(training_loss(model, batches, 0.05), rel=1e-6)
    assert_close(surface[:, 0], line)
    assert line[0] != line[1] != line[2] and surface[1, 1] != surface[1, 0]


def test_a_direction_for_another_model_fails_clearly():
    model = _model()
    wrong = filter_normalized_direction(create_model("resnet_cifar_nano"))
    with pytest.raises(ValueError, match="not a parameter of VisionTransformer"):
        loss_line(model, _batches(), wrong, [0.0])
