"""THE training loop: a generator of per-epoch reports. The CLI prints it; the UI streams it.

Deterministic given a seed (data order and crops come from one torch.Generator; build the model after
torch.manual_seed). Stoppable: `stop()` is checked before every batch, and a stopped run still ends with a
report of its partial epoch, so the caller keeps the partly trained model.

Speed: bf16 autocast + channels_last train the seed's U-Net about 2x faster than fp32 on an AVX-512-bf16 CPU
(`python -m unetlab bench` measures it); on a CPU without native bf16 "fast" keeps fp32 (hardware.py), where
emulated bf16 measured 8x slower. Held-out evaluation always runs in fp32.

Scale: under `accelerate launch` (HF Accelerate) the same loop runs data parallel: pass an `Accelerator` and each
process trains on its share of every epoch's batches (batch i goes to process i mod N) on its own device, the
gradients averaged across processes. Reports are the main process's view; only it should save.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unetlab.data import Data
from unetlab.hardware import bf16_pays
from unetlab.images import grid


@dataclass
class Report:
    epoch: int  # 1-based; a stopped run's last report repeats the epoch it stopped in
    epochs: int
    train_loss: float  # mean over this epoch's batches
    test_loss: float  # on the held-out samples, fp32, eval mode
    psnr: float  # dB on the held-out samples
    images_per_s: float  # training throughput this epoch
    elapsed: float  # seconds since the start
    grid: np.ndarray = field(repr=False)  # uint8: fixed held-out samples, input | output
    stopped: bool = False

    def row(self) -> dict:
        """The numbers, without the grid (for cards, JSON and plots)."""
        d = asdict(self)
        del d["grid"]
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in d.items()}


class Objective(Protocol):
    """What the loop trains: a loss on a batch, and an evaluation of held-out samples.

    An objective with `labels = True` (diffusion, the classifier) is also given the batch's class labels, as a
    third argument to both methods."""

    def loss(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor: ...

    def evaluate(self, model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Per-sample loss, per-sample MSE of the output image vs its target, and the preview grid's columns."""
        ...


class Reconstruct:
    """Autoencoding: the target is the input. MSE loss; PSNR on [0, 1] images."""

    def loss(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(model(x).float(), x)

    def evaluate(self, model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        y = model(x).float()
        mse = (y - x).pow(2).flatten(1).mean(1)
        return mse, mse, [x, y]


def cosine_schedule(steps: int, warmup: int) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to zero: the usual shape for short runs."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, steps - warmup))))

    return factor


def launched_accelerator():
    """An `accelerate.Accelerator` when this process was started by `accelerate launch` (it sets
    ACCELERATE_MIXED_PRECISION in every process's environment), else None: plain runs never import accelerate."""
    if "ACCELERATE_MIXED_PRECISION" not in os.environ:
        return None
    from accelerate import Accelerator

    return Accelerator()


@torch.no_grad()
def evaluate(
    model: nn.Module, data: Data, objective: Objective, batch_size: int, preview: int, device: str = "cpu"
) -> tuple[float, float, np.ndarray]:
    """Held-out loss, PSNR (from the mean MSE) and the preview grid, in fp32 eval mode."""
    model.eval()
    losses, errs, columns = [], [], None
    for i in range(0, len(data.test), batch_size):
        batch = data.test[i : i + batch_size].to(device)
        if getattr(objective, "labels", False):
            loss, mse, cols = objective.evaluate(model, batch, data.test_labels[i : i + batch_size].to(device))
        else:
            loss, mse, cols = objective.evaluate(model, batch)
        losses.append(loss)
        errs.append(mse)
        if columns is None:
            columns = [c[:preview].float().cpu().numpy() for c in cols]
    mse = torch.cat(errs).mean().item()
    return torch.cat(losses).mean().item(), 10 * math.log10(1 / max(mse, 1e-12)), grid(columns)


def train(
    model: nn.Module,
    data: Data,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    objective: Objective | None = None,
    fast: bool = True,
    preview: int = 8,
    stop: Callable[[], bool] | None = None,
    accelerator=None,
) -> Iterator[Report]:
    """Train `model` in place with AdamW and a warm-up + cosine schedule; yield one Report per epoch.

    accelerator: an `accelerate.Accelerator` (see launched_accelerator) to train data parallel; None trains here.
    """
    objective = objective or Reconstruct()
    gen = torch.Generator().manual_seed(seed)
    shards, rank = (accelerator.num_processes, accelerator.process_index) if accelerator else (1, 0)
    device = accelerator.device if accelerator else torch.device("cpu")
    steps_per_epoch = math.ceil(math.ceil(len(data) / batch_size) / shards)
    total = epochs * steps_per_epoch
    memory_format = torch.channels_last if fast else torch.contiguous_format
    bf16 = fast and bf16_pays(device)  # without native bf16 it is emulated, and slower than fp32 (hardware.py)
    core = model.to(device, memory_format=memory_format)  # the model itself (evaluated, returned, saved)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    if accelerator is not None:
        model, opt = accelerator.prepare(model, opt)  # several processes: DistributedDataParallel
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_schedule(total, warmup=min(100, total // 10 + 1)))
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        losses, seen, stopped = [], 0, False
        t0 = time.perf_counter()
        labelled = getattr(objective, "labels", False)
        for i, batch in enumerate(data.batches(batch_size, gen, labels=labelled)):
            if i % shards != rank:  # every process draws the same batches (same seed) and keeps its share
                continue
            if stop is not None and stop():
                stopped = True
                break
            x, y = batch if labelled else (batch, None)
            x = x.to(device).contiguous(memory_format=memory_format)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = objective.loss(model, x, y.to(device)) if labelled else objective.loss(model, x)
            opt.zero_grad(set_to_none=True)
            if accelerator is not None:
                accelerator.backward(loss)
            else:
                loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            seen += len(x)
        dt = time.perf_counter() - t0
        test_loss, psnr, preview_grid = evaluate(core, data, objective, 4 * batch_size, preview, device)
        yield Report(
            epoch=epoch,
            epochs=epochs,
            train_loss=float(np.mean(losses)) if losses else float("nan"),
            test_loss=test_loss,
            psnr=psnr,
            images_per_s=seen / dt if dt > 0 else 0.0,
            elapsed=time.perf_counter() - start,
            grid=preview_grid,
            stopped=stopped,
        )
        if stopped:
            return
