"""The one model registry behind the app, the CLI and training.

An entry is a name, a task, a model class + config, a weights file and a card (recipe, exact command, data,
seed, metrics, per-epoch history, sha256). Shipped entries are the cards in weights/; models trained at run time
join with `register()`. Weights are safetensors only, loaded lazily, checked against the card's sha256 and
cached. A missing or corrupt file raises WeightsError naming the file and the command that rebuilds it; every
other entry keeps working. A card that cannot be used (not JSON, a key missing, a weights path outside its folder)
makes only its own model unavailable: `Registry.unavailable` says why, and asking for it by name raises CardError.
Weights and cards are written atomically (a temporary file, then os.replace), and never with a non-finite value.

Models trained at run time (the Live training tab) are private to the session that trained them: each browser tab
or API client sees the registry through `for_session`, which adds its own models to the shipped ones. A session's
models and their files go when it ends (`end_session`) or after UNETLAB_LIVE_IDLE seconds unused. A server may
share them with every session instead (UNETLAB_SHARE_LIVE=1): then the newest job of a name replaces the older.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from unetlab.settings import Settings

SHARED = ""  # the server-wide space: models registered outside any session (the CLI, tests) or shared by setting


class RegistryError(KeyError):
    """An unknown model name; the message lists the valid ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class WeightsError(RuntimeError):
    """A weights file that is missing, corrupt or does not match its card."""


class CardError(WeightsError):
    """A card that cannot be used: not a JSON object, a required key missing, or a weights path outside its folder."""


def _builder(module: str, model: str, config: str) -> Callable[[dict], nn.Module]:
    """A builder that imports its model's module on first use (torch models load only when needed)."""

    def build(c: dict) -> nn.Module:
        m = importlib.import_module(module)
        return getattr(m, model)(getattr(m, config)(**c))

    return build


AUTOENCODERS = "unetlab.models.autoencoders"


def _folder(module: str, model: str) -> Callable[[Path], nn.Module]:
    """A loader of a diffusers folder through its model class's from_pretrained (imported on first use)."""

    def load(folder: Path) -> nn.Module:
        return getattr(importlib.import_module(module), model).from_pretrained(folder)

    return load


# model class name (as written in cards) -> builder from the card's config
MODELS: dict[str, Callable[[dict], nn.Module]] = {
    "unet": _builder("unetlab.models.unet", "UNet", "UNetConfig"),
    "vae": _builder("unetlab.models.vae", "VAE", "VAEConfig"),
    "ae": _builder("unetlab.models.vae", "AE", "AEConfig"),
    "dae": _builder(AUTOENCODERS, "DenoisingAE", "DenoisingAEConfig"),
    "sparse-ae": _builder(AUTOENCODERS, "SparseAE", "SparseAEConfig"),
    "contractive-ae": _builder(AUTOENCODERS, "ContractiveAE", "ContractiveAEConfig"),
    "vq-vae": _builder(AUTOENCODERS, "VQVAE", "VQVAEConfig"),
    "classifier": _builder("unetlab.models.classifier", "DigitClassifier", "ClassifierConfig"),
    "diffusion": _builder("unetlab.models.diffusion", "DigitDiffusion", "DiffusionConfig"),
    "ldm-vae": _builder("unetlab.models.ldm", "LatentVAE", "LatentVAEConfig"),
    "ldm": _builder("unetlab.models.ldm", "LatentDiffusion", "LatentDiffusionConfig"),
}
# model classes stored as a diffusers folder (save_pretrained) rather than one safetensors file -> loader
FOLDER_MODELS: dict[str, Callable[[Path], nn.Module]] = {
    "diffusion": _folder("unetlab.models.diffusion", "DigitDiffusion"),
    "ldm-vae": _folder("unetlab.models.ldm", "LatentVAE"),
    "ldm": _folder("unetlab.models.ldm", "LatentDiffusion"),
}


def build(model: str, config: dict) -> nn.Module:
    if model not in MODELS:
        raise RegistryError(f"unknown model class {model!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[model](config)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def environment() -> dict:
    """What a card records about the machine that made it."""
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }


