"""Anomaly detection (the Lab tab): an autoencoder trained on the digits with one digit left out reconstructs that
digit worse; its per-image error is the anomaly score. Trained as reconstruction (MSE); the card holds the ROC AUC.

The net is the seed's purity net (purity_net), also the Lab's latent-purity experiment's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from unetlab.models.unet import UNetConfig
from unetlab.tasks.reconstruct import loss_name, objective  # trained as reconstruction

__all__ = ["card_metrics", "loss_name", "objective", "purity_net"]

if TYPE_CHECKING:
    from unetlab.data import Data
    from unetlab.recipes import Recipe
    from unetlab.registry import Registry


def purity_net(skip: bool, bottleneck: bool, image_size: int = 32) -> UNetConfig:
    """The seed's purity U-Net: blocks of 4/8/16 channels (base 4, depth 2), 1 -> 1 channel, sigmoid output.

    tanh sits on the layer whose output is clustered, as in the seed: the 16-unit dense code when there is a
    bottleneck (the middle block then ends in ReLU), else the middle block itself.
    """
    return UNetConfig(
        in_channels=1,
        out_channels=1,
        base=4,
        depth=2,
        skips=skip,
        bottleneck=16 if bottleneck else 0,
        image_size=image_size,
        latent_act="relu" if bottleneck else "tanh",
        output="sigmoid",
    )


def card_metrics(r: Recipe, model: nn.Module, data: Data, reg: Registry) -> dict:
    """ROC AUC of the left-out digit against the others, and each group's reconstruction error (lab.py)."""
    from unetlab.lab import anomaly_metrics

    return anomaly_metrics(model, r.without_class)
