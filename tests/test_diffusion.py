import json

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from PIL import Image

from tests.diffusion_fixtures import save_tiny_classifier, save_tiny_models, tiny_model
from unetlab import data, diffusion, metrics, registry
from unetlab.__main__ import main
from unetlab.tasks.diffusion import Denoise
from unetlab.train import train


@pytest.fixture
def clean():
    """Clean images in [-1, 1], noise, and timesteps from a 1000-step schedule."""
    g = torch.Generator().manual_seed(0)
    return torch.rand((4, 1, 8, 8), generator=g) * 2 - 1, torch.randn((4, 1, 8, 8), generator=g)


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("cls", [DDPMScheduler, DDIMScheduler])
def test_x0_is_recovered_exactly_from_a_perfect_epsilon_or_v(cls, kind, clean):
    x0, noise = clean
    sched = cls(prediction_type=kind)
    sched.set_timesteps(50)
    for t in sched.timesteps[[0, 10, 49]]:
        x_t = sched.add_noise(x0, noise, t.expand(4))
        perfect = noise if kind == "epsilon" else sched.get_velocity(x0, noise, t.expand(4))
        out = sched.step(perfect, t, x_t).pred_original_sample
        torch.testing.assert_close(out, x0, atol=2e-4, rtol=0)  # t = 999: x_t is 99.998% noise, fp32 round-off
        ours = diffusion.predicted_x0(perfect, x_t, t.expand(4), sched.alphas_cumprod, kind)
        torch.testing.assert_close(ours, out, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cls", [DDPMScheduler, DDIMScheduler])
def test_x0_is_recovered_exactly_from_a_perfect_x0(cls, clean):
    x0, noise = clean
    sched = cls(prediction_type="sample")
    sched.set_timesteps(50)
    for t in sched.timesteps[[0, 25, 49]]:
        x_t = sched.add_noise(x0, noise, t.expand(4))
        assert torch.equal(sched.step(x0, t, x_t).pred_original_sample, x0)
        assert torch.equal(diffusion.predicted_x0(x0, x_t, t.expand(4), sched.alphas_cumprod, "sample"), x0)


def test_sampling_steps_and_shapes():
    model = tiny_model().eval()
    steps = list(diffusion.sample(model, torch.tensor([1, 2, 3]), steps=5, scheduler="ddim"))
    assert [s.index for s in steps] == [0, 1, 2, 3, 4]
    assert steps[0].t > steps[-1].t
    assert steps[-1].x_t.shape == steps[-1].x0.shape == (3, 1, 8, 8)


def test_same_seed_same_noise_same_samples():
    model = tiny_model().eval()
    kw = dict(steps=4, scheduler="ddpm", seed=3, fast=False)
    a, b = diffusion.final(model, torch.tensor([4]), **kw), diffusion.final(model, torch.tensor([4]), **kw)
    assert torch.equal(a, b)
    other = diffusion.final(model, torch.tensor([4]), **(kw | {"seed": 4}))
    assert not torch.equal(a, other)


def test_conditioning_and_guidance_change_the_output():
    model = tiny_model().eval()
    kw = dict(steps=4, scheduler="ddim", seed=0, fast=False)
    three = diffusion.final(model, torch.tensor([3]), guidance=1.0, **kw)
    eight = diffusion.final(model, torch.tensor([8]), guidance=1.0, **kw)
    guided = diffusion.final(model, torch.tensor([3]), guidance=4.0, **kw)
    assert (three - eight).abs().max() > 1e-4
    assert (three - guided).abs().max() > 1e-4


def test_bad_sampling_settings_say_what_is_valid():
    model = tiny_model()
    with pytest.raises(ValueError, match="ddpm"):
        next(diffusion.sample(model, torch.tensor([1]), scheduler="euler"))
    with pytest.raises(ValueError, match="steps must be between 1 and 50"):
        next(diffusion.sample(model, torch.tensor([1]), steps=51))
    with pytest.raises(ValueError, match="eta"):
        next(diffusion.sample(model, torch.tensor([1]), eta=2.0))


def test_the_loop_trains_diffusion_with_labels():
    d = data.digits(8)
    d.train, d.train_labels = d.train[:64], d.train_labels[:64]
    model = tiny_model("sample")
    reports = list(train(model, d, epochs=2, batch_size=32, lr=1e-3, objective=Denoise()))
    assert len(reports) == 2 and np.isfinite(reports[-1].train_loss)
    assert reports[-1].grid.shape[1] == 3 * 8 + 2 * 2  # columns: x0 | x_t | predicted x0


def test_batches_with_labels_need_labels():
    with pytest.raises(data.DataError, match="no labels"):
        next(data.faces(8).batches(4, torch.Generator(), labels=True))
    x, y = next(data.digits(8).batches(4, torch.Generator(), labels=True))
    assert x.shape == (4, 1, 8, 8) and y.shape == (4,)


def test_save_load_round_trip_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tiny_model("sample")
    card_path = registry.save(model, {"name": "m", "task": "diffusion", "model": "diffusion", "config": {}}, tmp_path)
    card = json.loads(card_path.read_text())
    assert card["weights"] == "m"
    assert set(card["files"]) == {
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "scheduler/scheduler_config.json",
        "prompt.safetensors",
    }
    loaded = registry.Registry(tmp_path).load("m")
    assert loaded.config == model.config
    assert loaded.scheduler().config.prediction_type == "sample"
    x, t, y = torch.randn(2, 1, 8, 8), torch.tensor([3, 30]), torch.tensor([1, 10])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, t, y), model.eval()(x, t, y))


