"""Tiny, untrained VAE and AE cards for the Latent tests (16x16 digits, 3-D latent): built here, never shipped."""

import torch

from unetlab import registry

TINY_LATENT = dict(in_channels=1, image_size=16, base=4, depth=2, latent=3)


def latent_card(name: str, task: str, model: str, config: dict) -> dict:
    return {
        "name": name,
        "task": task,
        "model": model,
        "config": config,
        "params": 0,
        "recipe": name,
        "command": f"python -m unetlab train --recipe {name}",
        "data": {"dataset": "digits"},
        "metrics": {"elbo": -100.0, "recon_nll": 90.0, "kl": 10.0, "psnr": 15.0} if task == "vae" else {},
    }


def save_tiny_latent_models(folder) -> None:
    torch.manual_seed(0)
    for name, task, model, config in (
        ("tiny-vae", "vae", "vae", {**TINY_LATENT, "beta": 1.0}),
        ("tiny-ae", "latent-ae", "ae", TINY_LATENT),
    ):
        registry.save(registry.build(model, config), latent_card(name, task, model, config), folder)
