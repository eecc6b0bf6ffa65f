"""Anomaly detection (the Lab tab): an autoencoder trained on MNIST with one digit left out reconstructs that
digit worse; its per-image error is the anomaly score. Trained as reconstruction (MSE); the card holds the ROC AUC.

The net is the seed's purity net (models/unet.purity_net), also the Lab's latent-purity experiment's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from unetlab.tasks.reconstruct import loss_name, objective  # trained as reconstruction

__all__ = ["card_metrics", "loss_name", "objective"]

if TYPE_CHECKING:
    from unetlab.data import Data
    from unetlab.recipes import Recipe
    from unetlab.registry import Registry


def card_metrics(r: Recipe, model: nn.Module, data: Data, reg: Registry) -> dict:
    """ROC AUC of the left-out digit against the others, and each group's reconstruction error (lab.py)."""
    from unetlab.lab import anomaly_metrics

    return anomaly_metrics(model, r.without_class, r.dataset, r.size)