def test_corrupt_or_missing_files_name_the_file_and_the_command(tmp_path):
    save_tiny_models(tmp_path)
    weights = tmp_path / "ddpm-eps" / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    reg = registry.Registry(tmp_path)
    with pytest.raises(registry.WeightsError, match="diffusion_pytorch_model.safetensors does not match.*ddpm-eps"):
        reg.load("ddpm-eps")
    (tmp_path / "ddpm-x0" / "prompt.safetensors").unlink()
    with pytest.raises(registry.WeightsError, match="prompt.safetensors .* is missing.*--recipe ddpm-x0"):
        reg.load("ddpm-x0")


def test_radial_power_puts_a_cosine_at_its_frequency():
    yy, xx = np.mgrid[:16, :16]
    wave = np.cos(2 * np.pi * 3 * xx / 16)
    p = metrics.radial_power(wave, mean=False)
    assert p.argmax() == 3 and p[3] / p.sum() == pytest.approx(1)
    assert metrics.hf_fraction(wave) == pytest.approx(0)
    assert metrics.hf_fraction((-1.0) ** (xx + yy)) == pytest.approx(1)  # the checkerboard: Nyquist only


def test_hf_ratio_against_hand_known_spectra():
    """A reference with equal power at 1 and 6 cycles per image has half its energy above H/4 = 4 cycles: samples
    with only the broad wave have none of it (ratio 0), only the fine wave all of it (ratio 2). White noise spreads
    its power evenly over the 255 non-DC frequencies of a 16x16 image, 187 of which lie beyond radius 4."""
    xx = np.mgrid[:16, :16][1]
    broad, fine = np.cos(2 * np.pi * xx / 16), np.cos(2 * np.pi * 6 * xx / 16)
    reference = (broad + fine)[None]
    assert diffusion.hf_ratio(broad[None], reference) == pytest.approx(0, abs=1e-12)
    assert diffusion.hf_ratio(fine[None], reference) == pytest.approx(2)
    noise = np.random.default_rng(0).standard_normal((2000, 16, 16))
    assert diffusion.hf_ratio(noise, reference) == pytest.approx(2 * 187 / 255, rel=0.01)


def test_hf_ratio_sees_blur_and_speckle_on_real_digits():
    real = data.digits(16).test.numpy()
    blurred = torch.nn.functional.avg_pool2d(torch.from_numpy(real), 3, 1, 1).numpy()
    assert diffusion.hf_ratio(blurred, real) < 0.5
    speckled = np.clip(real + np.random.default_rng(0).normal(0, 0.1, real.shape), 0, 1)
    assert diffusion.hf_ratio(speckled, real) > 3


