"""Tiny untrained diffusion models and a weights folder holding them, for the diffusion tests."""

import torch

from unetlab import registry

TINY = dict(image_size=8, widths=[8, 16], layers_per_block=1, heads=2, tokens=2, token_dim=8, train_timesteps=50)


def tiny_card(name: str, prediction_type: str) -> dict:
    return {
        "name": name,
        "task": "diffusion",
        "model": "diffusion",
        "config": {**TINY, "prediction_type": prediction_type},
        "params": 0,
        "recipe": name,
        "command": f"python -m unetlab train --recipe {name}",
        "history": [{"epoch": 1, "train_loss": 0.5, "test_loss": 0.4, "psnr": 10.0}],
        "metrics": {
            "sampler": {"scheduler": "ddim", "steps": 50, "eta": 0.0, "per_class": 1, "guidance": 1.0},
            "by_guidance": {"1": {"sample_accuracy": 0.5, "hf_ratio": 1.0}},
        },
    }


def tiny_model(prediction_type: str = "epsilon", seed: int = 0):
    torch.manual_seed(seed)
    return registry.build("diffusion", {**TINY, "prediction_type": prediction_type})


def save_tiny_models(folder) -> None:
    """ddpm-eps and ddpm-x0, tiny and untrained, saved the way `train` saves them."""
    for name, kind in (("ddpm-eps", "epsilon"), ("ddpm-x0", "sample")):
        registry.save(tiny_model(kind), tiny_card(name, kind), folder, dtype=torch.float16)
