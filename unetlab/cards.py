"""A trained recipe's card: built from the recipe, the model, its data and its history; saved beside the weights;
then its metrics filled from the saved (reloaded) weights by the recipe's task (tasks/<task>.py).

The files themselves (safetensors + JSON, staged then published) are registry.py's: save, publish, write_card and
read_card.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from unetlab import data as datasets
from unetlab import registry, tasks
from unetlab.recipes import Recipe


def kept(r: Recipe, history: list[dict]) -> dict:
    """The history row whose weights were saved: the best held-out loss (keep_best) or the last epoch."""
    if not history:
        return {}
    return min(history, key=lambda h: h["test_loss"]) if r.keep_best else history[-1]


def data_section(r: Recipe, data: datasets.Data) -> dict:
    """The card's `data`: what was trained on, and for the photo sets and the corpus their files, split and credits."""
    info = {"dataset": r.dataset, "train_samples_per_epoch": len(data), "test_samples": len(data.test)}
    if r.without_class is not None:
        info["without_class"] = r.without_class
    if r.dataset == "photos":
        info |= {
            "train_photos": sorted(datasets.photo_arrays()),
            "held_out": list(datasets.HELDOUT_PHOTOS),
            "crop": r.crop,
            "flips": "left-right, p=0.5",
        }
    if r.dataset == "mnist":
        padded = f", zero-padded to {r.size}x{r.size}" if r.size > datasets.MNIST_SIDE else ""
        info |= {
            "source": datasets.MNIST,
            "split": f"stratified, fixed: {datasets.MNIST_HELDOUT} held-out digits per class, the rest trained on",
            "size": f"{datasets.MNIST_SIDE}x{datasets.MNIST_SIDE}{padded}"
            if r.size >= datasets.MNIST_SIDE
            else f"resized to {r.size}x{r.size}",
        }
    if data.adapted:
        info["adapted"] = data.adapted
    if r.augment:
        info["augment"] = r.augment
    if r.dataset in datasets.CORPUS_SETS:
        from unetlab import corpus

        info |= {
            "kinds": datasets.CORPUS_SETS[r.dataset] or "all",
            "manifest": {"file": "unetlab/corpus.json", "sha256": registry.sha256(corpus.MANIFEST)},
            "split": f"train: the training split of every train source, {data.sampling}; validation (kept epoch): "
            "a fixed tenth of those sources; test (scores only): whole sources",
            "scale": f"short side <= {r.side}; validation tiles at short side <= {datasets.VAL_SIDE}",
            "crop": r.crop,
            "flips": "left-right, p=0.5",
            "held_out": list(datasets.HELDOUT_PHOTOS),
            "sources": corpus.credits()
            + [
                {
                    "source": corpus.PACKAGED,
                    "package": "scikit-image, scikit-learn (PyPI)",
                    "split": "train",
                    "files": {"train": 9},
                    "licence": "see skimage.data / sklearn sample images",
                    "author": "astronaut: NASA; china, flower: CC-BY-2.0; others as shipped",
                }
            ],
        }
    if r.dataset == "colour-photos":
        from unetlab import photo_sources

        fetched = [n for n in photo_sources.PHOTOS if n not in datasets.VALIDATION_PHOTOS]
        info |= {
            "train_photos": list(datasets.NATURAL_PHOTOS) + fetched,
            "validation_photos": list(datasets.VALIDATION_PHOTOS),
            "held_out": list(datasets.HELDOUT_PHOTOS),
            "scales": f"each photo resized to short side {' and '.join(map(str, datasets.COLOUR_SCALES))}",
            "crop": r.crop,
            "flips": "left-right, p=0.5",
            "sources": {
                "skimage.data": "astronaut (NASA, public domain), rocket (SpaceX launch photo), "
                "stereo_motorcycle left and right (Middlebury 2014 stereo benchmark), as shipped in scikit-image",
                "sklearn.datasets.load_sample_images": "china.jpg, flower.jpg (CC-BY-2.0, as shipped in scikit-learn)",
                "debian": photo_sources.credits(list(photo_sources.PHOTOS)),
            },
        }
    return info


def new_card(r: Recipe, model: torch.nn.Module, data: datasets.Data, history: list[dict], seconds: float) -> dict:
    """The card of a run, before its metrics: config, recipe, command, data, hyper-parameters, history."""
    from unetlab.models.unet import count_parameters

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
        "overrides": r.overrides,
        "data": data_section(r, data),
        "seed": r.seed,
        "hyper": hyper | {"optimizer": "AdamW, warm-up + cosine", "loss": tasks.get(r.task).loss_name(r)},
        "metrics": {},
        "history": history,
        "train_seconds": round(seconds, 1),
        "environment": registry.environment(),
        "created": time.strftime("%Y-%m-%d"),
    }


def finish(r: Recipe, model, data, history: list[dict], seconds: float, out_dir: Path, reg: registry.Registry) -> Path:
    """Save weights + card, fill the card's metrics from the saved (reloaded) weights, then move both into out_dir.
    A run that trained no epoch, whose kept epoch's held-out loss is not finite (it diverged), or whose evaluation
    fails, writes nothing. reg: where a task's evaluation finds the models it needs (the diffusion task's judge)."""
    if not history:
        raise ValueError(f"{r.name}: no epoch was trained; nothing was written")
    loss = kept(r, history)["test_loss"]
    if not math.isfinite(loss):
        raise registry.WeightsError(
            f"{r.name}: the held-out loss is {loss} (the run diverged; a lower --lr may help); nothing was written"
        )
    card = new_card(r, model, data, history, seconds)
    # staged beside out_dir's files and evaluated there: a crash in the evaluation replaces nothing
    stage = Path(tempfile.mkdtemp(prefix=f".{r.name}-staging-", dir=registry.writable_dir(out_dir)))
    try:
        path = registry.save(model, card, stage, dtype=getattr(torch, r.dtype))
        return registry.publish(fill_metrics(r, path, data, reg), out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def fill_metrics(r: Recipe, path: Path, data: datasets.Data, reg: registry.Registry) -> Path:
    """The card's metrics (and a colouriser's decoding) from the saved weights and the card's history: the last
    step of every training, and what refreshes the figures of saved weights when the evaluation changes."""
    task = tasks.get(r.task)
    entry = registry.read_card(path)
    last = kept(r, entry.card.get("history", []))
    held = {"test_psnr": last.get("psnr"), "test_loss": last.get("test_loss")}
    if r.keep_best:
        held["kept_epoch"] = last.get("epoch")
    if not task.psnr:
        del held["test_psnr"]
    model = registry.load_entry(entry).eval()
    metrics = task.card_metrics(r, model, data, reg)
    decode = metrics.pop("decode", None)  # a colouriser's decoding, chosen on validation: the app reads it
    card = {k: v for k, v in entry.card.items() if k != "decode"} | {"metrics": held | metrics}
    return registry.write_card(path, card | ({"decode": decode} if decode else {}))
