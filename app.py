"""unetlab: the U-Net seen as an autoencoder, runnable. Builds the settings, the registry and the memory budget once,
assembles the tabs and launches; nothing else.

Settings come from the environment (UNETLAB_WEIGHTS, UNETLAB_SD_PATH, UNETLAB_SHARE_LIVE, ...): every one, with its
default, is listed in unetlab/settings.py.
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever downloaded
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from unetlab import registry  # noqa: E402
from unetlab.budget import Budget  # noqa: E402
from unetlab.live import Stops  # noqa: E402
from unetlab.settings import Settings  # noqa: E402
from unetlab.ui import admission, cache_writes, colorize, diffusion, lab, latent, live, reconstruct  # noqa: E402

TITLE = "unetlab: the U-Net seen as an autoencoder"


def build_app(reg: registry.Registry, settings: Settings = Settings(), memory: Budget | None = None) -> gr.Blocks:
    """The app over one registry. memory: the budget every image request shares (default: from the settings)."""
    cache_writes.install()  # output images are written atomically: identical results for concurrent users
    # Gradio's own copies of uploads, outputs and downloads go once they are as old as an idle session's models
    age = int(reg.idle_seconds)
    stops = Stops()  # the Stop buttons' bookkeeping, by session
    with gr.Blocks(title=TITLE, delete_cache=(max(60, age // 4), age)) as demo:
        gr.Markdown(f"# {TITLE}\nRun the story instead of reading it: every model here was trained by this app.")
        with gr.Tab("Reconstruction"):
            reconstruct.build(reg, demo, settings)
        with gr.Tab("Colorize"):
            colorize.build(reg, demo, settings)
        with gr.Tab("Latent"):
            latent.build(reg, demo, settings)
        with gr.Tab("Lab"):
            lab.build(reg, demo, settings)
        with gr.Tab("Diffusion"):
            diffusion.build(reg, demo, settings)
        with gr.Tab("Live training"):
            live.build(reg, stops, settings)

        def end_session(request: gr.Request):
            """A closed browser tab takes its live-trained models (and their files) with it, and its Stop times."""
            reg.end_session(request.session_hash)
            stops.forget(request.session_hash)

        demo.unload(end_session)
    # image work: within the memory budget (and in one pool of the cores, if settings.image_pool)
    admission.install(demo, memory or Budget.from_settings(settings), settings.image_pool)
    return demo


def launch(demo: gr.Blocks, settings: Settings = Settings(), **kwargs):
    """Launch with the settings; keyword arguments override them (tests use this)."""
    chosen = {
        "server_name": settings.server_name,
        "server_port": settings.server_port,
        "max_file_size": settings.max_file_size,
    }
    return demo.queue(default_concurrency_limit=4).launch(**(chosen | kwargs))


if __name__ == "__main__":
    try:
        settings = Settings.from_env()
    except ValueError as e:  # a setting that cannot be read: one line, not a traceback
        sys.exit(f"error: {e}")
    reg = registry.Registry.from_settings(settings)
    for name, why in reg.unavailable.items():  # the app runs without them; say which, and why
        print(f"model {name} is unavailable: {why}", file=sys.stderr)
    launch(build_app(reg, settings), settings)