def test_the_trajectory_keeps_both_models_from_the_same_noise():
    models = {"eps": tiny_model("epsilon").eval(), "x0": tiny_model("sample", seed=1).eval()}
    traj = diffusion.side_by_side(models, 5, n=2, steps=3, scheduler="ddim", guidance=2.0, seed=0)
    assert traj.x_t["eps"].shape == traj.x0["x0"].shape == (3, 2, 8, 8)
    assert diffusion.panel(traj, "eps", 99).shape == (8 * (2 * 8 + 1), 8 * (2 * 8 + 1), 3)  # clamped to the last
    real = np.random.default_rng(0).random((5, 1, 8, 8))
    assert {r["series"] for r in diffusion.band_curves(traj, real)} == {
        f"{m}: {b}" for m in ("eps", "x0") for b in ("low", "mid", "high")
    }  # 8x8: the rings scaled to its Nyquist frequency 4 (diffusion.bands)


def test_side_by_side_reports_every_step_of_every_model():
    models = {"eps": tiny_model("epsilon").eval(), "x0": tiny_model("sample", seed=1).eval()}
    calls = []
    diffusion.side_by_side(models, 5, n=1, steps=3, on_step=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]  # the eps-model's 3 steps, then the x0-model's


def test_grid_report_reports_every_step_of_every_model():
    models = {"eps": tiny_model("epsilon").eval(), "x0": tiny_model("sample", seed=1).eval()}
    calls = []
    diffusion.grid_report(models, None, 1, steps=2, on_step=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_plot_series_are_named_by_role_whatever_the_models():
    """Gradio's LinePlot keeps the colours and legend of its first data: the series must not carry model names."""
    real = np.random.default_rng(0).random((5, 1, 8, 8))
    series = []
    for eps_name in ("eps-a", "eps-b"):
        models = {eps_name: tiny_model("epsilon").eval(), "x0": tiny_model("sample", seed=1).eval()}
        traj = diffusion.side_by_side(models, 5, n=1, steps=2)
        roles = {eps_name: "ε-model", "x0": "x0-model"}
        bands = {r["series"] for r in diffusion.band_curves(traj, real, roles)}
        spectrum = {r["series"] for r in diffusion.spectrum_rows(traj, 1, real, roles)}
        series.append((bands, spectrum))
    assert series[0] == series[1]
    assert series[0][0] == {f"{m}: {b}" for m in ("ε-model", "x0-model") for b in ("low", "mid", "high")}
    assert series[0][1] == {
        "real digits",
        "ε-model: predicted x0",
        "ε-model: x_t",
        "x0-model: predicted x0",
        "x0-model: x_t",
    }


def test_the_trajectorys_hf_ratios_are_its_final_samples():
    models = {"eps": tiny_model("epsilon").eval(), "x0": tiny_model("sample", seed=1).eval()}
    traj = diffusion.side_by_side(models, 5, n=2, steps=2, seed=0)
    assert set(traj.hf_ratios) == {"eps", "x0"} and traj.hf_ratios["eps"] != traj.hf_ratios["x0"]
    traj.x_t["eps"][-1] = np.tile(np.array([0, 255], np.uint8), (2, 8, 4))  # final samples: stripes at Nyquist
    assert traj.hf_ratios["eps"] == pytest.approx(1 / metrics.hf_fraction(data.digits(8).test.numpy()))


def test_card_figures_are_the_cards_numbers():
    from tests.diffusion_fixtures import tiny_card

    eps = tiny_card("ddpm-eps", "epsilon")
    eps["metrics"]["by_guidance"]["2"] = {"sample_accuracy": 0.25, "hf_ratio": 0.5}
    table = diffusion.card_figures({"ddpm-eps": eps, "bare": {"config": {"prediction_type": "sample"}}})
    assert table.scales == ["1", "2"] and table.sampler["steps"] == 50 and table.classifier == "digits-classifier"
    assert table.models == [
        diffusion.CardFigures("ddpm-eps", "epsilon", {"1": 0.5, "2": 0.25}, {"1": 1.0, "2": 0.5}),
        diffusion.CardFigures("bare", "sample", {}, {}),
    ]
    empty = diffusion.card_figures({"bare": {}})
    assert empty.scales == [] and empty.sampler is None and empty.models[0].prediction_type == "?"
    assert empty.classifier is None


class _SaysZero(torch.nn.Module):
    """A classifier that reads every image as a 0."""

    config = type("Config", (), {"image_size": 8})

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), 10).float()


