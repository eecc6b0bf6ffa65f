"""Every setting of the app and the CLI, read from the environment in one place, into one object.

`Settings.from_env()` is called once, by `app.py` and by the CLI (`python -m unetlab ...`), and the object is passed
down; the training-data cache is the one exception (`data_cache`). Nothing else in unetlab reads the environment.
Each field below is a setting: its default, the environment variable that sets it (`ENV`), and what it does. Library
functions take the value they need as an argument whose default is the field's default here, so tests and scripts
can build `Settings(...)` or pass values directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def data_cache() -> Path:
    """UNETLAB_CACHE, read when training data is fetched or loaded (the CLI's recipes; the app never reads it): the
    one setting read where it is used rather than passed down, since it is needed deep inside dataset loading."""
    return Settings.from_env().cache


def half_the_cores() -> int:
    from unetlab.hardware import cores

    return max(1, cores() // 2)


@dataclass(frozen=True)
class Settings:
    weights: Path = ROOT / "weights"  # the shipped models' folder: cards + safetensors
    cache: Path = (
        Path.home() / ".cache" / "unetlab"
    )  # fetched training data (the corpus, photos); never read by the app
    stl10: str = "data/stl10_binary/unlabeled_X.bin"  # STL-10's unlabeled images, for the seed-colorize-stl10 recipe
    sd_path: str = ""  # a local diffusers Stable Diffusion folder for the Diffusion tab; "" = none
    share_live: bool = False  # live-trained models: shared by every visitor (True) or private to their session
    live_idle: float = 3600.0  # seconds a session may go unused before its live models and their files go
    train_seconds: float = 600.0  # a live training job (and a Lab rerun) stops, keeping its model, after this
    train_threads: int = 0  # torch threads of a live training job; 0 = half the cores
    memory_budget: float = 0.0  # GB of image work in flight at once (budget.py); 0 = half the machine's memory
    max_pixels: int = 40_000_000  # larger uploads are refused before decoding
    compare_pixels: int = 4_000_000  # the Reconstruction tab downscales larger uploads before comparing
    max_file_size: str = "50mb"  # Gradio's upload limit
    zip_entries: int = 5_000  # a training zip: entries, folders included
    zip_entry_bytes: int = 20_000_000  # a training zip: one entry, uncompressed
    zip_bytes: int = 200_000_000  # a training zip: all entries, uncompressed
    dataset_image_pixels: int = 16_000_000  # an uploaded training set: one image
    dataset_pixels: int = 100_000_000  # an uploaded training set: all images (~300 MB decoded)
    image_pool: bool = (
        False  # image events in one pool of the cores, one torch thread each (measured slower: load --pool)
    )
    server_name: str = "127.0.0.1"  # where the app listens
    server_port: int = 7860
    accelerate: str = (
        ""  # set by `accelerate launch` in every process it starts (its mixed precision): train data parallel
    )

    @property
    def threads(self) -> int:
        """train_threads, with 0 resolved to half the cores."""
        return self.train_threads or half_the_cores()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from the environment (or `env`); unset or empty variables keep their defaults. A value
        that cannot be read raises ValueError naming the variable."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(ENV[f.name], "").strip()
            if not raw:
                continue
            kind = type(getattr(cls, f.name))
            try:
                if kind is bool:
                    if raw.lower() not in ("0", "1", "true", "false", "yes", "no"):
                        raise ValueError("expected 1 or 0")
                    values[f.name] = raw.lower() in ("1", "true", "yes")
                elif issubclass(kind, Path):
                    values[f.name] = Path(raw).expanduser()
                else:
                    values[f.name] = kind(raw)
            except ValueError as e:
                raise ValueError(f"{ENV[f.name]}={raw!r} cannot be read as a {kind.__name__} ({e})") from None
        return cls(**values)


# field -> the environment variable that sets it
ENV = {f.name: f"UNETLAB_{f.name.upper()}" for f in fields(Settings)} | {
    "server_name": "GRADIO_SERVER_NAME",  # Gradio's own names
    "server_port": "GRADIO_SERVER_PORT",
    "accelerate": "ACCELERATE_MIXED_PRECISION",  # HF Accelerate's own
}