@dataclass
class Entry:
    name: str
    task: str  # reconstruct | colorize | vae | latent-ae | diffusion | ...
    model: str  # a key of MODELS
    config: dict
    card: dict
    weights: Path | None = None  # None: registered at run time, lives only in memory
    module: nn.Module | None = field(default=None, repr=False)
    files: tuple[Path, ...] = ()  # registered at run time: folders that go with it (its download), deleted with it
    card_path: Path | None = None  # the card it was read from (None: registered at run time)
    # registered at run time: the (images, labels) it was evaluated on, e.g. a user's upload; shipped models' held-out
    # data is named by their card (data.dataset) instead
    heldout: tuple[torch.Tensor, torch.Tensor | None] | None = field(default=None, repr=False)
    derived: dict = field(default_factory=dict, repr=False)  # what tabs compute once from the model (its latent map)

    @property
    def rebuild_command(self) -> str:
        return self.card.get("command") or f"python -m unetlab train --recipe {self.card.get('recipe', self.name)}"

    @property
    def params(self) -> int:
        return int(self.card.get("params", 0))


CARD_KEYS = {"name": str, "task": str, "model": str, "config": dict}  # what every card must hold, and its type


def read_card(path: Path) -> Entry:
    """The entry a card describes; CardError (naming the file) when the card cannot be used."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise CardError(f"card {path} cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise CardError(f"card {path} is not valid JSON ({e})") from None
    if not isinstance(card, dict):
        raise CardError(f"card {path} is not a JSON object: not a card written by unetlab train")
    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        raise CardError(f"card {path} lacks {', '.join(missing)}: not a card written by unetlab train")
    for key, kind in CARD_KEYS.items():
        if not isinstance(card[key], kind):
            raise CardError(f"card {path}: {key!r} must be a {kind.__name__}, got {card[key]!r}")
    if card["model"] not in MODELS:
        raise CardError(f"card {path}: unknown model class {card['model']!r}; known: {', '.join(sorted(MODELS))}")
    weights = card.get("weights", f"{card['name']}.safetensors")
    # a plain name in the card's own folder: no absolute path, no sub-folder, no way out with ..
    if not isinstance(weights, str) or weights in ("", ".", "..") or Path(weights).name != weights:
        raise CardError(f"card {path}: weights {weights!r} must be a file or folder name beside the card")
    return Entry(
        name=card["name"],
        task=card["task"],
        model=card["model"],
        config=card["config"],
        card=card,
        weights=path.with_name(weights),
        card_path=path,
    )


def nonfinite(module: nn.Module, dtype: torch.dtype = torch.float32) -> list[str]:
    """The names of the module's tensors holding a NaN or an infinity once stored in `dtype` (float16 overflows
    past 65,504)."""
    state = module.state_dict().items()
    return [k for k, v in state if v.is_floating_point() and not torch.isfinite(v.detach().to(dtype)).all()]


def writable_dir(path: Path | str) -> Path:
    """Create the folder if it is missing and check that a file can be written there: a run fails at its start,
    not after its last epoch. OSError naming the folder otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".unetlab-check-"):
            pass
    except OSError as e:
        raise OSError(f"cannot write to {path} ({e.strerror or e})") from None
    return path


