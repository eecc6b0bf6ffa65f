"""unetlab: the U-Net seen as an autoencoder, runnable. Assembles the tabs and launches; nothing else.

Settings (environment): GRADIO_SERVER_NAME (default 127.0.0.1), GRADIO_SERVER_PORT (default 7860),
UNETLAB_WEIGHTS (the weights folder, default ./weights), UNETLAB_MAX_FILE_SIZE (upload limit, default 50mb),
UNETLAB_SD_PATH (optional: a local diffusers Stable Diffusion folder for the Diffusion tab; default none),
UNETLAB_SHARE_LIVE (1: live-trained models are shared by every visitor; default 0, each session's own),
UNETLAB_LIVE_IDLE (seconds a session may go unused before its live models and their files go; default 3600),
UNETLAB_MEMORY_BUDGET (GB of image work in flight at once, default half the machine's memory: unetlab/budget.py).
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever downloaded
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from unetlab import live, registry  # noqa: E402
from unetlab.ui import admission, cache_writes, colorize, diffusion, lab, latent, reconstruction, training  # noqa: E402

TITLE = "unetlab: the U-Net seen as an autoencoder"


def build_app(reg: registry.Registry | None = None) -> gr.Blocks:
    reg = reg or registry.default()
    cache_writes.install()  # output images are written atomically: identical results for concurrent users
    # Gradio's own copies of uploads, outputs and downloads go once they are as old as an idle session's models
    age = int(reg.idle_seconds)
    with gr.Blocks(title=TITLE, delete_cache=(max(60, age // 4), age)) as demo:
        gr.Markdown(f"# {TITLE}\nRun the story instead of reading it: every model here was trained by this app.")
        with gr.Tab("Reconstruction"):
            reconstruction.build(reg)
        with gr.Tab("Colorize"):
            colorize.build(reg)
        with gr.Tab("Latent"):
            latent.build(reg)
        with gr.Tab("Lab"):
            lab.build(reg)
        with gr.Tab("Diffusion"):
            diffusion.build(reg)
        with gr.Tab("Live training"):
            training.build(reg)

        def end_session(request: gr.Request):
            """A closed browser tab takes its live-trained models (and their files) with it, and its Stop times."""
            reg.end_session(request.session_hash)
            live.forget(request.session_hash)

        demo.unload(end_session)
    admission.install(demo)  # image work: within the memory budget, as many at once as there are cores
    return demo


def launch(demo: gr.Blocks, **kwargs):
    """Launch with the settings from the environment; keyword arguments override them (tests use this)."""
    settings = {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
        "max_file_size": os.environ.get("UNETLAB_MAX_FILE_SIZE", "50mb"),
    }
    return demo.queue(default_concurrency_limit=4).launch(**(settings | kwargs))


if __name__ == "__main__":
    reg = registry.default()
    for name, why in reg.unavailable.items():  # the app runs without them; say which, and why
        print(f"model {name} is unavailable: {why}", file=sys.stderr)
    launch(build_app(reg))
