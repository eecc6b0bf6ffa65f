"""A small CNN digit classifier, trained on real digits only: the judge of the diffusion models' samples.

Its held-out accuracy on real digits is in its card; the diffusion cards report how often it agrees with the
class a sample was asked for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ClassifierConfig:
    image_size: int = 16  # input side (grey, values in [0, 1])
    width: int = 32  # channels of the first conv; doubles once
    classes: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


class DigitClassifier(nn.Module):
    """(conv 3x3 -> BN -> ReLU -> max-pool) x 2 -> dropout -> linear."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        w = config.width

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

        self.features = nn.Sequential(block(1, w), block(w, 2 * w))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * w * (config.image_size // 4) ** 2, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) in [0, 1] -> logits (B, classes)."""
        return self.head(self.features(x))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class indices for images (B, 1, H, W) in [0, 1], resized to the classifier's input size if needed."""
    s = model.config.image_size
    if x.shape[-1] != s:
        x = F.interpolate(x, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
    return model.eval()(x.float()).argmax(1)
