"""The digit classifier that judges the diffusion models' samples (models/classifier.py): cross-entropy on real
digits' labels. The card holds its held-out accuracy, overall and per digit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from unetlab.models.classifier import predict

if TYPE_CHECKING:
    from unetlab.data import Data
    from unetlab.recipes import Recipe
    from unetlab.registry import Registry
    from unetlab.train import Batch


class Classify:
    """Cross-entropy on the digit labels. The loop's 'MSE' for a classifier is its 0/1 error per sample."""

    def loss(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        return F.cross_entropy(model(batch.x).float(), batch.need_labels()), {}

    def evaluate(self, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        y = batch.need_labels()
        logits = model(batch.x).float()
        wrong = (logits.argmax(1) != y).float()
        return F.cross_entropy(logits, y, reduction="none"), wrong, [batch.x]


def objective(r: Recipe, data: Data) -> Classify:
    return Classify()


def loss_name(r: Recipe) -> str:
    return "cross-entropy"


def card_metrics(r: Recipe, model: nn.Module, data: Data, reg: Registry) -> dict:
    hit = (predict(model, data.test) == data.test_labels).float()
    return {
        "heldout_accuracy": round(hit.mean().item(), 4),
        "heldout_accuracy_per_class": [round(hit[data.test_labels == c].mean().item(), 3) for c in range(10)],
    }