def test_grid_report_judges_every_digit():
    models = {"eps": tiny_model("epsilon").eval(), "x0": tiny_model("sample", seed=1).eval()}
    report = diffusion.grid_report(models, _SaysZero(), 2, steps=2, scheduler="ddim")
    assert [g.shape for g in report.grids] == [(10 * 9 - 1, 2 * 9 - 1, 3)] * 2  # row = digit, 2 samples each
    assert [(f.name, f.samples) for f in report.figures] == [("eps", 20), ("x0", 20)]
    assert [f.accuracy for f in report.figures] == pytest.approx([0.1, 0.1])  # the 0s of the ten digits
    assert diffusion.grid_report(models, None, 1, steps=2).figures[0].accuracy is None
    with pytest.raises(ValueError, match="between 1 and 16"):
        diffusion.grid_report(models, None, 17)


def test_models_by_prediction_type_and_dataset_and_the_judge(tmp_path):
    save_tiny_models(tmp_path, mnist=True)
    save_tiny_classifier(tmp_path, "mnist-classifier", 12)
    reg = registry.Registry(tmp_path)
    assert diffusion.models_predicting(reg, "epsilon") == ["ddpm-eps", "ddpm-mnist-eps"]
    assert diffusion.models_predicting(reg, "sample", "digits") == ["ddpm-x0"]
    assert diffusion.models_predicting(reg, "v_prediction", "mnist") == ["ddpm-mnist-v"]
    assert diffusion.models_of(reg, "mnist") == ["ddpm-mnist-eps", "ddpm-mnist-v", "ddpm-mnist-x0"]
    assert diffusion.models_of(reg, "digits") == ["ddpm-eps", "ddpm-x0"]
    assert diffusion.dataset_of(reg, "ddpm-mnist-v") == "mnist"
    assert diffusion.judge(reg) is None  # no digits-classifier here
    assert diffusion.judge(reg, "mnist").config.image_size == 12


def test_only_models_of_one_dataset_are_compared(tmp_path):
    save_tiny_models(tmp_path, mnist=True)
    reg = registry.Registry(tmp_path)
    assert diffusion.shared_dataset(reg, ["ddpm-mnist-eps", "ddpm-mnist-v"]) == "mnist"
    assert diffusion.shared_dataset(reg, ["ddpm-eps", "ddpm-x0"]) == "digits"
    with pytest.raises(ValueError, match="not ddpm-eps on digits, ddpm-mnist-v on mnist") as e:
        diffusion.shared_dataset(reg, ["ddpm-eps", "ddpm-mnist-v"])
    assert "digits: ddpm-eps, ddpm-x0; mnist: ddpm-mnist-eps, ddpm-mnist-v, ddpm-mnist-x0" in str(e.value)
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        diffusion.shared_dataset(reg, ["ddpm-eps", "nope"])
    models = {"eps": tiny_model("epsilon").eval(), "v": tiny_model("v_prediction", dataset="mnist").eval()}
    with pytest.raises(ValueError, match=r"different sizes \(eps 8x8, v 12x12\)"):
        diffusion.side_by_side(models, 3, n=1, steps=1)
    with pytest.raises(ValueError, match="different sizes"):
        diffusion.grid_report(models, None, 1, steps=1)


