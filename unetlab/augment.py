"""Colour augmentation and synthetic images, so that an autoencoder's near-identity holds across the gamut.

Photographs rarely hold flat, fully saturated colours, hard colour edges or thin strokes; slides, icons and
illustrations are full of them. Trained on photos alone, the skip U-Net shifted saturated greens and blues and
left a grid on them. Two remedies, each switchable in a recipe (`augment`, a '+'-joined list):

  colour     per crop, each with probability 1/2: a channel permutation, a hue rotation about the grey axis, a
             saturation change (x0.4 to x2.5) and a contrast change (x0.6 to x1.5); then clipped to [0, 1]
  synthetic  a quarter of each batch replaced by made-up images: two-colour gradients, flat saturated shapes
             with sharp edges, text-like strokes and letters, and colour noise at random scales
  tone       per image, each with probability 1/4: inverted (1 - x: a light-theme screenshot becomes a dark-theme
             one) and darkened (x0.1 to x0.6), so that large dark, flat areas are common. The first corpus
             skip model, trained without it, tinted the dark screenshots and night skies purple, with a grid.

Everything is drawn from the training loop's generator, so a run is still deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import torch

CHOICES = ("colour", "synthetic", "tone")
SYNTHETIC_FRACTION = 0.25


def parse(spec: str) -> tuple[str, ...]:
    """'colour+synthetic' -> ('colour', 'synthetic'); '' or 'none' -> ()."""
    parts = tuple(p for p in spec.replace(",", "+").split("+") if p and p != "none")
    bad = [p for p in parts if p not in CHOICES]
    if bad:
        raise ValueError(f"unknown augmentation {', '.join(bad)}; use none or a '+'-joined list of {CHOICES}")
    return parts


def hue_rotation(angle: torch.Tensor) -> torch.Tensor:
    """(N,) angles -> (N, 3, 3) rotations about the grey axis (1, 1, 1)/sqrt(3) (Rodrigues' formula)."""
    k = torch.full((3,), 1 / math.sqrt(3))
    cross = torch.tensor([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    outer = torch.outer(k, k)
    c, s = angle.cos()[:, None, None], angle.sin()[:, None, None]
    return c * torch.eye(3) + s * cross + (1 - c) * outer


def colour(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random channel permutation, hue rotation, saturation and contrast for a batch (N, 3, H, W) in [0, 1]."""
    n = len(x)
    if x.shape[1] != 3 or n == 0:
        return x
    coin = torch.rand(n, 4, generator=gen) < 0.5
    perms = torch.stack([torch.randperm(3, generator=gen) for _ in range(n)])
    x = torch.where(coin[:, 0, None, None, None], x[torch.arange(n)[:, None], perms], x)
    angle = torch.rand(n, generator=gen) * 2 * math.pi * coin[:, 1]
    x = torch.einsum("nij,njhw->nihw", hue_rotation(angle), x)
    grey = x.mean(1, keepdim=True)
    sat = torch.exp(torch.empty(n).uniform_(math.log(0.4), math.log(2.5), generator=gen))
    sat = torch.where(coin[:, 2], sat, torch.ones(n))[:, None, None, None]
    x = grey + sat * (x - grey)
    mean = x.mean((1, 2, 3), keepdim=True)
    con = torch.exp(torch.empty(n).uniform_(math.log(0.6), math.log(1.5), generator=gen))
    con = torch.where(coin[:, 3], con, torch.ones(n))[:, None, None, None]
    return (mean + con * (x - mean)).clamp(0, 1)


def tone(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Invert (1 - x) and darken (x0.1 to x0.6) a batch (N, C, H, W) in [0, 1], each per image with probability
    1/4."""
    n = len(x)
    coin = torch.rand(n, 2, generator=gen) < 0.25
    x = torch.where(coin[:, 0, None, None, None], 1 - x, x)
    gain = torch.empty(n).uniform_(0.1, 0.6, generator=gen)
    return x * torch.where(coin[:, 1], gain, torch.ones(n))[:, None, None, None]


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A random colour, saturated two times in three."""
    if rng.random() < 2 / 3:
        hue, value = rng.random(), rng.uniform(0.5, 1.0)
        rgb = np.clip(np.abs((hue * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1) * value
    else:
        rgb = rng.random(3)
    return tuple(int(v * 255) for v in rgb)


def synthetic_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """One made-up image, uint8 (size, size, 3): a gradient, flat shapes, text-like strokes, or noise."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    kind = rng.integers(4)
    if kind == 0:  # a linear gradient between two colours, at a random angle
        a, b = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
        t = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:size, 0:size] / size
        ramp = np.cos(t) * xx + np.sin(t) * yy
        ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
        return (a + ramp[..., None] * (b - a)).round().astype(np.uint8)
    im = Image.new("RGB", (size, size), _colour(rng))
    draw = ImageDraw.Draw(im)
    if kind == 1:  # flat saturated rectangles and ellipses with hard edges
        for _ in range(rng.integers(2, 7)):
            box = (
                sorted(rng.integers(-size // 4, size + size // 4, 2)),
                sorted(rng.integers(-size // 4, size + size // 4, 2)),
            )
            xy = [box[0][0], box[1][0], box[0][1], box[1][1]]
            (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(xy, fill=_colour(rng))
    elif kind == 2:  # strokes and letters, as on slides and screenshots
        for _ in range(rng.integers(3, 9)):
            if rng.random() < 0.5:
                pts = [tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(rng.integers(2, 5))]
                draw.line(pts, fill=_colour(rng), width=int(rng.integers(1, 4)))
            else:
                font = ImageFont.load_default(size=float(rng.integers(8, max(9, size // 3))))
                text = "".join(chr(c) for c in rng.integers(33, 127, rng.integers(1, 8)))
                draw.text(tuple(int(v) for v in rng.integers(-4, size - 4, 2)), text, fill=_colour(rng), font=font)
    else:  # colour noise at a random scale
        cells = int(rng.integers(2, size + 1))
        noise = Image.fromarray(rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8))
        im = noise.resize((size, size), Image.Resampling.BICUBIC if rng.random() < 0.5 else Image.Resampling.NEAREST)
        if rng.random() < 0.3:
            im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2)))
    return np.asarray(im)


def synthetic(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """n synthetic images (n, 3, size, size) in [0, 1]."""
    rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen)))
    batch = np.stack([synthetic_image(size, rng) for _ in range(n)])
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255)


def augmenter(spec: str):
    """A batch -> batch function for a recipe's `augment` (None when there is nothing to do)."""
    parts = parse(spec)
    if not parts:
        return None

    def apply(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if "synthetic" in parts and x.shape[1] == 3:
            k = int(round(len(x) * SYNTHETIC_FRACTION))
            if k:
                x = torch.cat([x[: len(x) - k], synthetic(k, x.shape[-1], gen)])
        if "colour" in parts:
            x = colour(x, gen)
        if "tone" in parts:
            x = tone(x, gen)
        return x

    return apply
