"""A recipe trains once; the same recipe called again loads the finished model."""

import torch

from course_lib.data import load_dataset
from course_lib.train import VIT_RECIPES, Recipe, train_recipe


def test_second_call_loads_the_same_model(tmp_path):
    data = load_dataset("shapes", n_train=200, n_test=100, seed=0)
    recipe = Recipe("vit_cifar_nano", epochs=1, per_class=10, test_per_class=5, batch_size=32)
    first = train_recipe(recipe, data, device="cpu", checkpoint_root=tmp_path, verbose=False)
    # A second call that retrained would rewrite the checkpoints (same values, new files).
    finished = {p: p.stat().st_mtime_ns for p in first.checkpoint_dir.iterdir()}
    assert finished
    second = train_recipe(recipe, data, device="cpu", checkpoint_root=tmp_path, verbose=False)
    assert {p: p.stat().st_mtime_ns for p in second.checkpoint_dir.iterdir()} == finished
    assert first.checkpoint_dir == second.checkpoint_dir
    assert second.history["test_acc"] == first.history["test_acc"]
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert len(first.train_split) == 100


def test_recipes_exist_for_every_profile_and_differ():
    assert set(VIT_RECIPES) == {"smoke", "cpu", "gpu", "live"}
    assert VIT_RECIPES["live"] is VIT_RECIPES["smoke"]
    prints = {r.fingerprint() for r in VIT_RECIPES.values()}
    assert len(prints) == 3
