"""Reconstruction tab: the same U-Net autoencoder with and without its contracting path, side by side."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr
import numpy as np
import pandas as pd

from unetlab import budget, data, images
from unetlab.reconstruct import compare
from unetlab.registry import Registry
from unetlab.settings import Settings
from unetlab.ui.common import (
    choose,
    heldout_photo_input,
    model_dropdown,
    on_new_photo,
    session_registry,
    show_on_arrival,
    user_errors,
)

EXPLANATION = """
A U-Net is an autoencoder with shortcuts. The **encoder** (left side of the U) halves the image four times,
so the bottom of the U sees a 1/16-size summary. The **decoder** (right side) grows it back. The
**contracting path** copies each encoder level's feature map straight across to the decoder at the same size
("skip connections").

- **Without skips** every detail has to squeeze through the 1/16-size bottom, so fine texture and edges are
  lost: the reconstruction is blurry and the error map lights up along edges.
- **With skips** the full-resolution features arrive at the decoder directly, so the network learns an almost
  perfect copy, and it learns it far faster (see the training curves). That is what makes a U-Net good at
  image-to-image tasks (segmentation, colourisation, denoising) and, as the Lab tab shows, less useful as a
  feature extractor: the bottom no longer has to summarise the image.

Both models were trained by this app's own recipes on 64x64 crops of an image corpus of about 2,400 licensed
photos, textures, illustrations, icons and screenshots from ten sources, with colour augmentation and synthetic
images (saturated shapes, gradients, strokes); the kept epoch was chosen on a validation split. The examples
(chelsea, coffee) and four whole test sources were never seen in training. Any image size works: the network is
fully convolutional.
"""


SIDES = ("without skips", "with skips")  # the plot's series are named by side, not by model: a LinePlot keeps the
# colour legend of its first data, so series named after models were never drawn once another model was picked


def loss_curves(registry: Registry, sides: dict[str, str]) -> pd.DataFrame:
    """The per-epoch training and held-out losses stored in the cards of {side: model name}, long format for
    gr.LinePlot: series "<side>: train" and "<side>: held-out"."""
    rows = []
    for side, name in sides.items():
        for h in registry.entry(name).card.get("history", []):
            rows.append({"epoch": h["epoch"], "MSE": h["train_loss"], "model": f"{side}: train"})
            rows.append({"epoch": h["epoch"], "MSE": h["test_loss"], "model": f"{side}: held-out"})
    return pd.DataFrame(rows, columns=["epoch", "MSE", "model"])


def curves_caption(sides: dict[str, str]) -> str:
    return "Models: " + "; ".join(f"{side} = {name}" for side, name in sides.items()) if sides else "No models."


def models_by_skips(registry: Registry, skips: bool) -> list[str]:
    return [n for n in registry.names("reconstruct") if registry.entry(n).config.get("skips", True) == skips]


def memory(compare_pixels: int) -> budget.Cost:
    """What a request may cost (budget.py) when uploads are downscaled to compare_pixels before the work."""
    return replace(budget.RECONSTRUCT, work_pixels=compare_pixels)


ARRIVAL = "coffee"  # the held-out photo the tab shows reconstructed when it opens

LECTURE = """
- Open on the coffee photo: the class sees the blurry **without skips** beside the near-perfect **with skips**
  before you say a word. Ask what the left one lost (edges, texture, the spoon's highlight).
- Point at the error maps: the left one lights up along every edge; the right one is almost black.
- Upload something of your own (a slide, a photo from the room): the gap holds on images the models never saw.
- Scroll to the loss curves: with skips, the held-out loss drops within an epoch or two; without, it crawls.
- If asked "so why not always use skips?": the Lab tab shows the price, features that cluster worse.
"""


def sides_of(name_noskip: str | None, name_skip: str | None) -> dict[str, str]:
    return {side: n for side, n in zip(SIDES, (name_noskip, name_skip), strict=True) if n}


def mismatch_notes(registry: Registry, img: np.ndarray, names: list[str]) -> list[str]:
    """What a model does with an upload unlike its training data: a grey model gets a colour photo's luma (and is
    scored against it); a model trained on small digits gets a photo it has never seen the like of."""
    notes = []
    for name in names:
        e = registry.entry(name)
        dataset = e.card.get("data", {}).get("dataset", "")
        if e.config.get("in_channels", 3) == 1 and img.ndim == 3 and np.ptp(img.astype(np.int16), axis=2).max() > 8:
            notes.append(
                f"{name} is a grey model: it was given the photo's luma (grey) and is scored against that, "
                "not against the colour original."
            )
        if dataset in ("digits", "faces"):
            notes.append(f"{name} was trained on small {dataset} images: a photo is unlike anything it saw.")
    return notes


def build(registry: Registry, demo: gr.Blocks, settings: Settings = Settings()) -> dict[str, gr.Dropdown]:
    """The tab; settings.compare_pixels: larger uploads are downscaled to it before the two models run. demo: the
    app, whose page load shows the ARRIVAL photo reconstructed. Returns the controls a link to the view sets."""
    arrival = data.heldout_photo_paths()[ARRIVAL]
    with_skips, without = models_by_skips(registry, True), models_by_skips(registry, False)
    noskip0, skip0 = choose(without, "recon-noskip"), choose(with_skips, "recon-skip")

    gr.Markdown("## Reconstruction: the U-Net autoencoder with vs without its skip connections")
    with gr.Row():
        with gr.Column(scale=1):
            upload = heldout_photo_input(
                "Input image", "recon", memory(settings.compare_pixels), settings.max_pixels, arrival, height=260
            )
            with gr.Row():
                noskip = model_dropdown(without, ("recon-noskip",), "Model without skips", elem_id="recon-model-noskip")
                skip = model_dropdown(with_skips, ("recon-skip",), "Model with skips", elem_id="recon-model-skip")
            run = gr.Button("Reconstruct", variant="primary", elem_id="recon-run")
        with gr.Column(scale=2):
            with gr.Row():
                out_noskip = output_image(f"Without skips ({noskip0})", "recon-noskip")
                out_skip = output_image(f"With skips ({skip0})", "recon-skip")
            scores = gr.Markdown(elem_id="recon-scores")
            with gr.Row():
                err_noskip = output_image("|error| without skips", "recon-err-noskip")
                err_skip = output_image("|error| with skips", "recon-err-skip")
    sides0 = sides_of(noskip0, skip0)
    plot = gr.LinePlot(
        loss_curves(registry, sides0),
        x="epoch",
        y="MSE",
        color="model",
        title="Training loss per epoch: skips converge far faster",
        caption=curves_caption(sides0),
        x_axis_format="d",  # whole epochs: ticks at 1, 2, 3, not 1.0, 1.1, ...
        height=320,
        elem_id="recon-plot",
    )
    with gr.Accordion("What is the contracting path?", open=False, elem_classes=["explain"]):
        gr.Markdown(EXPLANATION)
    with gr.Accordion("How to use this tab in a lecture", open=False, elem_classes=["explain"]):
        gr.Markdown(LECTURE)

    @user_errors
    def reconstruct(
        img: np.ndarray | None,
        name_noskip: str | None,
        name_skip: str | None,
        request: gr.Request,
        progress=gr.Progress(),
    ):
        """Reconstruct a photo with the U-Net autoencoder without and with skips; error maps and PSNR/SSIM."""
        if img is None:
            raise gr.Error("upload an image or pick an example first")
        if not name_noskip or not name_skip:
            raise gr.Error("no reconstruction models are available; train them with python -m unetlab train")
        reg = session_registry(registry, request)
        h, w = img.shape[:2]
        img = images.downscale_to(img, settings.compare_pixels)
        scaled = (
            f" It was downscaled from {w}x{h} to {img.shape[1]}x{img.shape[0]} to keep the tab fast for everyone; "
            "`python -m unetlab reconstruct` works at any size."
            if img.shape[:2] != (h, w)
            else ""
        )

        def report(done: float, name: str) -> None:
            progress(done, desc=f"{name}: {done:.0%}")

        a, b = compare(img, [name_noskip, name_skip], reg, progress=report)
        notes = " ".join(mismatch_notes(reg, img, [a.name, b.name]))
        table = (
            "| | PSNR (dB) | SSIM |\n|---|---:|---:|\n"
            f"| without skips ({a.name}) | {a.psnr:.2f} | {a.ssim:.4f} |\n"
            f"| with skips ({b.name}) | {b.psnr:.2f} | {b.ssim:.4f} |\n\n"
            f"The skips gain **{b.psnr - a.psnr:+.1f} dB** on this {img.shape[1]}x{img.shape[0]} image. "
            f"Error maps: black = exact, yellow = off by 25 % or more.{scaled}" + (f"\n\n⚠ {notes}" if notes else "")
        )
        return a.image, b.image, a.error, b.error, table

    def models_shown(name_noskip: str | None, name_skip: str | None, request: gr.Request):
        """The panels and the loss plot name the models picked (the API's outputs stay plain images)."""
        reg = session_registry(registry, request)
        sides = {k: n for k, n in sides_of(name_noskip, name_skip).items() if n in reg.entries}
        return (
            gr.update(label=f"Without skips ({name_noskip})"),
            gr.update(label=f"With skips ({name_skip})"),
            gr.LinePlot(loss_curves(reg, sides), caption=curves_caption(sides)),
        )

    shown = [out_noskip, out_skip, err_noskip, err_skip, scores]
    run.click(reconstruct, [upload, noskip, skip], shown, api_name="reconstruct")

    def on_new_image(img: np.ndarray | None, name_noskip: str | None, name_skip: str | None, request: gr.Request):
        """An upload, an example click or a model picked reconstructs at once; clearing the input clears the
        outputs."""
        return (None, None, None, None, "") if img is None else reconstruct(img, name_noskip, name_skip, request)

    on_new_photo(upload, on_new_image, [upload, noskip, skip], shown)
    for dd in (noskip, skip):
        dd.input(on_new_image, [upload, noskip, skip], shown, api_name=False, trigger_mode="always_last")
        dd.change(models_shown, [noskip, skip], [out_noskip, out_skip, plot], api_name=False, show_progress="hidden")

    def example_reconstructed(noskip: str | None, skip: str | None):
        """The photo the input holds on arrival, through the view's models (nothing if one is missing)."""
        try:
            return reconstruct(images.load_image(arrival), noskip, skip, None, progress=lambda *a, **k: None)
        except gr.Error as e:
            return None, None, None, None, e.message

    controls = {"noskip": noskip, "skip": skip}
    show_on_arrival(demo, example_reconstructed, shown, "reconstruction", controls)

    def refresh(skips: bool, request: gr.Request):
        """Models registered since the page loaded (this session's live training) appear when the list opens."""
        return gr.update(choices=models_by_skips(session_registry(registry, request), skips))

    def refresh_noskip(request: gr.Request):
        return refresh(False, request)

    def refresh_skip(request: gr.Request):
        return refresh(True, request)

    noskip.focus(refresh_noskip, None, noskip, api_name=False)
    skip.focus(refresh_skip, None, skip, api_name=False)
    return controls


def output_image(label: str, elem_id: str) -> gr.Image:
    """A result panel of the key comparison: a fixed height, so a small upload's result fills it (drawn crisp)."""
    return gr.Image(
        label=label, format="png", interactive=False, height=250, elem_id=elem_id, elem_classes=["key-image"]
    )
