"""Tiny untrained diffusion models and a weights folder holding them, for the diffusion tests: 8x8 "digits" ones and
12x12 "mnist" ones (another size, as the real MNIST models' 28x28 differs from the digits models' 16x16)."""

import torch

from unetlab import registry

TINY = dict(image_size=8, widths=[8, 16], layers_per_block=1, heads=2, tokens=2, token_dim=8, train_timesteps=50)
TINY_VAE = dict(image_size=8, widths=[16, 16], latent_channels=4)  # 8x8x3 -> 4x4x4 (GroupNorm: 16 groups)
SIZES = {"digits": 8, "mnist": 12}
MNIST_MODELS = {"ddpm-mnist-eps": "epsilon", "ddpm-mnist-x0": "sample", "ddpm-mnist-v": "v_prediction"}


def tiny_card(name: str, prediction_type: str, dataset: str = "digits") -> dict:
    return {
        "name": name,
        "task": "diffusion",
        "model": "diffusion",
        "config": {**TINY, "image_size": SIZES[dataset], "prediction_type": prediction_type},
        "params": 0,
        "recipe": name,
        "command": f"python -m unetlab train --recipe {name}",
        "data": {"dataset": dataset},
        "history": [{"epoch": 1, "train_loss": 0.5, "test_loss": 0.4, "psnr": 10.0}],
        "metrics": {
            "sampler": {"scheduler": "ddim", "steps": 50, "eta": 0.0, "per_class": 1, "guidance": 1.0},
            "by_guidance": {"1": {"sample_accuracy": 0.5, "hf_ratio": 1.0}},
            "classifier": f"{dataset}-classifier",
        },
    }


def tiny_model(prediction_type: str = "epsilon", seed: int = 0, dataset: str = "digits"):
    torch.manual_seed(seed)
    return registry.build("diffusion", {**TINY, "image_size": SIZES[dataset], "prediction_type": prediction_type})


def save_tiny_models(folder, mnist: bool = False) -> None:
    """ddpm-eps and ddpm-x0 (8x8 digits), tiny and untrained, saved the way `train` saves them; mnist: also
    ddpm-mnist-eps, -x0 and -v (12x12 "mnist")."""
    for name, kind in (("ddpm-eps", "epsilon"), ("ddpm-x0", "sample")):
        registry.save(tiny_model(kind), tiny_card(name, kind), folder, dtype=torch.float16)
    if mnist:
        for seed, (name, kind) in enumerate(MNIST_MODELS.items()):
            model = tiny_model(kind, seed, "mnist")
            registry.save(model, tiny_card(name, kind, "mnist"), folder, dtype=torch.float16)


def save_tiny_classifier(folder, name: str, size: int) -> None:
    """An untrained classifier of size x size digits, named as a dataset's judge (diffusion.CLASSIFIERS)."""
    torch.manual_seed(0)
    config = {"image_size": size, "width": 4}
    card = {"name": name, "task": "classifier", "model": "classifier", "config": config, "params": 0}
    registry.save(registry.build("classifier", config), card, folder)


def tiny_live_diffusion(monkeypatch) -> None:
    """Live diffusion jobs on the tiny U-Net at the digits' own 8x8, on their first 256 training digits: about a
    second a model-epoch, where the shipped shape at 16x16 on all 1,438 takes 13 s."""
    from unetlab import live

    shapes = {"digits": {**TINY, "image_size": SIZES["digits"]}, "mnist": {**TINY, "image_size": SIZES["mnist"]}}
    monkeypatch.setattr(live, "DIFFUSION_SHAPES", shapes)
    monkeypatch.setattr(live, "DIFFUSION_TRAIN", {"digits": 256, "mnist": 256})
