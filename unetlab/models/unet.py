"""The seed article's U-Net (Keras, STL-10 96x96) in PyTorch, with its contracting path switchable.

Block = (3x3 conv -> BN -> ReLU) x 2; max-pool down; 2x2 transposed conv up; skips concatenate the encoder's
feature maps onto the decoder's ("contracting path"). At base=64, depth=4, 1 -> 3 channels, skips on, it has
exactly 31,042,499 trainable parameters, as the seed's Keras summary reports.
"""

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn


@dataclass
class UNetConfig:
    in_channels: int = 3  # 1 for luminance input, 3 for RGB
    out_channels: int = 3  # channels predicted
    base: int = 64  # width of the first block; doubles at every level down
    depth: int = 4  # number of 2x poolings (the seed uses 4)
    skips: bool = True  # the contracting path: concatenate encoder features onto the decoder
    bottleneck: int = 0  # dense units at the bottom (flatten -> k, tanh -> back); 0 = none
    image_size: int = 0  # input side, needed only by the dense bottleneck
    latent_act: Literal["relu", "tanh"] = "relu"  # last activation of the middle block (the seed's purity net: tanh)
    output: Literal["sigmoid", "linear"] = "sigmoid"  # sigmoid keeps images in [0, 1]

    def __post_init__(self):
        if self.bottleneck and self.image_size % 2**self.depth:
            raise ValueError(f"a dense bottleneck needs image_size divisible by {2**self.depth}, got {self.image_size}")
        for field, valid in (("latent_act", ("relu", "tanh")), ("output", ("sigmoid", "linear"))):
            if getattr(self, field) not in valid:
                raise ValueError(f"{field} must be one of {valid}, got {getattr(self, field)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Sequential):
    """(3x3 conv -> BN -> activation) x 2, 'same' padding as in the seed."""

    def __init__(self, cin: int, cout: int, last_act: str = "relu"):
        act = nn.Tanh() if last_act == "tanh" else nn.ReLU(inplace=True)
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            act,
        )


class DenseBottleneck(nn.Module):
    """Flatten -> k units (tanh, the latent features) -> back to the feature map (ReLU)."""

    def __init__(self, channels: int, side: int, units: int):
        super().__init__()
        self.shape = (channels, side, side)
        n = channels * side * side
        self.down = nn.Linear(n, units)
        self.up = nn.Linear(units, n)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.down(x.flatten(1)))  # (B, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encode(x)
        return torch.relu(self.up(z)).view(-1, *self.shape)  # (B, C, h, w)


class UNet(nn.Module):
    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = c = config
        widths = [c.base * 2**i for i in range(c.depth + 1)]  # e.g. 64, 128, 256, 512, 1024
        self.skips = c.skips
        self.down = nn.ModuleList()
        cin = c.in_channels
        for w in widths[:-1]:
            self.down.append(Block(cin, w))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.mid = Block(widths[-2], widths[-1], last_act=c.latent_act)
        self.bottleneck = (
            DenseBottleneck(widths[-1], c.image_size // 2**c.depth, c.bottleneck) if c.bottleneck else None
        )
        self.ups = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for w_in, w in zip(widths[:0:-1], widths[-2::-1]):
            self.ups.append(nn.ConvTranspose2d(w_in, w, kernel_size=2, stride=2))
            self.up_blocks.append(Block(2 * w if c.skips else w, w))
        self.head = nn.Conv2d(widths[0], c.out_channels, 1)

    def check_size(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        m = 2**self.config.depth
        if h % m or w % m:
            raise ValueError(f"input size {h}x{w} must be divisible by {m}; pad it (images.pad_to_multiple)")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The contracting path: returns the bottom feature map and the skip tensors, top first."""
        skips = []
        for block in self.down:
            x = block(x)  # (B, C_i, H/2^i, W/2^i)
            skips.append(x)
            x = self.pool(x)  # (B, C_i, H/2^(i+1), W/2^(i+1))
        x = self.mid(x)  # (B, C_depth, H/2^depth, W/2^depth)
        return x, skips

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The features the seed clusters: the dense code if there is one, else the flattened middle block."""
        h, _ = self.encode(x)
        return self.bottleneck.encode(h) if self.bottleneck is not None else h.flatten(1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's feature map (B, base, H, W), before the 1x1 head. A loss that needs some outputs only at
        some pixels applies the head there itself (a 1x1 conv commutes with picking pixels)."""
        self.check_size(x)
        # 1. down: the contracting path
        x, skips = self.encode(x)
        # 2. mid: optional dense bottleneck
        if self.bottleneck is not None:
            x = self.bottleneck(x)
        # 3. up: the expanding path, concatenating the contracting path's maps when skips are on
        for up, block in zip(self.ups, self.up_blocks):
            x = up(x)  # (B, C, 2h, 2w)
            skip = skips.pop()
            if self.skips:
                x = torch.cat([skip, x], dim=1)  # (B, 2C, 2h, 2w)
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.features(x))  # 4. out
        return torch.sigmoid(x) if self.config.output == "sigmoid" else x


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


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
