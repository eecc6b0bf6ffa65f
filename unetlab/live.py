"""Live training: what the Live training tab runs. A job (model, data, settings) becomes one recipe, or two for the
U-Net with vs without skips, trained by THE loop (train.py) and streamed epoch by epoch.

The two U-Nets of a comparison get the same seed, so the same initial weights where their shapes agree, and the
same batches in the same order; their loops advance alternately, one epoch each. A job ends when its epochs are
done, when its session asks it to stop (within one batch) or at the time cap; either way its models are
registered in the registry view it was given (private to the session that trained them, unless the server shares
live models; every tab of that session can use them at once) and written to a zip for download.

Sharing one CPU: the app lets one job run at a time (its event's concurrency limit), caps each at
settings.train_seconds (UNETLAB_TRAIN_SECONDS), and trains on settings.threads torch threads (UNETLAB_TRAIN_THREADS,
default half the cores), set only on the thread that runs each epoch, so the other tabs keep theirs.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from unetlab import cards, recipes, registry, tasks
from unetlab import data as datasets
from unetlab.recipes import Recipe
from unetlab.settings import Settings
from unetlab.train import Report, heldout
from unetlab.uploads import Limits, read_uploads

EPOCH_SIZE = 512  # photo-like data: random crops per epoch (a few seconds per epoch on one core)
CROP = 64  # ... of this side, for the fully convolutional U-Nets; the fixed-size AEs see 32x32 images
SIZE = 32
PREVIEW = 8  # held-out samples in each grid (the loop's default)
HELDOUT = 256  # held-out samples scored after every epoch (a fixed subset): the curve costs under a tenth
MAP_POINTS = 32  # fewest images on the Latent tab's map of a model trained here

CHOICES = {  # the tab's model choices: key -> what it is
    "unet": "U-Net autoencoder, with vs without skips (side by side)",
    "colorizer": "U-Net colouriser: grey in, RGB out (the original article's MSE)",
    "vae": "VAE (β)",
    "dae": "denoising AE",
    "sparse-ae": "sparse AE (L1 on the code)",
    "contractive-ae": "contractive AE (Jacobian penalty)",
    "vq-vae": "VQ-VAE (codebook)",
}
DATASETS = ("digits", "mnist", "faces", "photos", *datasets.CORPUS_SETS, "upload")
CORPUS_IMAGES = 320  # corpus data: this many training images, from the cache (decoding all ~2,400 takes ~50 s)
NOISES = ("gaussian", "masking")
LOSS_WEIGHT_MAX = 1000.0  # β, L1, λ, commitment (and the noise level): a larger weight only drowns the other terms


@dataclass
class Job:
    model: str = "unet"  # a key of CHOICES
    dataset: str = "digits"  # a key of DATASETS
    files: list[str] = field(default_factory=list)  # upload: a zip and/or image files
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    width: int = 8  # channels of the first layer; doubles at every level down
    seed: int = 0
    noise: str = "gaussian"  # denoising AE: gaussian | masking
    noise_level: float = 0.3  # its std, or the masked share
    beta: float = 1.0  # VAE: weight of the KL term
    l1: float = 0.1  # sparse AE: weight of the code's L1 norm
    contraction: float = 1.0  # contractive AE: weight of ||dz/dx||_F^2
    codebook: int = 64  # VQ-VAE: codebook size K
    commitment: float = 0.25  # VQ-VAE: commitment cost beta

    def check(self) -> None:
        """Raise ValueError with a message a user can act on."""
        if self.model not in CHOICES:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(CHOICES)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if self.dataset == "upload" and not self.files:
            raise ValueError("upload a zip of images, or several images, to train on your own data")
        if self.model == "colorizer" and self.dataset in ("digits", "mnist", "faces"):
            raise ValueError(f"{self.dataset} are grey: the colouriser needs colour images (photos, or your own)")
        for name, value, lo, hi in (
            ("epochs", self.epochs, 1, 500),
            ("batch size", self.batch_size, 1, 1024),
            ("width", self.width, 1, 64),
            ("codebook size", self.codebook, 2, 4096),
        ):
            if not lo <= value <= hi:
                raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
        if not 0 < self.lr <= 1:
            raise ValueError(f"learning rate must be in (0, 1], got {self.lr}")
        if self.noise not in NOISES:
            raise ValueError(f"noise must be one of {', '.join(NOISES)}, got {self.noise!r}")
        for name, value in (
            ("noise level", self.noise_level),
            ("β", self.beta),
            ("L1 weight", self.l1),
            ("contraction weight", self.contraction),
            ("commitment cost", self.commitment),
        ):
            if not (math.isfinite(value) and 0 <= value <= LOSS_WEIGHT_MAX):  # NaN would pass a plain `< 0`
                raise ValueError(f"{name} must be a finite number from 0 to {LOSS_WEIGHT_MAX:g}, got {value}")
        if self.noise == "masking" and self.noise_level > 1:
            raise ValueError(f"masking noise hides a share of the pixels, 0 to 1; got {self.noise_level}")


def job_task(job: Job) -> str:
    """The registry task of the job's models, which decides the tab that lists them."""
    return {"unet": "reconstruct", "colorizer": "colorize", "vae": "vae"}.get(job.model, "latent-ae")


