"""What a kind of training is, one file per task: its objective (`loss(model, batch, generator)`, train.Objective),
the loss as the card names it, and the card's metrics. TASKS maps a recipe's task (also its registry entry's) to
it; adding a task is one file here, one row in TASKS, and its recipes' rows in recipes.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unetlab.tasks import anomaly, classify, colorize, diffusion, latent, ldm, reconstruct

if TYPE_CHECKING:
    from torch import nn

    from unetlab.data import Data
    from unetlab.recipes import Recipe
    from unetlab.registry import Registry
    from unetlab.train import Objective


@dataclass(frozen=True)
class Task:
    """A kind of training: what its recipes train with, what their cards say, and what their data must be."""

    name: str  # as recipes and cards name it
    tab: str  # the tab whose model lists hold this task's models
    objective: Callable[[Recipe, Data], Objective]  # what the loop trains with (some need the training data)
    loss_name: Callable[[Recipe], str]  # the loss as the card's hyper.loss names it
    card_metrics: Callable[[Recipe, nn.Module, Data, Registry], dict]  # from the saved weights (cards.fill_metrics)
    adapts_channels: bool = False  # the target is the input: data of other channels is fitted to the model
    learns_colour: bool = False  # its data must be colour images, whatever the model's input channels
    labelled: bool = False  # trains on class labels: its data must have them
    latent: bool = False  # an autoencoder with a code: the Latent tab maps it
    psnr: bool = True  # the loop's held-out PSNR means something (a classifier's is of its 0/1 error rate)
    # what is done to the trained model before it is saved (the VAE's scaling factor is measured); None: nothing
    prepare: Callable[[Recipe, nn.Module, Data], None] | None = None


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task("reconstruct", "Reconstruction", reconstruct.objective, reconstruct.loss_name, reconstruct.card_metrics,
             adapts_channels=True),
        Task("colorize", "Colorize", colorize.objective, colorize.loss_name, colorize.card_metrics,
             learns_colour=True),
        Task("vae", "Latent (VAE)", latent.objective, latent.loss_name, latent.card_metrics,
             adapts_channels=True, latent=True),
        Task("latent-ae", "Latent (AE)", latent.objective, latent.loss_name, latent.card_metrics,
             adapts_channels=True, latent=True),
        Task("diffusion", "Diffusion", diffusion.objective, diffusion.loss_name, diffusion.card_metrics,
             labelled=True),
        Task("classifier", "Diffusion", classify.objective, classify.loss_name, classify.card_metrics,
             labelled=True, psnr=False),
        Task("ldm-vae", "Diffusion", ldm.objective, ldm.loss_name, ldm.card_metrics, learns_colour=True,
             prepare=ldm.prepare),
        Task("ldm", "Diffusion", ldm.objective, ldm.loss_name, ldm.card_metrics, labelled=True),
        Task("anomaly", "Lab", anomaly.objective, anomaly.loss_name, anomaly.card_metrics, adapts_channels=True),
    ]
}  # fmt: skip


def get(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; valid: {', '.join(TASKS)}")
    return TASKS[name]
