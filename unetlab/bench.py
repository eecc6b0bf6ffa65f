"""`python -m unetlab bench`: performance figures from one run, as ratios against baselines in the same process.

Timings are medians over repeats after a warm-up; the baseline of each ratio runs in the same process on the
same data, so ratios compare across machines better than absolute numbers do.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from unetlab import data as datasets
from unetlab import recipes, registry
from unetlab.reconstruct import reconstruct
from unetlab.train import train


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def training_throughput(steps: int = 12, batch_size: int = 32) -> dict:
    """Images/s of THE loop (bf16 autocast + channels_last) vs a naive fp32 loop, recon-skip's model and data."""
    r = recipes.get("recon-skip")
    data = datasets.photos(crop=r.crop, epoch_size=steps * batch_size)
    model = recipes.build_model(r)
    next(train(model, data, epochs=1, batch_size=batch_size, lr=r.lr, fast=True))  # warm-up
    ours = next(train(model, data, epochs=1, batch_size=batch_size, lr=r.lr, fast=True)).images_per_s

    model = recipes.build_model(r).to(memory_format=torch.contiguous_format)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    gen = torch.Generator().manual_seed(0)

    def naive_epoch() -> None:
        for x in data.batches(batch_size, gen):
            loss = F.mse_loss(model(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()

    naive_epoch()  # warm-up
    naive = steps * batch_size / _median_time(naive_epoch, 1)
    return {"loop_images_per_s": round(ours, 1), "naive_fp32_images_per_s": round(naive, 1), "ratio": ours / naive}


def reconstruct_latency(sizes=(256, 1024), repeats: int = 5) -> dict:
    """Median end-to-end latency (pad, model, crop) of recon-skip at each size; fp32."""
    reg = registry.default()
    try:
        model = reg.load("recon-skip")
    except (KeyError, registry.WeightsError):
        model = recipes.build_model(recipes.get("recon-skip")).eval()  # same shape, untrained: same cost
    rng = np.random.default_rng(0)
    out = {}
    for s in sizes:
        img = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
        reconstruct(model, img)
        out[f"{s}x{s}_ms"] = round(1000 * _median_time(lambda img=img: reconstruct(model, img), repeats), 1)
    return out


def run() -> dict:
    return {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "training": training_throughput(),
        "reconstruct": reconstruct_latency(),
    }


def format(results: dict) -> str:
    t, r = results["training"], results["reconstruct"]
    lines = [
        f"machine: {results['machine']}",
        f"training (recon-skip, 64x64 crops, batch 32): loop {t['loop_images_per_s']} img/s vs naive fp32 "
        f"{t['naive_fp32_images_per_s']} img/s = {t['ratio']:.2f}x",
        "reconstruct latency (recon-skip, fp32): " + ", ".join(f"{k} {v}" for k, v in r.items()),
    ]
    return "\n".join(lines)