def columns(job: Job) -> str:
    """What the columns of the job's held-out grid show."""
    shown = {"dae": "noisy | clean | output", "colorizer": "grey input | output | truth"}
    return shown.get(job.model, "input | output")


def load_data(job: Job, limits: Limits = Limits()) -> tuple[datasets.Data, str]:
    """The job's data and a line describing it (for uploads: what was used and what was skipped)."""
    fully_convolutional = job.model in ("unet", "colorizer")
    note = job.dataset
    if job.dataset == "upload":
        up = read_uploads(job.files, limits)
        d = datasets.from_images("upload", up.images, SIZE, CROP if fully_convolutional else 0, EPOCH_SIZE)
        note = f"your upload: {up.summary()}"
    elif job.dataset == "photos":
        d = datasets.photos(crop=CROP if fully_convolutional else SIZE, epoch_size=EPOCH_SIZE)
    elif job.dataset in datasets.CORPUS_SETS:
        crop = CROP if fully_convolutional else SIZE
        d = datasets.corpus_data(job.dataset, crop, EPOCH_SIZE, fetch=False, limit=CORPUS_IMAGES)
        note = f"{job.dataset}: {len(d.train)} training images of the corpus, from the cache"
    else:
        d = datasets.load(job.dataset, size=SIZE)
    labels = None if d.test_labels is None else d.test_labels[:HELDOUT]
    return replace(d, test=d.test[:HELDOUT], test_labels=labels), note


def job_recipes(job: Job, data: datasets.Data) -> list[Recipe]:
    """The recipe(s) a job trains: two for the U-Net comparison (without skips first), else one."""
    depth = 3 if data.size <= 32 else 4  # 32x32 -> a 4x4 bottom; 64x64 crops -> 4x4 as well
    c = data.channels
    base = Recipe(
        f"live-{job.model}-{job.dataset}",
        job_task(job),
        job.model,
        {},
        job.dataset,
        epochs=job.epochs,
        batch_size=job.batch_size,
        lr=job.lr,
        seed=job.seed,
        crop=data.crop,
        epoch_size=data.epoch_size,
        size=data.size,
        description=f"trained in the Live training tab: {CHOICES[job.model]} on {job.dataset}",
    )
    if job.model == "unet":
        unet = dict(in_channels=c, out_channels=c, base=job.width, depth=depth)
        return [
            replace(base, name=f"live-unet-{tag}-{job.dataset}", model="unet", config={**unet, "skips": skips})
            for tag, skips in (("noskip", False), ("skip", True))
        ]
    if job.model == "colorizer":
        config = dict(in_channels=1, out_channels=3, base=job.width, depth=depth, skips=True, output="sigmoid")
        return [replace(base, model="unet", config=config)]
    ae = dict(in_channels=c, image_size=data.size, base=job.width, depth=3, latent=16, recon="bce")
    extra = {
        "vae": {"beta": job.beta},
        "dae": {"noise": job.noise, "level": job.noise_level},
        "sparse-ae": {"latent": 64, "l1": job.l1},
        "contractive-ae": {"weight": job.contraction},
        "vq-vae": {"dim": 4, "codebook": job.codebook, "commitment": job.commitment},
    }[job.model]
    return [replace(base, config={**ae, **extra})]


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block on n torch threads. The setting belongs to the calling thread (OpenMP), so a server's other
    request threads keep their own; restored afterwards because request threads are reused."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- stopping: each session stops its own job -----------------------------------------------------------------


