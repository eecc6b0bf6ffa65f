"""Tiny, untrained VAE and AE cards for the Latent tests (16x16 digits, and 32x32 MNIST as the shipped MNIST models
take it; 3-D latent): built here, never shipped; and the inputs the tab's checks are tried on."""

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from unetlab import registry

TINY_LATENT = dict(in_channels=1, image_size=16, base=4, depth=2, latent=3)
TINY_MNIST = {**TINY_LATENT, "image_size": 32}  # MNIST's 28x28 zero-padded, as vae-mnist takes it


def latent_card(name: str, task: str, model: str, config: dict, dataset: str = "digits") -> dict:
    return {
        "name": name,
        "task": task,
        "model": model,
        "config": config,
        "params": 0,
        "recipe": name,
        "command": f"python -m unetlab train --recipe {name}",
        "data": {"dataset": dataset},
        "metrics": {"elbo": -100.0, "recon_nll": 90.0, "kl": 10.0, "psnr": 15.0} if task == "vae" else {},
    }


def save_tiny_latent_models(folder) -> None:
    torch.manual_seed(0)
    for name, task, model, config, dataset in (
        ("tiny-vae", "vae", "vae", {**TINY_LATENT, "beta": 1.0}, "digits"),
        ("tiny-ae", "latent-ae", "ae", TINY_LATENT, "digits"),
        ("tiny-vae-mnist", "vae", "vae", {**TINY_MNIST, "beta": 1.0}, "mnist"),
        ("tiny-ae-mnist", "latent-ae", "ae", TINY_MNIST, "mnist"),
    ):
        registry.save(registry.build(model, config), latent_card(name, task, model, config, dataset), folder)


def typed_digit(k: int, size: int = 256) -> np.ndarray:
    """Digit k typed in PIL's default font, black on white, uint8 RGB (size, size, 3): what a drawing looks like."""
    im = Image.new("RGB", (size, size), "white")
    font = ImageFont.load_default(size=int(0.8 * size))
    ImageDraw.Draw(im).text((size // 4, size // 20), str(k), fill="black", font=font, stroke_width=size // 40)
    return np.asarray(im)
