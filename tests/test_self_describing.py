"""Checkpoints say which model and settings wrote them: load_model rebuilds the model from the
file alone, a resume with other settings is refused, and a changed catalogue default trains
anew instead of reusing weights of another configuration."""

import pytest
import torch

from course_lib.data import DeviceLoader, load_dataset, make_shapes
from course_lib.models import create_model
from course_lib.models.state_dict import build_from_config, model_config
from course_lib.train import CheckpointError, Recipe, fit, load_model, train_recipe

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def loader():
    x, y = make_shapes(64, seed=0)
    return DeviceLoader(x, y, batch_size=16, mean=MEAN, std=STD, num_classes=10, seed=0)


def quiet_fit(model, loader, **kwargs):
    return fit(model, loader, epochs=1, progress=False, verbose=False, **kwargs)


def test_models_record_every_constructor_argument():
    model = create_model("deit_cifar_nano_distilled", num_classes=7, drop_path_rate=0.1)
    config = model_config(model)
    assert config["class"] == "course_lib.models.deit.DistilledVisionTransformer"
    assert config["name"] == "deit_cifar_nano_distilled"
    args = config["args"]
    assert (args["num_classes"], args["drop_path_rate"], args["embed_dim"]) == (7, 0.1, 64)
    assert args["mlp_ratio"] == 4.0  # defaults are recorded too
    rebuilt = build_from_config(config)
    assert type(rebuilt) is type(model) and rebuilt.init_args == model.init_args
    resnet = model_config(create_model("resnet_cifar_nano"))
    assert resnet["args"]["widths"] == (16, 32, 64)
    assert model_config(torch.nn.Linear(2, 2)) is None
    with pytest.raises(ValueError, match="not a course_lib.models class"):
        build_from_config({"class": "os.system", "args": {}})


def test_load_model_rebuilds_the_trained_model_from_the_checkpoint(tmp_path, loader):
    torch.manual_seed(0)
    model = create_model("vit_cifar_nano", num_classes=10, depth=2)
    quiet_fit(model, loader, checkpoint_dir=tmp_path, ema_decay=0.9)
    loaded = load_model(tmp_path / "last.pt")
    assert loaded.registered_name == "vit_cifar_nano" and len(loaded.blocks) == 2
    assert not loaded.training
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    ema = load_model(tmp_path / "last.pt", weights="ema")
    assert not torch.equal(ema.head.weight, loaded.head.weight)
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert saved["settings"]["lr"] == 1e-3 and saved["settings"]["epochs"] == 1


def test_load_model_explains_a_checkpoint_without_a_configuration(tmp_path, loader):
    quiet_fit(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)),
        loader,
        checkpoint_dir=tmp_path,
    )
    with pytest.raises(CheckpointError, match="does not say which model wrote it"):
        load_model(tmp_path / "last.pt")


def test_resume_with_other_settings_is_refused(tmp_path, loader):
    quiet_fit(create_model("resnet_cifar_nano"), loader, checkpoint_dir=tmp_path, lr=1e-3)
    with pytest.raises(CheckpointError, match=r"other settings \(lr: checkpoint 0.001, now 0.002"):
        quiet_fit(
            create_model("resnet_cifar_nano"), loader, checkpoint_dir=tmp_path, lr=2e-3, resume=True
        )
    with pytest.raises(CheckpointError, match=r"model: checkpoint .*'widths': \(16, 32, 64\)"):
        quiet_fit(
            create_model("resnet_cifar_nano", widths=(16, 32, 32)),
            loader,
            checkpoint_dir=tmp_path,
            lr=1e-3,
            resume=True,
        )
    quiet_fit(
        create_model("resnet_cifar_nano"), loader, checkpoint_dir=tmp_path, lr=1e-3, resume=True
    )  # the same settings: resumes (here: nothing left to do)


def test_a_changed_default_trains_anew(tmp_path, monkeypatch):
    import course_lib.train.recipes as recipes

    data = load_dataset("shapes", n_train=100, n_test=50, seed=0)
    recipe = Recipe(
        "vit_cifar_nano",
        epochs=1,
        per_class=5,
        test_per_class=2,
        batch_size=25,
        model_overrides={"depth": 1},
    )
    first = train_recipe(recipe, data, device="cpu", checkpoint_root=tmp_path, verbose=False)

    def changed_default(name, **overrides):  # a default that keeps every tensor shape
        return create_model(name, **{"drop_path_rate": 0.1, **overrides})

    monkeypatch.setattr(recipes, "create_model", changed_default)
    second = train_recipe(recipe, data, device="cpu", checkpoint_root=tmp_path, verbose=False)
    assert second.checkpoint_dir != first.checkpoint_dir
    assert second.model.init_args["drop_path_rate"] == 0.1


def test_resume_with_another_batch_size_is_refused(tmp_path):
    x, y = make_shapes(64, seed=0)

    def loader(batch_size):
        return DeviceLoader(
            x,
            y,
            batch_size=batch_size,
            mean=MEAN,
            std=STD,
            num_classes=10,
            shuffle=True,
            drop_last=True,
            seed=0,
        )

    quiet_fit(create_model("resnet_cifar_nano"), loader(16), checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="batch_size: checkpoint 16, now 32"):
        quiet_fit(
            create_model("resnet_cifar_nano"), loader(32), checkpoint_dir=tmp_path, resume=True
        )
