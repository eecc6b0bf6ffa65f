"""Colourisation: chroma from luminance (colorize.py holds the colour maths, hints and inference). Three objectives
by the model's outputs: 222 ab bins (class-rebalanced cross-entropy, Zhang et al. 2016), the guided two heads
(Huber on a*b* + cross-entropy over the bins, Zhang et al. 2017), or the seed's RGB MSE. The card scores photo
and corpus models on the held-out photos; a bin model's decoding is chosen on the validation photos."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unetlab import data as datasets
from unetlab.colorize import (
    AB_RANGE,
    BIN,
    HINT_CHANNELS,
    bins,
    guided,
    lab_to_rgb,
    model_input,
    nearest_hint_ab,
    predict_ab,
    rebalance_weights,
    rgb_to_lab,
    sample_hints,
)

if TYPE_CHECKING:
    from unetlab.recipes import Recipe
    from unetlab.registry import Registry
    from unetlab.train import Batch


class Colorize:
    """Chroma from luminance. classify: class-rebalanced cross-entropy over ab bins (Zhang et al. 2016);
    rgb: the seed's per-pixel RGB MSE; ab+bins: the guided models' two heads. The batch is RGB in [0, 1]. A guided
    model (4 input channels) gets hints drawn from the true colours (sample_hints) from the loop's generator;
    held-out batches get the same hints every epoch (a generator seeded afresh per batch), so the kept epoch is
    chosen on a fixed task."""

    def __init__(self, kind: str, weights: torch.Tensor | None = None):
        if kind not in ("classify", "rgb", "ab+bins"):
            raise ValueError(f"colorize objective must be 'classify', 'rgb' or 'ab+bins', got {kind!r}")
        self.kind = kind
        self.weights = weights if weights is not None else torch.ones(bins().count)

    def _input(self, model: nn.Module, lab: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """-> the model's input, and the nearest-hint fill its regression head corrects (zeros without hints)."""
        if not guided(model):
            return model_input(lab[:, :1]), torch.zeros_like(lab[:, 1:])
        hint_ab, mask = sample_hints(lab[:, 1:], gen)
        fill = nearest_hint_ab(hint_ab, mask)
        return model_input(lab[:, :1], hint_ab, mask, fill), fill

    def loss(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        return self.losses(model, batch.x, generator).mean(), {}

    def losses(self, model: nn.Module, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Per-sample loss (B,)."""
        lab = rgb_to_lab(x)
        inp, fill = self._input(model, lab, gen)
        if self.kind == "rgb":
            return (model(inp).float() - x).pow(2).flatten(1).mean(1)
        # The bins' cross-entropy is taken at one pixel in four (a random phase of a stride-2 grid): neighbours carry
        # nearly the same colour, and the softmax over Q bins dominated the step's time (3.5x faster at the same loss
        # per step). The linear 1x1 head is applied to the bins only at those pixels: the full-size (B, Q, H, W)
        # output and its gradient took 2.6x the rest of a guided step (one core, bf16).
        features, weight, bias = model.features(inp), model.head.weight, model.head.bias
        reg = 0.0
        if self.kind == "ab+bins":  # Zhang 2017: a Huber loss on the regression head (in bin widths), plus the bins'
            y = F.conv2d(features, weight[:2], bias[:2]).float()
            reg = F.smooth_l1_loss((fill + y * AB_RANGE) / BIN, lab[:, 1:] / BIN, reduction="none")
            reg, weight, bias = reg.flatten(1).mean(1), weight[2:], bias[2:]  # the bins: cross-entropy below
        oy, ox = torch.randint(0, 2, (2,), generator=gen).tolist()
        ab, y = lab[:, 1:, oy::2, ox::2], F.conv2d(features[:, :, oy::2, ox::2], weight, bias)
        classes, soft = bins().encode(ab)  # (B, 4, H/2, W/2) each
        z = y.float().permute(0, 2, 3, 1)  # (B, H/2, W/2, Q): bins last, so the softmax runs over contiguous rows
        logp = (z.gather(-1, classes.permute(0, 2, 3, 1)) - torch.logsumexp(z, -1, keepdim=True)).permute(0, 3, 1, 2)
        w = self.weights[bins().cell(ab)]  # the weight of each pixel's own bin, Zhang et al. eq. 3
        return reg - (w * (soft * logp).sum(1)).flatten(1).mean(1)

    def evaluate(self, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        x = batch.x
        lab = rgb_to_lab(x)
        loss = self.losses(model, x, torch.Generator().manual_seed(0))
        hints = sample_hints(lab[:, 1:], torch.Generator().manual_seed(0)) if guided(model) else None
        ab, _ = predict_ab(model, lab[:, :1], hints)
        y = lab_to_rgb(torch.cat([lab[:, :1], ab], 1))
        grey = lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(ab)], 1))
        mse = (y - x).pow(2).flatten(1).mean(1)
        return loss, mse, [grey, y, x]


def class_weights(r: Recipe, data: datasets.Data) -> torch.Tensor | None:
    """A bin colouriser's class-rebalancing weights, from its training photos (Zhang et al. 2016); None for the
    guided colourisers, which train with plain cross-entropy: with rebalancing (lambda 0.5) the first run's skip
    model cast yellow over every image (validation a*b* error 1.80x the grey image's)."""
    return None if r.config.get("in_channels") == HINT_CHANNELS else photo_weights(data)


def photo_weights(data: datasets.Data) -> torch.Tensor:
    """The rebalancing weights of the training photos' a*b* distribution (colorize.rebalance_weights)."""
    photos = [
        t.permute(1, 2, 0).numpy()
        if t.dtype == torch.uint8
        else (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        for t in data.train
    ]
    return rebalance_weights(photos)


def objective(r: Recipe, data: datasets.Data) -> Colorize:
    """By the model's outputs: RGB, the guided two heads (2 + the bins), or the bins alone (weights from the data)."""
    if r.config.get("out_channels") == 3:
        return Colorize("rgb")
    if r.config.get("out_channels") == 2 + bins().count:
        return Colorize("ab+bins")
    return Colorize("classify", class_weights(r, data))


def loss_name(r: Recipe) -> str:
    if r.config.get("in_channels") == HINT_CHANNELS:
        return (
            "Huber on a*b* (the regression head, a correction to the nearest-hint fill) + cross-entropy over "
            f"{r.config['out_channels'] - 2} ab bins; hints from the true colours (Zhang et al. 2017)"
        )
    if r.config.get("out_channels") != 3:
        return f"class-rebalanced cross-entropy over {r.config['out_channels']} ab bins (Zhang et al. 2016, lambda 0.5)"
    return "MSE"


def card_metrics(r: Recipe, model: nn.Module, data: datasets.Data, reg: Registry) -> dict:
    """Photo and corpus models: PSNR and colourfulness on the held-out photos (and the corpus's test sources); a bin
    model's decoding (annealed mean or the palette's) is chosen first, on the corpus's validation photos."""
    from unetlab.colorize import (
        DECODE_ALPHAS,
        DECODE_PRIOR_ALPHAS,
        VALIDATION_HINTS,
        choose_decode,
        choose_hints_decode,
        heldout_metrics,
        kind,
        test_report,
    )
    from unetlab.corpus import PHOTO_KINDS

    if r.dataset not in ("photos", "colour-photos", *datasets.CORPUS_SETS):
        return {}
    out: dict = {}
    decode = None
    if r.dataset in datasets.CORPUS_SETS and kind(model) in ("classify", "ab+bins"):  # decoding: on validation
        val = datasets.corpus_test(kinds=PHOTO_KINDS, split="val")
        photos = [img for group in val.values() for img in group.values()]
        weights = class_weights(r, data)  # trained with: undo some of it; trained without: offer to apply some
        alphas = DECODE_ALPHAS if weights is not None else DECODE_PRIOR_ALPHAS
        decode, table = choose_decode(model, photos, weights if weights is not None else photo_weights(data), alphas)
        chosen_on = f"{len(photos)} validation photos (corpus-photos, {datasets.TEST_PER_SOURCE} per source)"
        out["decode"] = {"chosen_on": f"automatic mode, {chosen_on}", "table": table}
        if kind(model) == "ab+bins":  # and with hints: which fill, and how much of the bins to mix into the regression
            fill, mix, temperature, hints_table = choose_hints_decode(model, photos)
            decode = replace(decode, fill=fill, hints_mix=mix, hints_temperature=temperature)
            out["decode"] |= {
                "hints_chosen_on": f"{VALIDATION_HINTS} hints each, {chosen_on}",
                "hints_table": hints_table,
            }
        out["decode"] = decode.to_card() | out["decode"]
    out |= heldout_metrics(model, datasets.photo_arrays(held_out=True), decode)
    if r.dataset in datasets.CORPUS_SETS:  # the test sources' photographs, cut-outs and textures, full size
        out["test_split"] = test_report(model, datasets.corpus_test(kinds=PHOTO_KINDS), decode=decode)
    return out