def _temporary(path: Path) -> Path:
    """A name beside `path` that no other writer uses and no card glob matches (not mkstemp: its files are 0600)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """write(temporary path) beside `path`, then rename it over `path`: readers see the old file or the new one,
    never half of one."""
    tmp = _temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_card(path: Path, card: dict) -> Path:
    """Write a card atomically."""
    _atomic(Path(path), lambda tmp: tmp.write_text(json.dumps(card, indent=1) + "\n"))
    return Path(path)


def save(module: nn.Module, card: dict, out_dir: Path, dtype: torch.dtype = torch.float32) -> Path:
    """Write <name>.safetensors (+ its sha256 in the card) and <name>.json; returns the card's path.

    Floating tensors are stored in `dtype` (float16 halves the file), except those with a value beyond its range
    (a BatchNorm's running variance can pass float16's 65,504), which stay float32 and are listed in the card; all
    are loaded back as float32. Weights that are not finite (a diverged run) raise WeightsError and nothing is
    written; so does a diffusers folder that does not fit `dtype` (save_pretrained writes one dtype).
    """
    out_dir = Path(out_dir)
    name = card["name"]
    bad = nonfinite(module, dtype if card["model"] in FOLDER_MODELS else torch.float32)
    if bad:
        dt = str(dtype).removeprefix("torch.")
        raise WeightsError(
            f"model {name!r} has {len(bad)} tensor(s) holding NaN or infinity in {dt} (first: {bad[0]}): the run "
            "diverged (a lower learning rate may help); nothing was written"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    if card["model"] in FOLDER_MODELS:
        return _save_folder(module, card, out_dir, dtype)
    weights = out_dir / f"{name}.safetensors"
    wide = nonfinite(module, dtype)  # finite in float32 (checked above), out of dtype's range: kept in float32
    state = {
        k: (v.to(torch.float32 if k in wide else dtype) if v.is_floating_point() else v).contiguous()
        for k, v in module.state_dict().items()
    }
    _atomic(weights, lambda tmp: save_file(state, str(tmp), metadata={"name": name, "task": card["task"]}))
    card = {**card, "weights": weights.name, "sha256": sha256(weights), "dtype": str(dtype).removeprefix("torch.")}
    card = {k: v for k, v in card.items() if k != "float32_tensors"} | ({"float32_tensors": wide} if wide else {})
    return write_card(out_dir / f"{name}.json", card)


def _save_folder(module: nn.Module, card: dict, out_dir: Path, dtype: torch.dtype) -> Path:
    """A diffusers model: <name>/ written by its save_pretrained, each file's sha256 in the card. The folder is
    written under a temporary name and swapped in whole."""
    name = card["name"]
    folder = out_dir / name
    tmp, old = _temporary(folder), _temporary(folder).with_suffix(".old")
    try:
        files = module.save_pretrained(tmp, dtype=dtype)
        hashes = {p.relative_to(tmp).as_posix(): sha256(p) for p in files}
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)  # only once the new folder is in place
    card = {**card, "weights": name, "files": hashes, "dtype": str(dtype).removeprefix("torch.")}
    return write_card(out_dir / f"{name}.json", card)


def publish(card_path: Path, out_dir: Path) -> Path:
    """Move a card and its weights (a file or a diffusers folder) from a staging folder into out_dir, the weights
    first, then the card: a run that fails before this (e.g. in its evaluation) leaves out_dir as it was."""
    card_path, out_dir = Path(card_path), Path(out_dir)
    src = card_path.with_name(json.loads(card_path.read_text())["weights"])
    dst = out_dir / src.name
    if src.is_dir():  # a folder cannot be renamed over another: move the old one aside, then delete it
        old = _temporary(dst).with_suffix(".old")
        if dst.exists():
            dst.rename(old)
        src.rename(dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)
    os.replace(card_path, out_dir / card_path.name)
    return out_dir / card_path.name


def _load_folder(entry: Entry, hint: str) -> nn.Module:
    """Check every file of a diffusers folder against the card, then load it offline."""
    folder = entry.weights
    if folder is None or not folder.is_dir():
        raise WeightsError(f"weights folder {folder} for model {entry.name!r} is missing; {hint}")
    for rel, digest in entry.card["files"].items():
        f = folder / rel
        if not f.is_file():
            raise WeightsError(f"weights file {f} for model {entry.name!r} is missing; {hint}")
        if sha256(f) != digest:
            raise WeightsError(f"weights file {f} does not match the sha256 in its card (corrupt or replaced); {hint}")
    try:
        model = FOLDER_MODELS[entry.model](folder)
    except Exception as e:  # diffusers / safetensors raise many types for unreadable folders
        raise WeightsError(f"weights folder {folder} cannot be loaded ({e}); {hint}") from None
    # the default layout: the tiny 16x16 diffusion U-Net measured faster in it than in channels_last (2.7 vs 3.1 s)
    return model.eval()


def load_entry(entry: Entry) -> nn.Module:
    """Build the entry's model and fill it from its weights file, checking the card's sha256."""
    w = entry.weights
    hint = f"rebuild it with: {entry.rebuild_command}"
    if entry.model in FOLDER_MODELS:
        return _load_folder(entry, hint)
    if w is None or not w.is_file():
        raise WeightsError(f"weights file {w} for model {entry.name!r} is missing; {hint}")
    if entry.card.get("sha256") and sha256(w) != entry.card["sha256"]:
        raise WeightsError(f"weights file {w} does not match the sha256 in its card (corrupt or replaced); {hint}")
    try:
        state = load_file(str(w))
    except Exception as e:  # safetensors raises its own error types for truncated headers
        raise WeightsError(f"weights file {w} cannot be read ({e}); {hint}") from None
    model = build(entry.model, entry.config)
    ref = model.state_dict()
    state = {k: v.to(ref[k].dtype) if k in ref else v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise WeightsError(f"weights file {w} does not fit model {entry.name!r} ({e}); {hint}") from None
    # channels_last: convolutions run ~1.5x faster on this CPU than in the default layout (bench)
    return fold_batchnorm(model.eval()).to(memory_format=torch.channels_last)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode model for inference with each BatchNorm that directly follows a convolution in a Sequential folded
    into that convolution's weights and bias (the BatchNorm becomes an Identity). The same function up to float
    rounding, without a pass over every feature map: the BatchNorms were about a tenth of a /reconstruct request's
    time. A loaded model is never trained further, so nothing needs the running statistics back."""
    for seq in model.modules():
        if isinstance(seq, nn.Sequential):
            for i in range(len(seq) - 1):
                conv, bn = seq[i], seq[i + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                    seq[i], seq[i + 1] = nn.utils.fusion.fuse_conv_bn_eval(conv, bn), nn.Identity()
    return model


class Registry:
    """Name -> Entry. Reads the cards in a folder once; loads weights on first use and caches the module.

    `session` is whose view this is: SHARED for the registry itself, a session id for `for_session`'s views. A view
    is a shallow copy: it shares the shipped entries, the live ones, the lock and the bookkeeping of its registry.
    """

    def __init__(
        self,
        weights_dir: Path | str = Settings.weights,
        share_live: bool = Settings.share_live,
        idle_seconds: float = Settings.live_idle,
    ):
        self.weights_dir = Path(weights_dir)
        self.session = SHARED
        self.share_live = share_live
        self.idle_seconds = idle_seconds
        self._shipped: dict[str, Entry] = {}
        self._unavailable: dict[str, str] = {}
        self._read = False
        self._live: dict[str, dict[str, Entry]] = {}  # session -> name -> entry registered at run time
        self._seen: dict[str, float] = {}  # session -> when it last used the registry (time.monotonic)
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        """The registry the app or the CLI builds once, over settings.weights, and passes down."""
        return cls(settings.weights, settings.share_live, settings.live_idle)

    def _cards(self) -> None:
        """Read the cards once (under the lock); views share the dicts this fills."""
        if not self._read:
            read = []
            for card in sorted(self.weights_dir.glob("*.json")):
                try:
                    read.append(read_card(card))
                except CardError as err:  # only this model is unavailable; the others load as usual
                    self._unavailable[card.stem] = str(err)
            # two cards, one name: the card named after the model keeps it (else the first by file name)
            kept: dict[str, Entry] = {}
            for e in sorted(read, key=lambda e: e.card_path.stem != e.name):
                if e.name in kept:
                    first = kept[e.name].card_path
                    self._unavailable[e.card_path.stem] = f"card {e.card_path} names {e.name!r}, as {first} does"
                    continue
                kept[e.name] = e
            self._shipped.update(sorted(kept.items(), key=lambda kv: kv[1].card_path.name))  # in place: views share it
            self._read = True

    @property
    def entries(self) -> dict[str, Entry]:
        """What this view can use: the shipped models, the shared live ones, then its session's own."""
        with self._lock:
            self._cards()
            own = self._live.get(self.session, {}) if self.session != SHARED else {}
            return {**self._shipped, **self._live.get(SHARED, {}), **own}

    @property
    def unavailable(self) -> dict[str, str]:
        """Card file stem -> why that card cannot be used (its model is left out of `entries`)."""
        with self._lock:
            self._cards()
            return dict(self._unavailable)

    def names(self, task: str | None = None) -> list[str]:
        return [n for n, e in self.entries.items() if task is None or e.task == task]

    def entry(self, name: str, task: str | None = None) -> Entry:
        """The named entry; with `task`, only a model of that task (what a tab's model list holds)."""
        entries = self.entries
        if name not in entries:
            if name in self.unavailable:
                raise CardError(f"model {name!r} is unavailable: {self.unavailable[name]}")
            valid = ", ".join(self.names(task)) or "(none: train one with python -m unetlab train --recipe NAME)"
            raise RegistryError(f"unknown model {name!r}; valid names: {valid}")
        if task is not None and entries[name].task != task:
            valid = ", ".join(self.names(task)) or "(none)"
            raise RegistryError(f"model {name!r} is a {entries[name].task} model, not a {task} one; valid: {valid}")
        return entries[name]

    def load(self, name: str, task: str | None = None) -> nn.Module:
        """The model in eval mode, loaded on first use and cached; with `task`, only a model of that task."""
        e = self.entry(name, task)
        with self._lock:
            if e.module is None:
                e.module = load_entry(e)
            return e.module

    def register(
        self,
        name: str,
        task: str,
        model: str,
        config: dict,
        module: nn.Module,
        card: dict,
        files: tuple = (),
        heldout: tuple[torch.Tensor, torch.Tensor | None] | None = None,
    ) -> Entry:
        """Add (or replace) a model trained at run time, usable at once in every tab of this view's session (of
        every session if live models are shared). `files` are deleted when the entry goes; `heldout`: the
        (images, labels) it was evaluated on, which tabs use instead of its card's dataset."""
        space = SHARED if self.share_live else self.session
        card = {**card, "name": name, "task": task}
        files = tuple(Path(f) for f in files)
        e = Entry(name, task, model, config, card, None, module.eval(), files, heldout=heldout)
        with self._lock:
            old = self._live.setdefault(space, {}).get(name)
            self._live[space][name] = e
            self._seen[space] = time.monotonic()
            if old is not None:
                self._release(old.files)
        return e

    def for_session(self, session: str | None) -> Registry:
        """The registry as one session (a browser tab, an API client) sees it. Each call marks the session as in
        use and ends the sessions unused for idle_seconds."""
        session = session or SHARED
        with self._lock:
            self._cards()  # before the copy: a view must share the filled dicts, not read its own
            now = time.monotonic()
            self._seen[session] = now
            for s, seen in list(self._seen.items()):
                if s != SHARED and now - seen > self.idle_seconds:
                    self.end_session(s)
        view = copy.copy(self)
        view.session = session
        return view

    def end_session(self, session: str | None) -> None:
        """Forget a session's models and delete their files (the app calls this when a browser tab closes)."""
        if not session:
            return  # the shared space lives as long as the server
        with self._lock:
            gone = self._live.pop(session, {})
            self._seen.pop(session, None)
            self._release([f for e in gone.values() for f in e.files])

    def _release(self, files) -> None:
        """Delete the folders no remaining live entry names (a U-Net job's two models share one)."""
        kept = {f for space in self._live.values() for e in space.values() for f in e.files}
        for f in set(files) - kept:
            shutil.rmtree(f, ignore_errors=True)


def load_path(path: str | Path) -> tuple[Entry, nn.Module]:
    """A model from a card (.json) or weights (.safetensors) written by `train`, outside any registry."""
    p = Path(path)
    card = p if p.suffix == ".json" else p.with_suffix(".json")
    if not card.is_file():
        raise WeightsError(f"{path}: expected a card (.json) or weights (.safetensors) written by unetlab train")
    e = read_card(card)
    return e, load_entry(e)


def resolve(name_or_path: str, reg: Registry) -> tuple[Entry, nn.Module]:
    """A registry name, or a path to a card/weights file."""
    if name_or_path in reg.entries or name_or_path in reg.unavailable or not Path(name_or_path).suffix:
        return reg.entry(name_or_path), reg.load(name_or_path)
    return load_path(name_or_path)