class Stops:
    """The Stop buttons' bookkeeping, by session: a session can stop or cancel only its own job. The app holds one
    (app.py) and passes it to the Live training tab; the Stop of a session that has ended is forgotten with it."""

    def __init__(self):
        self._running: dict[str, threading.Event] = {}  # session -> its running job's flag
        self._asked: dict[str, float] = {}  # session -> when it last pressed Stop (time.monotonic())
        self._queued: dict[str, float] = {}  # session -> when it last submitted a job, not yet started
        self._lock = threading.Lock()

    def queued(self, session: str) -> None:
        """The session submitted a job, which may now wait for the training slot: a Stop from now on cancels it."""
        with self._lock:
            self._queued[session] = time.monotonic()

    def request(self, session: str) -> bool:
        """Ask the session's running job to stop after its current batch, and cancel its job still waiting in the
        queue; False if it has neither."""
        with self._lock:
            self._asked[session] = time.monotonic()
            event = self._running.get(session)
            if event is not None:
                event.set()
            return event is not None or session in self._queued

    def start(self, session: str) -> threading.Event | None:
        """The flag of the session's job that starts now, or None if the session pressed Stop after submitting it
        (each submission is looked at once). A newer job of the same session replaces the older one's flag."""
        with self._lock:
            queued = self._queued.pop(session, None)
            if queued is not None and self._asked.get(session, -math.inf) > queued:
                return None
            event = self._running[session] = threading.Event()
            return event

    def end(self, session: str, event: threading.Event) -> None:
        with self._lock:
            if self._running.get(session) is event:
                del self._running[session]

    def forget(self, session: str) -> None:
        """Drop what Stop remembers of a session that has ended."""
        with self._lock:
            self._asked.pop(session, None)
            self._queued.pop(session, None)


# --- the run --------------------------------------------------------------------------------------------------


@dataclass
class JobStep:
    """What the tab shows after each model's epoch."""

    reports: dict[str, Report]  # the latest report of each model, by recipe name
    labels: dict[str, str]  # each model's caption, by recipe name
    history: list[dict]  # rows for the loss plot: epoch, loss, curve
    data_note: str
    elapsed: float
    done: bool = False
    stopped: str = ""  # why it ended early ("" if it ran all its epochs)
    names: list[str] = field(default_factory=list)  # registered models, once done
    download: str | None = None  # the zip of weights + cards, once done

    @property
    def epoch(self) -> int:
        return min(r.epoch for r in self.reports.values()) if self.reports else 0

    def curves(self) -> pd.DataFrame:
        """Long format for gr.LinePlot; typed even when empty, so the plot's axes start out numeric."""
        frame = pd.DataFrame(self.history, columns=["epoch", "loss", "curve"])
        return frame.astype({"epoch": int, "loss": float, "curve": str})


def label(job: Job, r: Recipe) -> str:
    """A model's name in the plot's legend and the tab's captions."""
    if job.model == "unet":
        return "with skips" if r.config["skips"] else "without skips"
    return CHOICES[job.model]


def train_job(
    job: Job,
    reg: registry.Registry,
    stops: Stops,
    session: str = "",
    settings: Settings = Settings(),
    out_dir: Path | None = None,
) -> Iterator[JobStep]:
    """Train the job, yielding a JobStep after every model's epoch and a final one with the registered models.

    stops: the app's Stop bookkeeping (the job runs under this session's flag); settings: the time cap
    (train_seconds), the torch threads (threads) and the upload limits. A job whose session pressed Stop while it
    waited in the queue ends at once, training and registering nothing; a job whose model diverges (NaN or infinity)
    raises ValueError, registering nothing."""
    job.check()
    event = stops.start(session)
    if event is None:
        yield JobStep({}, {}, [], "", 0.0, done=True, stopped="stopped before it started")
        return
    try:
        yield from _train(job, reg, event, settings, out_dir)
    finally:
        stops.end(session, event)


