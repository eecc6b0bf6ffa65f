"""The task table and each task's objective: one signature, loss(model, batch, generator) -> (loss, logs), and
every random number drawn from the generator the loop passes, so a recipe is the same run from the same seed."""

import pytest
import torch

from tests.diffusion_fixtures import TINY as TINY_DIFFUSION
from tests.diffusion_fixtures import TINY_VAE
from unetlab import recipes, registry, tasks
from unetlab.colorize import HINT_CHANNELS, bins
from unetlab.data import Data, DataError
from unetlab.models.unet import purity_net
from unetlab.recipes import Recipe
from unetlab.train import Batch, train

SIDE = 8
UNET = dict(base=4, depth=2)
LATENT = dict(in_channels=1, image_size=SIDE, base=4, depth=2, latent=4)
# (task, model, config, channels of the data, stochastic: does the loss draw random numbers?)
CASES = [
    ("reconstruct", "unet", {**UNET, "in_channels": 3, "out_channels": 3}, 3, False),
    ("colorize", "unet", {**UNET, "in_channels": 1, "out_channels": 3, "output": "sigmoid"}, 3, False),
    ("colorize", "unet", {**UNET, "in_channels": 1, "out_channels": bins().count, "output": "linear"}, 3, True),
    ("colorize", "unet", {**UNET, "in_channels": HINT_CHANNELS, "out_channels": 2 + bins().count}, 3, True),
    ("vae", "vae", LATENT, 1, True),
    ("latent-ae", "ae", LATENT, 1, False),
    ("latent-ae", "dae", {**LATENT, "noise": "gaussian", "level": 0.3}, 1, True),
    ("latent-ae", "vq-vae", {**LATENT, "dim": 2, "codebook": 8}, 1, False),
    ("diffusion", "diffusion", {**TINY_DIFFUSION, "prediction_type": "epsilon"}, 1, True),
    ("diffusion", "diffusion", {**TINY_DIFFUSION, "prediction_type": "sample"}, 1, True),
    ("diffusion", "diffusion", {**TINY_DIFFUSION, "prediction_type": "v_prediction"}, 1, True),
    ("classifier", "classifier", {"image_size": SIDE, "width": 4}, 1, False),
    ("anomaly", "unet", purity_net(skip=False, bottleneck=True, image_size=SIDE).to_dict(), 1, False),
    ("ldm-vae", "ldm-vae", TINY_VAE, 3, True),
    ("ldm", "ldm", {**TINY_DIFFUSION, "channels": 4, "classes": 2, "prediction_type": "v_prediction"}, 4, True),
]
IDS = [f"{task}-{model}-{i}" for i, (task, model, *_) in enumerate(CASES)]


def tiny_data(channels: int, classes: int = 10) -> Data:
    """Smooth random images with class labels (digits by default), made here: 16 to train on, 4 held out."""
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.interpolate(torch.rand(20, channels, 4, 4, generator=g), size=SIDE, mode="bilinear")
    y = torch.randint(0, classes, (20,), generator=g)
    return Data("tiny", x[:16], x[16:], train_labels=y[:16], test_labels=y[16:])


def loss_of(case, seed: int, global_seed: int) -> tuple[torch.Tensor, dict]:
    task, model, config, channels, _ = case
    r = Recipe("tiny", task, model, config, "tiny", epochs=1, batch_size=8, lr=1e-3)
    data = tiny_data(channels, config.get("classes", 10))
    objective = tasks.get(task).objective(r, data)
    torch.manual_seed(0)
    net = registry.build(model, config).eval()  # eval: no dropout, no codebook restarts (the model's own draws)
    torch.manual_seed(global_seed)  # the global RNG is elsewhere every call: an objective must not draw from it
    batch = Batch(data.train[:8], data.train_labels[:8])
    return objective.loss(net, batch, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_loss_is_the_same_from_the_same_seed(case):
    a, logs = loss_of(case, seed=3, global_seed=1)
    b, _ = loss_of(case, seed=3, global_seed=2)
    assert a.ndim == 0 and torch.isfinite(a)
    assert torch.equal(a, b)
    assert all(isinstance(v, float) for v in logs.values())
    if case[-1]:  # stochastic: some other seed draws differently (a colouriser's pixel phase is one of 4)
        assert any(not torch.equal(a, loss_of(case, seed=s, global_seed=1)[0]) for s in range(4, 8))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_heldout_evaluation_takes_the_same_batch(case):
    task, model, config, channels, _ = case
    r = Recipe("tiny", task, model, config, "tiny", epochs=1, batch_size=8, lr=1e-3)
    data = tiny_data(channels, config.get("classes", 10))
    torch.manual_seed(0)
    net = registry.build(model, config).eval()
    with torch.no_grad():
        loss, mse, columns = tasks.get(task).objective(r, data).evaluate(net, Batch(data.test, data.test_labels))
    assert loss.shape == mse.shape == (4,) and all(len(c) == 4 for c in columns)


def test_every_task_is_tested():
    assert {case[0] for case in CASES} == set(tasks.TASKS)


def test_the_elbo_logs_its_terms_per_epoch():
    torch.manual_seed(0)
    model = registry.build("vae", LATENT)
    (report,) = train(model, tiny_data(1), epochs=1, batch_size=8, lr=1e-3, objective=tasks.latent.ELBO())
    assert set(report.logs) == {"recon", "kl"} and report.logs["kl"] >= 0
    assert "logs" not in report.row()  # the card's history is unchanged


def test_an_unknown_task_names_the_valid_ones():
    with pytest.raises(KeyError, match="unknown task 'denoise'; valid: reconstruct, colorize, vae, latent-ae"):
        tasks.get("denoise")


def test_every_recipe_names_a_known_task_and_model():
    for r in recipes.RECIPES.values():
        assert tasks.get(r.task).name == r.task
        assert r.model in registry.MODELS, r.name


def test_a_labelled_task_refuses_unlabelled_data_before_training():
    r = recipes.get("digits-classifier").with_overrides(dataset="faces")
    with pytest.raises(DataError, match="trains on class labels, and faces has none; use digits"):
        recipes.load_data(r)


def test_a_labelled_objective_without_labels_says_so():
    with pytest.raises(ValueError, match="trains on class labels, and the data has none"):
        Batch(torch.zeros(1, 1, SIDE, SIDE)).need_labels()


@pytest.mark.parametrize("kind", ["epsilon", "sample", "v_prediction"])
def test_each_targets_x0_is_the_clean_image(kind):
    """x_t = sqrt(abar) x0 + sqrt(1 - abar) eps. The U-Net's target for each prediction type, put back through
    diffusion.predicted_x0, gives x0 back at every t; v is sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022)."""
    from unetlab.diffusion import predicted_x0
    from unetlab.models.diffusion import DiffusionConfig
    from unetlab.tasks.diffusion import target

    sched = DiffusionConfig(prediction_type=kind).scheduler()
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(5, 1, 4, 4, generator=g) * 2 - 1, torch.randn(5, 1, 4, 4, generator=g)
    t = torch.tensor([0, 10, 300, 700, 999])
    x_t = sched.add_noise(x0, eps, t)
    y = target(sched, x0, eps, t)
    abar = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    expected = {"epsilon": eps, "sample": x0, "v_prediction": abar.sqrt() * eps - (1 - abar).sqrt() * x0}[kind]
    assert torch.allclose(y, expected, atol=1e-6)
    assert torch.allclose(
        predicted_x0(y, x_t, t, sched.alphas_cumprod, kind), x0, atol=1e-3 if kind == "epsilon" else 1e-5
    )
