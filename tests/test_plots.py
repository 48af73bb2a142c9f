"""The evidence figures: shared colour scales, mistakes from every class, seeds with error bars."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import plots  # noqa: E402
from course_lib.claims import standard_error  # noqa: E402

CLASSES = [f"class {k}" for k in range(10)]


def _images(n):
    return (torch.rand(n, 3, 32, 32) * 255).to(torch.uint8)


def test_attention_maps_of_a_row_share_one_colour_scale():
    maps = torch.rand(4, 8, 8)
    maps[0] = 1 / 64  # a uniform map must not be stretched to look structured
    fig = plots.attention_overlays(
        _images(4), {"last layer": maps}, "t", titles=["a -> b"] * 4, uniform={"last layer": 1 / 64}
    )
    heat = [ax.get_images()[-1] for ax in fig.axes[4:8]]  # row 1: image + overlay per axis
    limits = {im.get_clim() for im in heat}
    assert limits == {(0.0, float(maps.max()))}
    assert fig.axes[0].get_title() == "a -> b"
    plt.close(fig)


def test_mistakes_are_taken_from_every_class_in_turn():
    targets = torch.arange(100) // 10  # stored class by class, like the CIFAR-10 test set
    predictions = (targets + 1) % 10  # every image wrong
    fig = plots.mistakes(_images(100), targets, predictions, CLASSES, count=10)
    shown = [ax.get_title().split("\n")[0] for ax in fig.axes if ax.get_title()]
    assert sorted(shown) == sorted(CLASSES)  # one of each class, not ten of the first
    plt.close(fig)


def test_seed_comparison_draws_the_mean_and_its_standard_error():
    arms = {"a": [1.0, 2.0, 4.0], "b": [0.5, 0.7, 0.9]}
    fig = plots.seed_comparison({"group": arms}, ylabel="y", reference=0.0)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if hasattr(c, "lines")]
    assert len(bars) == 2
    caps = bars[0].lines[2][0].get_segments()[0]  # the vertical error bar of arm "a"
    assert caps[1][1] - caps[0][1] == pytest.approx(2 * standard_error(arms["a"]))
    plt.close(fig)


def test_accuracy_vs_data_draws_seed_means_with_error_bars_in_fixed_colours():
    curves = {"ResNet": {50: [0.40, 0.42, 0.44], 1000: [0.5, 0.52, 0.51]}, "ViT": {50: 0.3}}
    fig = plots.accuracy_vs_data(curves, chance=0.1, colors={"ViT": "tab:red"})
    ax = fig.axes[0]
    resnet, vit = [c for c in ax.containers if hasattr(c, "lines")]
    assert resnet.lines[0].get_ydata()[0] == pytest.approx(42.0)
    bar = resnet.lines[2][0].get_segments()[0]
    assert bar[1][1] - bar[0][1] == pytest.approx(2 * 100 * standard_error([0.40, 0.42, 0.44]))
    assert vit.lines[0].get_color() == "tab:red"  # the colour given, whatever the order
    assert resnet.lines[0].get_color() != "tab:red"
    plt.close(fig)


def test_model_tradeoffs_draws_an_error_bar_only_where_one_is_given():
    models = {
        "ResNet": {
            "parameters": 78_000,
            "images_per_s": 590.0,
            "accuracy": 0.35,
            "accuracy_se": 0.01,
        },
        "ViT": {"parameters": 208_000, "images_per_s": 440.0, "accuracy": 0.25},
    }
    fig = plots.model_tradeoffs(models, chance=0.1)
    for ax in fig.axes[:2]:
        (bars,) = [c for c in ax.containers if hasattr(c, "lines")]
        segment = bars.lines[2][0].get_segments()[0]
        assert segment[0][1] == pytest.approx(34.0) and segment[1][1] == pytest.approx(36.0)
    plt.close(fig)


def test_band_noise_drops_draws_seed_means_with_error_bars_per_norm():
    drops = {
        norm: {
            "ViT": {"0-0.5": [1.0, 2.0, 3.0], "0.5-1": [0.0, 0.0, 0.0]},
            "ResNet": {"0-0.5": [4.0, 4.0, 4.0], "0.5-1": [9.0, 10.0, 11.0]},
        }
        for norm in (4.0, 8.0)
    }
    fig = plots.band_noise_drops(drops, colors={"ViT": "C0", "ResNet": "C3"})
    assert [ax.get_title() for ax in fig.axes] == ["noise norm 4", "noise norm 8"]
    bars = fig.axes[0].containers  # one errorbar container per model
    assert len(bars) == 2
    line, _, (vertical,) = bars[0]
    assert list(line.get_ydata()) == [2.0, 0.0]  # the means over the seeds
    segments = vertical.get_segments()
    half = standard_error([1.0, 2.0, 3.0])
    assert segments[0][:, 1].tolist() == pytest.approx([2.0 - half, 2.0 + half])
    plt.close(fig)


def test_landscape_slices_draw_every_direction_and_their_mean_relative_to_the_centre():
    alphas = torch.tensor([-1.0, 0.0, 1.0])
    lines = [torch.tensor([3.0, 1.0, 3.0]), torch.tensor([5.0, 1.0, 5.0])]
    fig = plots.landscape_slices(
        {"NLL + L2": {"ViT": (alphas, lines)}, "NLL only": {"ViT": (alphas, lines)}}
    )
    assert [ax.get_title() for ax in fig.axes] == ["NLL + L2", "NLL only"]
    drawn = fig.axes[0].get_lines()
    assert len(drawn) == 3  # two directions and their mean
    assert list(drawn[-1].get_ydata()) == [3.0, 0.0, 3.0]
    plt.close(fig)


def test_eigenvalue_histograms_count_shares_on_a_symmetric_log_axis():
    spectra = {"trained": {"ViT": [torch.tensor([-0.5, 0.0, 1.0, 2.0])], "CNN": [torch.ones(8)]}}
    fig = plots.eigenvalue_histograms(spectra, linthresh=1e-2)
    ax = fig.axes[0]
    assert ax.get_xscale() == "symlog"
    steps = [p for p in ax.patches]
    assert len(steps) == 2
    for patch in steps:  # each model's shares sum to 1, whatever its number of eigenvalues
        assert patch.get_data().values.sum() == pytest.approx(1.0)
    plt.close(fig)


def test_recipe_ladder_draws_each_rung_with_its_error_bar_and_a_reference_band():
    rungs = {"plain": [20.0, 22.0, 21.0], "+ cosine": [23.0, 24.0, 25.0]}
    fig = plots.recipe_ladder(rungs, "acc", references={"ResNet": [30.0, 31.0, 32.0]}, chance=10)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if hasattr(c, "has_yerr") and c.has_yerr]
    assert len(bars) == 2
    _, caps, _ = bars[1]
    low, high = sorted(caps[0].get_ydata()[0:1].tolist() + caps[1].get_ydata()[0:1].tolist())
    assert high - low == pytest.approx(2 * standard_error(rungs["+ cosine"]))
    assert [t.get_text() for t in ax.get_xticklabels()] == list(rungs)
    assert any("ResNet" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)


def test_accuracy_vs_images_draws_a_band_per_curve_and_short_runs_as_points():
    seen = [1000, 2000, 3000]
    curves = {"plain": (seen, [[10, 20, 30], [12, 22, 32]]), "aug": (seen, [[8, 18, 35]] * 2)}
    fig = plots.accuracy_vs_images(curves, {"plain": (500, [15.0, 17.0])}, title="t")
    ax = fig.axes[0]
    assert len(ax.get_lines()) >= 2 and len(ax.collections) >= 2  # mean lines and s.e. bands
    mean_line = ax.get_lines()[0]
    assert mean_line.get_ydata().tolist() == [11, 21, 31]
    plt.close(fig)


def test_lr_range_and_gradient_groups_draw_on_log_axes():
    fig = plots.lr_range([1e-5, 1e-4, 1e-3, 1e-2], [2.3, 2.2, 1.9, 9.0], 2e-3, 2.3)
    assert fig.axes[0].get_xscale() == "log"
    assert fig.axes[0].get_ylim()[1] <= 2 * 2.3 + 0.2  # the explosion does not flatten the rest
    plt.close(fig)
    fig = plots.gradient_groups({"head": 1.0, "norms": 1e-3}, {"head": 100, "norms": 4})
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "log"]
    plt.close(fig)


def test_transfer_curves_draw_one_panel_per_model_with_standard_errors():
    results = {
        "ViT": {"fine-tune": {1: [30.0, 32.0, 34.0], 5: [40.0, 41.0, 42.0]}},
        "ResNet": {"fine-tune": {1: [35.0, 35.0, 35.0], 5: [45.0, 46.0, 47.0]}},
    }
    fig = plots.transfer_curves(results, chance=25.0)
    assert [ax.get_title() for ax in fig.axes] == ["ViT", "ResNet"]
    assert fig.axes[0].get_xscale() == "log"
    line = fig.axes[0].containers[0]
    assert line.has_yerr
    assert list(line.lines[0].get_ydata()) == pytest.approx([32.0, 41.0])
    plt.close(fig)


def test_scaling_grid_writes_mean_and_error_in_each_cell_with_a_colour_bar():
    grid = {
        (r, c): [10.0 * i + j, 10.0 * i + j + 2]
        for i, r in enumerate("ab")
        for j, c in enumerate("xyz")
    }
    fig = plots.scaling_grid(grid, ["a", "b"], ["x", "y", "z"])
    assert len(fig.axes) == 2  # the map and its colour bar
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[0] == f"1.0\n±{standard_error([0.0, 2.0]):.1f}" and len(texts) == 6
    plt.close(fig)


def test_smooth_is_a_trailing_mean_and_loss_curves_draw_a_band_per_width():
    assert plots.transfer.smooth([1.0, 3.0, 5.0, 7.0], 2).tolist() == [1.0, 2.0, 4.0, 6.0]
    curves = {"width 32": ([1, 2, 3], [[3.0, 2.0, 1.5], [3.2, 2.2, 1.7]])}
    fig = plots.loss_vs_images(curves, target=1.6, target_label="target")
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].collections) == 1
    plt.close(fig)
    fig = plots.schedule_curves(
        {"cosine": ([1, 2, 3], [1e-3, 5e-4, 1e-5])}, {"cosine": curves["width 32"]}
    )
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[1].collections) == 1
    plt.close(fig)
