"""The analysis tools on cases whose answer is known."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.analysis.attention import (
    attention_rollout,
    capture_attention,
    mean_attention_distance,
    patch_distances,
)
from course_lib.analysis.embeddings import (
    extract_features,
    few_shot_probe,
    patch_filter_components,
    pos_embed_similarity,
    ridge_predict,
    ridge_probe,
)
from course_lib.models import create_model


def test_capture_attention_returns_one_map_per_layer_and_restores_the_fused_path():
    torch.manual_seed(0)
    model = create_model("vit_cifar_nano").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    maps = capture_attention(model, x)
    assert len(maps) == 4 and maps[0].shape == (2, 2, 65, 65)
    torch.testing.assert_close(maps[2].sum(-1), torch.ones(2, 2, 65))
    assert all(not b.attn.store_attention and b.attn.attention is None for b in model.blocks)
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


def test_capture_attention_refuses_a_model_without_attention():
    with pytest.raises(ValueError, match="no attention layers"):
        capture_attention(create_model("resnet_cifar_nano"), torch.randn(1, 3, 32, 32))


def test_rollout_of_identity_attention_is_identity_and_rows_sum_to_one():
    eye = torch.eye(5).expand(1, 2, 5, 5)
    torch.testing.assert_close(attention_rollout([eye, eye]), torch.eye(5)[None])
    random = torch.rand(1, 2, 5, 5).softmax(-1)
    rolled = attention_rollout([random, random, random])
    torch.testing.assert_close(rolled.sum(-1), torch.ones(1, 5))


def test_attention_distance_of_self_and_uniform_attention():
    grid, patch = 4, 8
    n = grid * grid
    selfish = torch.zeros(1, 1, 1 + n, 1 + n)
    selfish[0, 0] = torch.eye(1 + n)
    assert mean_attention_distance([selfish], grid, patch).item() == 0.0
    uniform = torch.full((1, 1, 1 + n, 1 + n), 1.0 / (1 + n))
    expected = patch_distances(grid, patch).mean()
    torch.testing.assert_close(mean_attention_distance([uniform], grid, patch)[0, 0], expected)
    assert patch_distances(2, 4)[0, 3].item() == pytest.approx(4 * 2**0.5)


def test_patch_filter_components_find_the_dominant_direction():
    g = torch.Generator().manual_seed(0)
    direction = torch.randn(3 * 4 * 4, generator=g)
    direction /= direction.norm()
    weights = torch.randn(64, 1, generator=g) * direction + 1e-3 * torch.randn(64, 48, generator=g)
    components, explained = patch_filter_components(weights.reshape(64, 3, 4, 4), k=5)
    assert components.shape == (5, 3, 4, 4) and explained.shape == (5,)
    assert abs(torch.dot(components[0].flatten(), direction)) > 0.99
    assert explained[0] > 0.99 and explained.sum() <= 1 + 1e-6


def test_pos_embed_similarity_peaks_on_the_diagonal():
    sims = pos_embed_similarity(torch.randn(1, 1 + 16, 32))
    assert sims.shape == (4, 4, 4, 4)
    for r in range(4):
        for c in range(4):
            assert sims[r, c, r, c].item() == pytest.approx(1.0, abs=1e-5)
            assert sims[r, c].argmax().item() == r * 4 + c


def test_ridge_probe_separates_clusters_and_few_shot_reports_every_seed():
    g = torch.Generator().manual_seed(0)
    centres = 5 * torch.randn(3, 8, generator=g)
    labels = torch.arange(3).repeat_interleave(40)
    feats = centres[labels] + torch.randn(120, 8, generator=g)
    assert ridge_probe(feats[::2], labels[::2], feats[1::2], labels[1::2], 3) == 1.0
    results = few_shot_probe(
        feats[::2], labels[::2], feats[1::2], labels[1::2], 3, shots=(1, 5), seeds=range(3)
    )
    assert set(results) == {1, 5} and all(len(v) == 3 for v in results.values())
    assert min(results[5]) > 0.9
    noisy = feats + 4 * torch.randn(120, 8, generator=g)  # some test points now land wrong
    predicted = ridge_predict(noisy[::2], labels[::2], noisy[1::2], 3)
    assert predicted.shape == (60,) and predicted.dtype == torch.int64
    accuracy = predicted.eq(labels[1::2]).float().mean().item()
    assert 0.4 < accuracy < 1.0
    assert ridge_probe(noisy[::2], labels[::2], noisy[1::2], labels[1::2], 3) == accuracy
    with pytest.raises(ValueError, match="need 50"):
        few_shot_probe(feats, labels, feats, labels, 3, shots=(50,), seeds=[0])


def test_extract_features_reads_the_pooled_vector():
    model = create_model("vit_cifar_nano")
    batches = [(torch.randn(4, 3, 32, 32), torch.arange(4)) for _ in range(2)]
    feats, labels = extract_features(model, batches)
    assert feats.shape == (8, 64) and labels.tolist() == [0, 1, 2, 3] * 2
    resnet_feats, _ = extract_features(create_model("resnet_cifar_nano"), batches)
    assert resnet_feats.shape == (8, 64)


def test_nearest_neighbours_find_planted_duplicates_in_chunks():
    from course_lib.analysis.embeddings import nearest_neighbours

    torch.manual_seed(0)
    train = torch.randn(500, 32)
    test = torch.randn(40, 32)
    test[[3, 17]] = 2.5 * train[[250, 7]] + 1e-3 * torch.randn(2, 32)  # rescaled near-copies
    similarity, index = nearest_neighbours(test, train, chunk=16)
    assert similarity.shape == index.shape == (40,)
    top2 = similarity.topk(2).indices.sort().values
    assert top2.tolist() == [3, 17]
    assert index[3] == 250 and index[17] == 7 and similarity[3] > 0.999
    everything = (F.normalize(test, dim=1) @ F.normalize(train, dim=1).T).max(dim=1)
    torch.testing.assert_close(similarity, everything.values)
    with pytest.raises(ValueError, match="same width"):
        nearest_neighbours(test, train[:, :8])
