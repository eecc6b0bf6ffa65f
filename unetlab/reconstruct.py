"""Reconstruction with the U-Net autoencoders: any image size, compared with and without skips."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from unetlab import images, metrics
from unetlab.hardware import bf16_pays
from unetlab.registry import Registry

TILE = 1024  # images larger than TILE x TILE run in tiles of this side: memory stays ~0.5 GB at any size
MARGIN = 64  # context each tile sees beyond the part of it that is kept
# Context reflected around the image's own edges, as MARGIN is around a tile's. Zero padding at the edge of a flat
# image threw recon-skip off there: a flat dark-blue 256x256 image came back with a bright dotted band along its top
# (max error 249 levels, 24 dB); reflected, the worst of 76 flat colours is 23 levels, and the validation images
# gain 0.15 dB on average and 1.7 dB on their worst (31.1 against 29.4 dB).
BORDER = 32


@torch.inference_mode()
def reconstruct(
    model: nn.Module, img: np.ndarray, fast: bool = True, progress: Callable[[float], None] | None = None
) -> np.ndarray:
    """uint8 (H, W[, C]) -> uint8 of the same shape. Fully convolutional: the image is reflect-padded by BORDER on
    every side and to a multiple of 2^depth, run, and cropped back.

    fast: bf16 autocast, about 2x faster on an AVX-512-bf16 CPU with the same PSNR to within 0.1 dB
    (`python -m unetlab bench`); the cards' metrics use fast=False, plain fp32. Large images are processed in
    overlapping tiles (TILE, MARGIN), so a 40 Mpx upload needs no more memory than a 1 Mpx one.
    progress: called with the share of the image done after each tile (a large image takes seconds).
    """
    c = model.config
    x = images.to_float(img)
    if x.shape[0] != c.in_channels:  # a grey image into an RGB model or the reverse
        x = np.repeat(x, c.in_channels, 0) if x.shape[0] == 1 else images.to_float(images.luma(img))
    h, w = x.shape[-2:]
    x = np.pad(x, ((0, 0), (BORDER, BORDER), (BORDER, BORDER)), mode="reflect")

    def run(part: np.ndarray) -> np.ndarray:
        ph, pw = part.shape[-2:]
        xp = torch.from_numpy(images.pad_to_multiple(part, 2**c.depth))[None]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast and bf16_pays()):
            y = model(xp.contiguous(memory_format=torch.channels_last))[0, :, :ph, :pw]
        return y.float().numpy()

    if h * w <= TILE * TILE:
        return images.to_uint8(run(x)[:, BORDER : BORDER + h, BORDER : BORDER + w])
    out = np.empty((c.out_channels, h, w), dtype=np.float32)
    tiles, done = -(-h // TILE) * -(-w // TILE), 0
    for top in range(0, h, TILE):
        for left in range(0, w, TILE):
            y0, x0 = top + BORDER, left + BORDER  # the kept part's corner in the padded image
            t0, l0 = max(0, y0 - MARGIN), max(0, x0 - MARGIN)
            t1, l1 = min(h + 2 * BORDER, y0 + TILE + MARGIN), min(w + 2 * BORDER, x0 + TILE + MARGIN)
            y = run(x[:, t0:t1, l0:l1])
            th, tw = min(TILE, h - top), min(TILE, w - left)
            out[:, top : top + th, left : left + tw] = y[:, y0 - t0 : y0 - t0 + th, x0 - l0 : x0 - l0 + tw]
            done += 1
            if progress is not None:
                progress(done / tiles)
    return images.to_uint8(out)


@dataclass
class Reconstruction:
    name: str
    image: np.ndarray  # uint8, the input's size
    psnr: float
    ssim: float
    error: np.ndarray  # uint8 RGB heat map of |output - input|, averaged over channels


def compare(
    img: np.ndarray,
    names: list[str],
    registry: Registry,
    vmax: float = 0.25,
    progress: Callable[[float, str], None] | None = None,
) -> list[Reconstruction]:
    """Reconstruct one image with each named model; PSNR, SSIM and an error heat map against the input.

    vmax: the error (in [0, 1] units) drawn brightest, shared so that heat maps are comparable; progress: called
    with the share of the whole comparison done and the model at work, as the tiles of a large image finish.
    """
    out = []
    for k, name in enumerate(names):
        step = None if progress is None else (lambda done, k=k, name=name: progress((k + done) / len(names), name))
        y = reconstruct(registry.load(name, task="reconstruct"), img, progress=step)
        yf = images.to_float(y)
        # a grey model (e.g. trained on digits) reconstructs a colour upload's luma: score it against that
        ref = images.to_float(images.luma(img) if y.ndim < img.ndim else img)
        err = np.abs(yf - ref).mean(0)
        out.append(Reconstruction(name, y, metrics.psnr(yf, ref), metrics.ssim(yf, ref), images.heat_map(err, vmax)))
    return out


def score(model: nn.Module, img: np.ndarray) -> dict:
    """One held-out image at its own size, in fp32: PSNR, SSIM and the block-periodic error (8-bit levels)."""
    y, ref = images.to_float(reconstruct(model, img, fast=False)), images.to_float(img)
    return {
        "psnr": round(metrics.psnr(y, ref), 3),
        "ssim": round(metrics.ssim(y, ref), 4),
        "grid": round(metrics.periodic_error(y, ref), 3),
    }


def heldout_report(model: nn.Module, groups: dict[str, dict[str, np.ndarray]]) -> dict:
    """Scores per group (a test source) and image: each group's mean and worst, then all images' mean and worst.
    The worst is the lowest PSNR and the largest grid error."""
    out: dict = {"per_source": {}}
    every = []
    for group, imgs in groups.items():
        scores = {name: score(model, img) for name, img in imgs.items()}
        every += scores.values()
        out["per_source"][group] = summary(list(scores.values())) | {"images": scores}
    out |= summary(every)
    return out


def summary(scores: list[dict]) -> dict:
    psnrs = [s["psnr"] for s in scores]
    return {
        "n": len(scores),
        "psnr_mean": round(float(np.mean(psnrs)), 3),
        "psnr_worst": round(float(np.min(psnrs)), 3),
        "ssim_mean": round(float(np.mean([s["ssim"] for s in scores])), 4),
        "grid_worst": round(float(np.max([s["grid"] for s in scores])), 3),
    }
