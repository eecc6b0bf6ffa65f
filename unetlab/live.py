"""Live training: what the Live training tab runs. A job (model, data, settings) becomes one recipe, two for the
U-Net with vs without skips, or three for diffusion's ε vs x0 vs v; THE loop (train.py) trains them, streamed epoch
by epoch.

The models of a comparison get the same seed, so the same initial weights where their shapes agree, and the same
batches in the same order; their loops advance alternately, one epoch each. The three diffusion models differ only
in what their U-Net predicts (Diffusion Explorer, Helbling & Chau 2025, does this in 2-D; here on digits): after
every epoch each one samples every digit from the same noise, and the dataset's classifier reads the samples, the
one number the three objectives share (their losses are on different targets). A job ends when its epochs are
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

from unetlab import cards, diffusion, recipes, registry, tasks
from unetlab import data as datasets
from unetlab.models.classifier import predict
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
    "diffusion": "DDPM: ε vs x0 vs v (side by side)",
}
DATASETS = ("digits", "mnist", "faces", "photos", *datasets.CORPUS_SETS, "upload")
CORPUS_IMAGES = 320  # corpus data: this many training images, from the cache (decoding all ~2,400 takes ~50 s)
NOISES = ("gaussian", "masking")
LOSS_WEIGHT_MAX = 1000.0  # β, L1, λ, commitment (and the noise level): a larger weight only drowns the other terms

# Diffusion: the shipped models' U-Net shape per dataset (recipes.py; its image_size is the data's side), and the
# training digits of an epoch (the first ones; 0: all). One thread, bf16: digits' 1,438 take ~12 s per model (120-130
# img/s), MNIST's first 1,536 ~16 s (95 img/s); its 4,000 would take 42 s, three models two minutes a round.
DIFFUSION_SHAPES = {"digits": recipes.DIFFUSION, "mnist": recipes.DIFFUSION_MNIST}
DIFFUSION_TRAIN = {"digits": 0, "mnist": 1536}
OBJECTIVES = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}  # name tag -> prediction_type, as shipped
ROLES = {"epsilon": "ε", "sample": "x0", "v_prediction": "v"}  # prediction_type -> its curves' and grids' name
PER_CLASS = 5  # samples of each digit after every epoch: 50 per model, ~2 s on one thread at 16x16
SAMPLE_STEPS = 20  # DDIM steps (deterministic, eta 0); the shipped cards measure at 50
SAMPLE_SEED = 0  # the same noise for every model and every epoch, so that the grids are comparable
DIGITS_AT = 0.8  # samples "read as digits" once the classifier reads this share as the digit asked for


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
        if self.model == "diffusion" and self.dataset not in DIFFUSION_SHAPES:
            raise ValueError(
                f"the diffusion models learn labelled digits, judged by a classifier of their data: choose "
                f"{' or '.join(DIFFUSION_SHAPES)}, not {self.dataset}"
            )
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
    return {"unet": "reconstruct", "colorizer": "colorize", "vae": "vae", "diffusion": "diffusion"}.get(
        job.model, "latent-ae"
    )


def columns(job: Job) -> str:
    """What the columns of the job's held-out grid show."""
    shown = {
        "dae": "noisy | clean | output",
        "colorizer": "grey input | output | truth",
        "diffusion": f"{PER_CLASS} samples of each digit (row = digit), from the same noise",
    }
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
    elif job.model == "diffusion":
        config, keep = DIFFUSION_SHAPES[job.dataset], DIFFUSION_TRAIN[job.dataset]
        d = datasets.load(job.dataset, size=config["image_size"])
        if keep and keep < len(d.train):
            note = f"{job.dataset}: the first {keep:,} of its {len(d.train):,} training digits"
            d = replace(d, train=d.train[:keep], train_labels=d.train_labels[:keep])
    elif job.dataset in datasets.CORPUS_SETS:
        crop = CROP if fully_convolutional else SIZE
        d = datasets.corpus_data(job.dataset, crop, EPOCH_SIZE, fetch=False, limit=CORPUS_IMAGES)
        note = f"{job.dataset}: {len(d.train)} training images of the corpus, from the cache"
    else:
        d = datasets.load(job.dataset, size=SIZE)
    labels = None if d.test_labels is None else d.test_labels[:HELDOUT]
    return replace(d, test=d.test[:HELDOUT], test_labels=labels), note