def _train(
    job: Job, reg: registry.Registry, event: threading.Event, settings: Settings, out_dir: Path | None
) -> Iterator[JobStep]:
    data, note = load_data(job, Limits.from_settings(settings))
    rs = job_recipes(job, data)
    start = time.perf_counter()
    cap, threads = settings.train_seconds, settings.threads

    def should_stop() -> bool:
        return event.is_set() or time.perf_counter() - start > cap

    models = [recipes.build_model(r) for r in rs]  # each seeded: the same start for the same seed
    labels = [label(job, r) for r in rs]
    step = JobStep({}, {r.name: lab for r, lab in zip(rs, labels)}, [], note, 0.0)
    histories: dict[str, list[dict]] = {r.name: [] for r in rs}
    # epoch 0: the untrained models on the held-out samples, shown at once (the loop's own evaluation)
    for r, m, lab in zip(rs, models, labels):
        m.to(memory_format=torch.channels_last if r.fast else torch.contiguous_format)  # as the loop will
        with torch_threads(threads):
            objective = tasks.get(r.task).objective(r, data)
            test_loss, psnr, grid = heldout(m, data, objective, 4 * r.batch_size, PREVIEW)
        step.elapsed = time.perf_counter() - start
        step.reports[r.name] = Report(0, r.epochs, math.nan, test_loss, psnr, 0.0, step.elapsed, grid)
        step.history += [  # no train loss yet; the empty point names the curve, so the plot's legend has it
            {"epoch": 0, "loss": math.nan, "curve": f"{lab}: train"},
            {"epoch": 0, "loss": test_loss, "curve": f"{lab}: held-out"},
        ]
    yield step
    loops = [recipes.training(r, data, m, stop=should_stop) for r, m in zip(rs, models)]
    active = list(range(len(rs)))
    while active:
        for i in list(active):
            with torch_threads(threads):
                report = next(loops[i], None)
            if report is None:
                active.remove(i)
                continue
            name = rs[i].name
            if not math.isfinite(report.test_loss):  # no point training on: a NaN model stays NaN
                what = f"{labels[i]}: held-out loss {report.test_loss} at epoch {report.epoch}"
                raise ValueError(diverged(job, what))
            step.reports[name] = report
            if not math.isnan(report.train_loss):  # a loop stopped before its epoch's first batch adds nothing
                histories[name].append(report.row())
                step.history += [
                    {"epoch": report.epoch, "loss": report.train_loss, "curve": f"{labels[i]}: train"},
                    {"epoch": report.epoch, "loss": report.test_loss, "curve": f"{labels[i]}: held-out"},
                ]
            step.elapsed = time.perf_counter() - start
            yield step
    if event.is_set():
        step.stopped = "stopped"
    elif step.elapsed > cap:
        step.stopped = f"time cap ({cap:g} s, UNETLAB_TRAIN_SECONDS)"
    bad = [f"{lab}: {len(registry.nonfinite(m))} tensor(s)" for lab, m in zip(labels, models) if registry.nonfinite(m)]
    if bad:  # checked for every model before any is registered: a comparison is registered whole or not at all
        raise ValueError(diverged(job, f"weights holding NaN or infinity ({'; '.join(bad)})"))
    step.names, step.download = hand_off(rs, models, data, histories, step.elapsed, reg, out_dir)
    step.done = True
    yield step


def diverged(job: Job, what: str) -> str:
    return (
        f"training diverged ({what}): nothing was registered. A lower learning rate (this job's: {job.lr:g}) or "
        "smaller loss weights may help."
    )


def hand_off(
    rs: list[Recipe],
    models: list[torch.nn.Module],
    data: datasets.Data,
    histories: dict[str, list[dict]],
    seconds: float,
    reg: registry.Registry,
    out_dir: Path | None = None,
) -> tuple[list[str], str]:
    """Register every model (usable at once in every tab of the registry view's session) and zip their weights +
    cards for download. A folder made here goes with the models: deleted when they leave the registry."""
    owned = () if out_dir else (Path(tempfile.mkdtemp(prefix="unetlab-live-")),)
    out_dir = Path(out_dir or owned[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"{rs[-1].name}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for r, model in zip(rs, models):
            card = cards.new_card(r, model, data, histories[r.name], seconds)
            card["command"] = f"the Live training tab, settings: {json.dumps(live_settings(r))}"
            last = histories[r.name][-1] if histories[r.name] else {}
            card["metrics"] = {"test_psnr": last.get("psnr"), "test_loss": last.get("test_loss")}
            path = registry.save(model, card, out_dir, dtype=torch.float32)
            held = None  # only the Latent tab's map uses a model's held-out images: this job's own, for an AE
            if tasks.get(r.task).latent:  # a small upload: add training images, or the map holds a point or two
                few = len(data.test) < MAP_POINTS
                held = (torch.cat([data.test, data.train[:MAP_POINTS]]), None) if few else (data.test, data.test_labels)
            card = json.loads(path.read_text())
            reg.register(r.name, r.task, r.model, card["config"], model, card, files=owned, heldout=held)
            zf.write(path, path.name)
            zf.write(path.with_suffix(".safetensors"), path.with_suffix(".safetensors").name)
    return [r.name for r in rs], str(archive)


def live_settings(r: Recipe) -> dict:
    return {"dataset": r.dataset, "epochs": r.epochs, "batch_size": r.batch_size, "lr": r.lr, "seed": r.seed}


def grids(step: JobStep) -> list[np.ndarray]:
    """The latest held-out grid of each model, in the order the job trains them."""
    return [r.grid for r in step.reports.values()]
