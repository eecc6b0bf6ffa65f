"""THE training loop: a generator of per-epoch reports. The CLI prints it; the UI streams it.

Deterministic given a seed: data order and crops come from one torch.Generator, every random number the objective
draws from a second one seeded from the same seed (objective_seed); build the model after torch.manual_seed. The
objective is the task's (tasks/<task>.py): the loop itself knows no task. Stoppable: `stop()`
is checked before every batch, and a stopped run still ends with a report of its partial epoch, so the caller
keeps the partly trained model.

Speed: bf16 autocast + channels_last train the seed's U-Net about 2x faster than fp32 on an AVX-512-bf16 CPU
(`python -m unetlab bench` measures it); on a CPU without native bf16 "fast" keeps fp32 (hardware.py), where
emulated bf16 measured 8x slower. Held-out evaluation always runs in fp32.

Scale: under `accelerate launch` (HF Accelerate) the same loop runs data parallel: pass an `Accelerator` and each
process trains on its share of every epoch's batches (batch i goes to process i mod N) on its own device, the
gradients averaged across processes. Reports are the main process's view; only it should save.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn

from unetlab.data import Data
from unetlab.hardware import bf16_pays
from unetlab.images import grid
from unetlab.settings import Settings


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
    logs: dict[str, float] = field(default_factory=dict)  # the objective's logged numbers, mean over the epoch

    def row(self) -> dict:
        """The numbers, without the grid and the logs (for cards, JSON and plots)."""
        d = asdict(self)
        del d["grid"], d["logs"]
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in d.items()}


@dataclass
class Batch:
    """What an objective is given: images, and their class labels where the data has them (digits)."""

    x: torch.Tensor  # (B, C, H, W) in [0, 1]
    labels: torch.Tensor | None = None  # (B,) class indices, or None for unlabelled data

    def need_labels(self) -> torch.Tensor:
        """The labels, for an objective that trains on them; ValueError when the data has none."""
        if self.labels is None:
            raise ValueError("this objective trains on class labels, and the data has none; use digits")
        return self.labels


class Objective(Protocol):
    """What the loop trains: a loss on a batch, and an evaluation of held-out samples.

    Every random number an objective draws (noise, timesteps, hints) comes from `generator`, which the loop seeds
    from the run's seed (objective_seed), so a run is the same every time."""

    def loss(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """The batch's mean loss (to backpropagate), and named numbers to log (floats; may be empty)."""
        ...

    def evaluate(self, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Per-sample loss, per-sample MSE of the output image vs its target, and the preview grid's columns."""
        ...


def cosine_schedule(steps: int, warmup: int) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to zero: the usual shape for short runs."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, steps - warmup))))

    return factor


def objective_seed(seed: int, rank: int = 0) -> int:
    """The seed of the generator an objective draws from (noise, timesteps, hints), derived from the run's seed.

    Not the data's generator itself: under accelerate every process must draw the same batches to keep its share
    of them, and each process's objective draws only for its own share. SeedSequence makes the two streams
    independent of each other (and of other ranks'), where seeding both with `seed` would repeat one stream."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def launched_accelerator(settings: Settings):
    """An `accelerate.Accelerator` when this process was started by `accelerate launch` (settings.accelerate: it
    sets ACCELERATE_MIXED_PRECISION in every process's environment), else None: plain runs never import accelerate."""
    if not settings.accelerate:
        return None
    from accelerate import Accelerator

    return Accelerator()


@torch.no_grad()
def heldout(
    model: nn.Module, data: Data, objective: Objective, batch_size: int, preview: int, device: str = "cpu"
) -> tuple[float, float, np.ndarray]:
    """Held-out loss, PSNR (from the mean MSE) and the preview grid, in fp32 eval mode."""
    model.eval()
    losses, errs, columns = [], [], None
    for i in range(0, len(data.test), batch_size):
        labels = None if data.test_labels is None else data.test_labels[i : i + batch_size].to(device)
        loss, mse, cols = objective.evaluate(model, Batch(data.test[i : i + batch_size].to(device), labels))
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
    objective: Objective,
    seed: int = 0,
    fast: bool = True,
    preview: int = 8,
    stop: Callable[[], bool] | None = None,
    accelerator=None,
) -> Iterator[Report]:
    """Train `model` in place on `objective` (a task's, tasks/) with AdamW and a warm-up + cosine schedule; yield
    one Report per epoch.

    accelerator: an `accelerate.Accelerator` (see launched_accelerator) to train data parallel; None trains here.
    """
    shards, rank = (accelerator.num_processes, accelerator.process_index) if accelerator else (1, 0)
    gen = torch.Generator().manual_seed(seed)  # data order and crops: the same on every process
    draws = torch.Generator().manual_seed(objective_seed(seed, rank))  # what the objective draws, on this process
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
    labelled = data.train_labels is not None and not data.crop  # random crops carry no labels
    for epoch in range(1, epochs + 1):
        model.train()
        losses, logs, seen, stopped = [], defaultdict(list), 0, False
        t0 = time.perf_counter()
        for i, drawn in enumerate(data.batches(batch_size, gen, labels=labelled)):
            if i % shards != rank:  # every process draws the same batches (same seed) and keeps its share
                continue
            if stop is not None and stop():
                stopped = True
                break
            x, y = drawn if labelled else (drawn, None)
            batch = Batch(x.to(device).contiguous(memory_format=memory_format), None if y is None else y.to(device))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss, logged = objective.loss(model, batch, draws)
            opt.zero_grad(set_to_none=True)
            if accelerator is not None:
                accelerator.backward(loss)
            else:
                loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            for k, v in logged.items():
                logs[k].append(v)
            seen += len(x)
        dt = time.perf_counter() - t0
        test_loss, psnr, preview_grid = heldout(core, data, objective, 4 * batch_size, preview, device)
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
            logs={k: float(np.mean(v)) for k, v in logs.items()},
        )
        if stopped:
            return


def keep_best(reports: Iterator[Report], model: nn.Module) -> Iterator[Report]:
    """Pass the reports on; when they end, put back the weights of the epoch with the lowest held-out loss
    (early stopping without stopping: the curve stays whole, the card says which epoch was kept)."""
    best, state = float("inf"), None
    for report in reports:
        if report.test_loss < best:
            best, state = report.test_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}
        yield report
    if state is not None:
        model.load_state_dict(state)