def test_bands_keep_their_share_of_the_nyquist_frequency():
    assert diffusion.bands(16) == diffusion.BANDS  # chosen for 16x16: Nyquist 8
    assert diffusion.bands(28) == {"low": (1, 4), "mid": (5, 9), "high": (10, 14)}  # Nyquist 14
    assert diffusion.bands(8) == {"low": (1, 1), "mid": (2, 3), "high": (4, 4)}
    # a wave at 3/4 of 28x28's Nyquist frequency (10.5 cycles: 11) is fine detail, as 6 cycles is at 16x16
    xx = np.mgrid[:28, :28][1]
    fine = np.cos(2 * np.pi * 11 * xx / 28)
    traj = diffusion.Trajectory(["m"], 3, "mnist", [999], {}, {"m": (255 * (fine + 1) / 2)[None, None]}, {})
    traj.x_t["m"] = traj.x0["m"]
    real = np.random.default_rng(0).random((50, 1, 28, 28))
    db = {r["series"]: r["power (dB vs real digits)"] for r in diffusion.band_curves(traj, real)}
    assert db["m: high"] > db["m: mid"] + 20 and db["m: high"] > db["m: low"] + 20


def test_a_trajectory_is_measured_against_its_own_datasets_digits():
    """MNIST samples against MNIST digits at the models' size, not the 16x16 digits: the reference changes the
    numbers, and the grid's figures use the same reference."""
    models = {"eps": tiny_model("epsilon", dataset="mnist").eval(), "v": tiny_model("v_prediction", dataset="mnist")}
    traj = diffusion.side_by_side(models, 3, n=2, steps=2, dataset="mnist")
    assert traj.size == 12 and traj.x_t["v"].shape == (2, 2, 12, 12)
    mnist = data.mnist(12).test.numpy()
    assert np.array_equal(traj.real, mnist)
    final = traj.x_t["v"][-1][:, None] / 255.0
    assert traj.hf_ratios["v"] == pytest.approx(diffusion.hf_ratio(final, mnist))
    assert traj.hf_ratios["v"] != pytest.approx(diffusion.hf_ratio(final, data.digits(12).test.numpy()))
    report = diffusion.grid_report(models, None, 1, steps=2, dataset="mnist")
    xs = diffusion.final(models["eps"], torch.arange(10), steps=2)
    assert report.figures[0].hf_ratio == pytest.approx(diffusion.hf_ratio(xs, mnist))


def test_cli_sample_writes_label_files_and_timelines(tmp_path, monkeypatch, capsys):
    save_tiny_models(tmp_path)
    monkeypatch.setenv("UNETLAB_WEIGHTS", str(tmp_path))  # the folder the CLI's registry reads
    out = tmp_path / "out"
    args = ["sample", "--model", "ddpm-eps", "--label", "7", "--n", "2", "--steps", "3", "--out", str(out)]
    assert main(args + ["--timeline"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["7_0.png", "7_0_timeline.png", "7_1.png", "7_1_timeline.png"]
    assert Image.open(out / "7_0.png").size == (8, 8)
    assert Image.open(out / "7_0_timeline.png").size == (3 * 9 - 1, 2 * 9 - 1)  # 3 steps; x_t over x0
    assert main(["sample", "--model", "ddpm-x0", "--label", "all", "--n", "1", "--steps", "2", "--out", str(out)]) == 0
    assert all((out / f"{d}_0.png").is_file() for d in range(10))
    capsys.readouterr()
    assert main(["sample", "--model", "tiny", "--label", "3", "--out", str(out)]) == 1
    assert "valid names" in capsys.readouterr().err
    assert main(["sample", "--model", "ddpm-eps", "--steps", "51", "--out", str(out)]) == 1  # the model's 50
    assert "steps must be between 1 and 50, got 51" in capsys.readouterr().err


def test_cli_sample_writes_nothing_when_sampling_gives_nan(tmp_path, monkeypatch, capsys):
    save_tiny_models(tmp_path)
    monkeypatch.setenv("UNETLAB_WEIGHTS", str(tmp_path))  # the folder the CLI's registry reads
    nan = torch.full((1, 1, 8, 8), float("nan"))
    monkeypatch.setattr(diffusion, "sample", lambda model, labels, **kw: iter([diffusion.Step(0, 0, nan, nan)]))
    out = tmp_path / "out"
    assert main(["sample", "--model", "ddpm-eps", "--label", "7", "--n", "1", "--out", str(out)]) == 1
    assert "NaN or infinite pixels; nothing was written" in capsys.readouterr().err
    assert not out.exists()
