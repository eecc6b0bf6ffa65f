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
from unetlab.ui import (  # noqa: E402
    admission,
    cache_writes,
    colorize,
    diffusion,
    lab,
    latent,
    links,
    live,
    page,
    reconstruct,
)

TITLE = "unetlab: the U-Net seen as an autoencoder"


TABS = {  # label -> id in links (?tab=...), and the module that builds it (Live training also takes the Stops)
    "Reconstruction": ("reconstruction", reconstruct),
    "Colorize": ("colorize", colorize),
    "Latent": ("latent", latent),
    "Lab": ("lab", lab),
    "Diffusion": ("diffusion", diffusion),
}


def build_app(reg: registry.Registry, settings: Settings = Settings(), memory: Budget | None = None) -> gr.Blocks:
    """The app over one registry. memory: the budget every image request shares (default: from the settings)."""
    cache_writes.install()  # output images are written atomically: identical results for concurrent users
    # Gradio's own copies of uploads, outputs and downloads go once they are as old as an idle session's models
    age = int(reg.idle_seconds)
    stops = Stops()  # the Stop buttons' bookkeeping, by session
    with gr.Blocks(title=TITLE, delete_cache=(max(60, age // 4), age)) as demo:
        with gr.Row(elem_id="unetlab-top"):
            gr.Markdown(f"# {TITLE}", elem_id="unetlab-title")
            projector = page.projector_toggle()
            share = gr.Button("Link to this view", size="sm", scale=0, min_width=150, elem_id="unetlab-share")
        gr.Markdown(
            "Run the story instead of reading it: every model here was trained by this app.", elem_id="unetlab-intro"
        )
        link = gr.Textbox(
            label="Link to this view (copied to the clipboard): the tab and its settings, not an upload",
            buttons=["copy"],
            interactive=False,
            visible=False,
            elem_id="unetlab-link",
        )
        controls: dict[str, dict] = {}  # tab id -> its shareable controls
        with gr.Tabs(elem_id="unetlab-tabs") as tabs:
            for label, (tab_id, module) in TABS.items():
                with gr.Tab(label, id=tab_id):
                    controls[tab_id] = module.build(reg, demo, settings)
            with gr.Tab("Live training", id="training"):
                controls["training"] = live.build(reg, demo, stops, settings)

        every = [c for cs in controls.values() for c in cs.values()]
        ids = {label: tab_id for label, (tab_id, _) in TABS.items()} | {"Live training": "training"}
        share.click(None, [projector, *every], link, js=links.share_js(ids, controls), api_name=False).then(
            lambda: gr.update(visible=True), None, link, api_name=False, show_progress="hidden"
        )

        def open_view(request: gr.Request):
            """A link's tab and projector mode (each tab sets its own linked controls, with its result on arrival)."""
            q = request.query_params
            tab = q.get("tab")
            if tab is not None and tab not in ids.values():
                gr.Warning(f"Link: tab={tab[:40]!r} was left out: it must be one of {', '.join(ids.values())}")
            chosen = gr.Tabs(selected=tab) if tab in ids.values() else gr.skip()
            return chosen, True if q.get("projector") in ("1", "true", "on") else gr.skip()

        demo.load(open_view, None, [tabs, projector], api_name=False, show_progress="hidden")

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
        "css": page.CSS,  # crisp small images, panels that keep their size, projector mode
        "head": page.HEAD,
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