def job_recipes(job: Job, data: datasets.Data) -> list[Recipe]:
    """The recipe(s) a job trains: two for the U-Net comparison (without skips first), three for diffusion (the
    shipped recipes' U-Net, predicting ε, x0 and v), else one."""
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
    if job.model == "diffusion":
        names = {f"live-ddpm-{tag}-{job.dataset}": kind for tag, kind in OBJECTIVES.items()}
        made = recipes.diffusion_recipes(names, DIFFUSION_SHAPES[job.dataset], job.dataset, data.size, job.epochs)
        hyper = dict(batch_size=job.batch_size, lr=job.lr, seed=job.seed)
        return [
            replace(r, **hyper, description=f"trained in the Live training tab: {r.description}") for r in made.values()
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
class Samples:
    """A diffusion model's samples of every digit after one of its epochs, from the job's fixed noise."""

    epoch: int
    grid: np.ndarray = field(repr=False)  # uint8, row c = digit c
    accuracy: float | None  # the share the classifier reads as the digit asked for; None: no classifier here
    minutes: float  # the model's own training time so far (the three take turns: the job's clock runs ~3x as fast)
    job_minutes: float  # the job's clock


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
    # diffusion jobs: each model's latest samples, and its first ones that read as digits (DIGITS_AT), by recipe name
    samples: dict[str, Samples] = field(default_factory=dict)
    digits_at: dict[str, Samples] = field(default_factory=dict)
    accuracy_history: list[dict] = field(default_factory=list)  # rows for the accuracy plot: epoch, accuracy, model
    judge: str = ""  # the classifier that reads the samples ("": none registered)

    @property
    def epoch(self) -> int:
        return min(r.epoch for r in self.reports.values()) if self.reports else 0

    def curves(self) -> pd.DataFrame:
        """Long format for gr.LinePlot; typed even when empty, so the plot's axes start out numeric."""
        frame = pd.DataFrame(self.history, columns=["epoch", "loss", "curve"])
        return frame.astype({"epoch": int, "loss": float, "curve": str})

    def accuracies(self) -> pd.DataFrame:
        """The classifier's accuracy on each diffusion model's samples, per epoch, in %: the curves the three
        objectives share a scale on. Long format for gr.LinePlot."""
        frame = pd.DataFrame(self.accuracy_history, columns=["epoch", "accuracy (%)", "model"])
        return frame.astype({"epoch": int, "accuracy (%)": float, "model": str})


def label(job: Job, r: Recipe) -> str:
    """A model's name in the plot's legend and the tab's captions."""
    if job.model == "unet":
        return "with skips" if r.config["skips"] else "without skips"
    if job.model == "diffusion":
        return ROLES[r.config["prediction_type"]]
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
    own = [0.0] * len(rs)  # each model's own training seconds (its loop's epochs, held-out pass included)
    judge = diffusion.judge(reg, job.dataset) if job.model == "diffusion" else None
    step.judge = diffusion.classifier_for(job.dataset) if judge is not None else ""

    def sample(i: int, epoch: int) -> None:
        """A diffusion model's samples after its epoch, and whether they read as digits yet."""
        if job.model != "diffusion":
            return
        name, now = rs[i].name, time.perf_counter() - start
        with torch_threads(threads):
            s = step.samples[name] = class_samples(models[i], judge, epoch, own[i], now)
        if s.accuracy is not None:
            step.accuracy_history.append({"epoch": epoch, "accuracy (%)": 100 * s.accuracy, "model": labels[i]})
            if s.accuracy >= DIGITS_AT and name not in step.digits_at:
                step.digits_at[name] = s

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
    for i in range(len(rs)):  # the untrained models' samples: noise, read as digits by chance (~10 %)
        sample(i, 0)
    step.elapsed = time.perf_counter() - start
    yield step
    loops = [recipes.training(r, data, m, stop=should_stop) for r, m in zip(rs, models)]
    active = list(range(len(rs)))
    while active:
        for i in list(active):
            began = time.perf_counter()
            with torch_threads(threads):
                report = next(loops[i], None)
            own[i] += time.perf_counter() - began
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
                sample(i, report.epoch)
            step.elapsed = time.perf_counter() - start
            yield step
    if event.is_set():
        step.stopped = "stopped"
    elif step.elapsed > cap:
        step.stopped = f"time cap ({cap:g} s, UNETLAB_TRAIN_SECONDS)"
    bad = [f"{lab}: {len(registry.nonfinite(m))} tensor(s)" for lab, m in zip(labels, models) if registry.nonfinite(m)]
    if bad:  # checked for every model before any is registered: a comparison is registered whole or not at all
        raise ValueError(diverged(job, f"weights holding NaN or infinity ({'; '.join(bad)})"))
    metrics = {name: card_samples(step, name) for name in step.samples}
    step.names, step.download = hand_off(rs, models, data, histories, step.elapsed, reg, out_dir, metrics)
    step.done = True
    yield step


def class_samples(
    model: torch.nn.Module, classifier: torch.nn.Module | None, epoch: int, seconds: float, job_seconds: float
) -> Samples:
    """A diffusion model's PER_CLASS samples of every digit from the job's fixed noise (deterministic DDIM,
    SAMPLE_STEPS steps, conditional), and the share the classifier reads as the digit asked for."""
    grid, xs = diffusion.class_grid(model, PER_CLASS, steps=SAMPLE_STEPS, scheduler="ddim", seed=SAMPLE_SEED)
    asked = torch.arange(10).repeat_interleave(PER_CLASS)  # class_grid's order: PER_CLASS of 0, then of 1, ...
    accuracy = None if classifier is None else (predict(classifier, xs) == asked).float().mean().item()
    return Samples(epoch, grid, accuracy, seconds / 60, job_seconds / 60)


def card_samples(step: JobStep, name: str) -> dict:
    """A diffusion model's card metrics: its last samples as the classifier read them, and when they first read as
    digits. Kept apart from the shipped cards' sample metrics (by_guidance), which are measured on 50 samples of
    each digit at 50 steps."""
    last, first = step.samples[name], step.digits_at.get(name)
    sampler = dict(scheduler="ddim", steps=SAMPLE_STEPS, eta=0.0, guidance=1.0, per_class=PER_CLASS, seed=SAMPLE_SEED)
    reached = None
    if first is not None:
        reached = {"epoch": first.epoch, "minutes": round(first.minutes, 2), "job_minutes": round(first.job_minutes, 2)}
    return {
        "live_samples": {
            "epoch": last.epoch,
            "accuracy": None if last.accuracy is None else round(last.accuracy, 4),
            "classifier": step.judge or None,
            "sampler": sampler,
            "threshold": DIGITS_AT,
            "digits_at": reached,  # None: not reached (or no classifier to tell)
        }
    }


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
    metrics: dict[str, dict] | None = None,
) -> tuple[list[str], str]:
    """Register every model (usable at once in every tab of the registry view's session) and zip their weights
    (a file, or a diffusers folder) + cards for download. metrics: more of each card's metrics, by recipe name. A
    folder made here goes with the models: deleted when they leave the registry."""
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
            card["metrics"] |= (metrics or {}).get(r.name, {})
            path = registry.save(model, card, out_dir, dtype=torch.float32)
            held = None  # only the Latent tab's map uses a model's held-out images: this job's own, for an AE
            if tasks.get(r.task).latent:  # a small upload: add training images, or the map holds a point or two
                few = len(data.test) < MAP_POINTS
                held = (torch.cat([data.test, data.train[:MAP_POINTS]]), None) if few else (data.test, data.test_labels)
            card = json.loads(path.read_text())
            reg.register(r.name, r.task, r.model, card["config"], model, card, files=owned, heldout=held)
            weights = path.with_name(card["weights"])
            files = sorted(f for f in weights.rglob("*") if f.is_file()) if weights.is_dir() else [weights]
            for f in [path, *files]:
                zf.write(f, f.relative_to(out_dir).as_posix())
    return [r.name for r in rs], str(archive)


def live_settings(r: Recipe) -> dict:
    return {"dataset": r.dataset, "epochs": r.epochs, "batch_size": r.batch_size, "lr": r.lr, "seed": r.seed}


def grids(step: JobStep) -> list[np.ndarray]:
    """The latest grid of each model, in the order the job trains them: its samples of every digit for diffusion,
    else its held-out grid."""
    if step.samples:
        return [s.grid for s in step.samples.values()]
    return [r.grid for r in step.reports.values()]
