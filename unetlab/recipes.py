"""Named training recipes: data + model config + hyper-parameters -> one weights file and its card.

`python -m unetlab train --recipe NAME` runs one; the card records the exact command, so every shipped weights
file can be rebuilt. Overrides (--epochs, --lr, ...) are written into that command too.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from unetlab import data as datasets
from unetlab import metrics, registry
from unetlab.reconstruct import reconstruct
from unetlab.train import Objective, Reconstruct, Report, train


@dataclass(frozen=True)
class Recipe:
    name: str
    task: str  # reconstruct | colorize | vae | diffusion | ...
    model: str  # a key of registry.MODELS
    config: dict
    dataset: str  # an embedded dataset name or a path
    epochs: int
    batch_size: int
    lr: float
    seed: int = 0
    crop: int = 64  # photo-like datasets: training crop side
    epoch_size: int = 2048  # photo-like datasets: crops per epoch
    size: int = 32  # image-set datasets: side images are resized to
    fast: bool = True  # bf16 autocast + channels_last
    dtype: str = "float16"  # how the weights are stored
    description: str = ""
    overrides: dict = field(default_factory=dict)  # what the command line changed

    @property
    def command(self) -> str:
        flags = "".join(f" --{k.replace('_', '-')} {v}" for k, v in self.overrides.items())
        return f"python -m unetlab train --recipe {self.name}{flags}"

    def with_overrides(self, **kw) -> Recipe:
        kw = {k: v for k, v in kw.items() if v is not None}
        return replace(self, **kw, overrides={**self.overrides, **kw})


RECON = dict(in_channels=3, out_channels=3, base=16, depth=4)

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            "recon-skip",
            "reconstruct",
            "unet",
            {**RECON, "skips": True},
            "photos",
            epochs=60,
            batch_size=32,
            lr=2e-3,
            description="U-Net autoencoder on 64x64 photo crops, with its contracting path (skips)",
        ),
        Recipe(
            "recon-noskip",
            "reconstruct",
            "unet",
            {**RECON, "skips": False},
            "photos",
            epochs=60,
            batch_size=32,
            lr=2e-3,
            description="the same U-Net and data without skips: everything must pass the 1/16-size bottom",
        ),
    ]
}


def get(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; valid: {', '.join(RECIPES)}")
    return RECIPES[name]


def load_data(r: Recipe) -> datasets.Data:
    return datasets.load(r.dataset, size=r.size, crop=r.crop, epoch_size=r.epoch_size)


def build_model(r: Recipe) -> torch.nn.Module:
    torch.manual_seed(r.seed)  # the same seed gives the same initial weights
    return registry.build(r.model, r.config)


def objective(r: Recipe) -> Objective:
    """The loss a recipe trains with, chosen by its task."""
    return Reconstruct()


def run(r: Recipe, data: datasets.Data | None = None, model: torch.nn.Module | None = None) -> Iterator[Report]:
    """The recipe's training as the loop's generator (the model is trained in place)."""
    data = data or load_data(r)
    model = model or build_model(r)
    return train(
        model, data, epochs=r.epochs, batch_size=r.batch_size, lr=r.lr, seed=r.seed, fast=r.fast, objective=objective(r)
    )


def evaluate(r: Recipe, model: torch.nn.Module, data: datasets.Data) -> dict:
    """The card's metrics. Photo reconstruction: full-resolution PSNR/SSIM on the held-out photos."""
    model.eval()
    out: dict = {}
    if r.task == "reconstruct" and r.dataset == "photos":
        from unetlab.images import to_float

        scores = {}
        for name, img in datasets.photo_arrays(held_out=True).items():
            y, ref = to_float(reconstruct(model, img)), to_float(img)
            scores[name] = {"psnr": round(metrics.psnr(y, ref), 3), "ssim": round(metrics.ssim(y, ref), 4)}
        out["heldout"] = scores
        out["heldout_psnr"] = round(float(np.mean([s["psnr"] for s in scores.values()])), 3)
        out["heldout_ssim"] = round(float(np.mean([s["ssim"] for s in scores.values()])), 4)
    return out


def card(r: Recipe, model: torch.nn.Module, data: datasets.Data, history: list[dict], seconds: float) -> dict:
    from unetlab.models.unet import count_parameters

    data_info = {"dataset": r.dataset, "train_samples_per_epoch": len(data), "test_samples": len(data.test)}
    if r.dataset == "photos":
        data_info |= {
            "train_photos": sorted(datasets.photo_arrays()),
            "held_out": list(datasets.HELDOUT_PHOTOS),
            "crop": r.crop,
            "flips": "left-right, p=0.5",
        }
    hyper = {k: v for k, v in asdict(r).items() if k in ("epochs", "batch_size", "lr", "fast")}
    return {
        "name": r.name,
        "task": r.task,
        "model": r.model,
        "config": dict(model.config.to_dict()) if hasattr(model, "config") else r.config,
        "params": count_parameters(model),
        "description": r.description,
        "recipe": r.name,
        "command": r.command,
        "data": data_info,
        "seed": r.seed,
        "hyper": hyper | {"optimizer": "AdamW, warm-up + cosine", "loss": "MSE"},
        "metrics": {},
        "history": history,
        "train_seconds": round(seconds, 1),
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
        },
        "created": time.strftime("%Y-%m-%d"),
    }


def finish(r: Recipe, model, data, history: list[dict], seconds: float, out_dir: Path) -> Path:
    """Save weights + card, then fill the card's metrics from the saved (reloaded) weights."""
    c = card(r, model, data, history, seconds)
    path = registry.save(model, c, out_dir, dtype=getattr(torch, r.dtype))
    entry = registry.read_card(path)
    last = history[-1] if history else {}
    held = {"test_psnr": last.get("psnr"), "test_loss": last.get("test_loss")}
    c = entry.card | {"metrics": held | evaluate(r, registry.load_entry(entry), data)}
    path.write_text(json.dumps(c, indent=1) + "\n")
    return path
