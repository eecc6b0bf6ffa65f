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


def loss_curves(registry: Registry, names: list[str]) -> pd.DataFrame:
    """The per-epoch training and held-out losses stored in the cards, long format for gr.LinePlot."""
    rows = []
    for name in names:
        for h in registry.entry(name).card.get("history", []):
            rows.append({"epoch": h["epoch"], "MSE": h["train_loss"], "model": f"{name} (train)"})
            rows.append({"epoch": h["epoch"], "MSE": h["test_loss"], "model": f"{name} (held-out)"})
    return pd.DataFrame(rows, columns=["epoch", "MSE", "model"])


def models_by_skips(registry: Registry, skips: bool) -> list[str]:
    return [n for n in registry.names("reconstruct") if registry.entry(n).config.get("skips", True) == skips]


def memory(compare_pixels: int) -> budget.Cost:
    """What a request may cost (budget.py) when uploads are downscaled to compare_pixels before the work."""
    return replace(budget.RECONSTRUCT, work_pixels=compare_pixels)


ARRIVAL = "coffee"  # the held-out photo the tab shows reconstructed when it opens


def build(registry: Registry, demo: gr.Blocks, settings: Settings = Settings()) -> None:
    """The tab; settings.compare_pixels: larger uploads are downscaled to it before the two models run. demo: the
    app, whose page load shows the ARRIVAL photo reconstructed."""
    arrival = data.heldout_photo_paths()[ARRIVAL]
    with_skips, without = models_by_skips(registry, True), models_by_skips(registry, False)

    gr.Markdown("## Reconstruction: the U-Net autoencoder with vs without its skip connections")
    with gr.Row():
        with gr.Column(scale=1):
            upload = heldout_photo_input(
                "Input image", "recon", memory(settings.compare_pixels), settings.max_pixels, value=arrival
            )
            noskip = model_dropdown(without, ("recon-noskip",), "Model without skips")
            skip = model_dropdown(with_skips, ("recon-skip",), "Model with skips")
            run = gr.Button("Reconstruct", variant="primary", elem_id="recon-run")
        with gr.Column(scale=2):
            with gr.Row():
                out_noskip = gr.Image(label="Without skips", format="png", interactive=False, elem_id="recon-noskip")
                out_skip = gr.Image(label="With skips", format="png", interactive=False, elem_id="recon-skip")
            scores = gr.Markdown(elem_id="recon-scores")
            with gr.Row():
                err_noskip = gr.Image(label="|error| without skips", format="png", interactive=False)
                err_skip = gr.Image(label="|error| with skips", format="png", interactive=False)
    plot = gr.LinePlot(
        loss_curves(registry, [n for n in (choose(without, "recon-noskip"), choose(with_skips, "recon-skip")) if n]),
        x="epoch",
        y="MSE",
        color="model",
        title="Training loss per epoch: skips converge far faster",
        height=320,
        elem_id="recon-plot",
    )
    with gr.Accordion("What is the contracting path?", open=False):
        gr.Markdown(EXPLANATION)

    @user_errors
    def reconstruct(img: np.ndarray | None, name_noskip: str | None, name_skip: str | None, request: gr.Request):
        """Reconstruct a photo with the U-Net autoencoder without and with skips; error maps and PSNR/SSIM."""
        if img is None:
            raise gr.Error("upload an image or pick an example first")
        if not name_noskip or not name_skip:
            raise gr.Error("no reconstruction models are available; train them with python -m unetlab train")
        h, w = img.shape[:2]
        img = images.downscale_to(img, settings.compare_pixels)
        scaled = (
            f" It was downscaled from {w}x{h} to {img.shape[1]}x{img.shape[0]} to keep the tab fast for everyone; "
            "`python -m unetlab reconstruct` works at any size."
            if img.shape[:2] != (h, w)
            else ""
        )
        a, b = compare(img, [name_noskip, name_skip], session_registry(registry, request))
        table = (
            "| | PSNR (dB) | SSIM |\n|---|---:|---:|\n"
            f"| without skips ({a.name}) | {a.psnr:.2f} | {a.ssim:.4f} |\n"
            f"| with skips ({b.name}) | {b.psnr:.2f} | {b.ssim:.4f} |\n\n"
            f"The skips gain **{b.psnr - a.psnr:+.1f} dB** on this {img.shape[1]}x{img.shape[0]} image. "
            f"Error maps: black = exact, yellow = off by 25 % or more.{scaled}"
        )
        return a.image, b.image, a.error, b.error, table

    def curves(name_noskip: str | None, name_skip: str | None, request: gr.Request) -> pd.DataFrame:
        reg = session_registry(registry, request)
        return loss_curves(reg, [n for n in (name_noskip, name_skip) if n in reg.entries])

    run.click(
        reconstruct,
        [upload, noskip, skip],
        [out_noskip, out_skip, err_noskip, err_skip, scores],
        api_name="reconstruct",
    )

    def on_new_image(img: np.ndarray | None, name_noskip: str | None, name_skip: str | None, request: gr.Request):
        """An upload or an example click reconstructs at once; clearing the input clears the outputs."""
        return (None, None, None, None, "") if img is None else reconstruct(img, name_noskip, name_skip, request)

    shown = [out_noskip, out_skip, err_noskip, err_skip, scores]
    on_new_photo(upload, on_new_image, [upload, noskip, skip], shown)

    def example_reconstructed():
        """The photo the input holds on arrival, through the default models (nothing if one is missing)."""
        try:
            return reconstruct(images.load_image(arrival), noskip.value, skip.value, None)
        except gr.Error as e:
            return None, None, None, None, str(e)

    show_on_arrival(demo, example_reconstructed, shown)

    def refresh(skips: bool, request: gr.Request):
        """Models registered since the page loaded (this session's live training) appear when the list opens."""
        return gr.update(choices=models_by_skips(session_registry(registry, request), skips))

    def refresh_noskip(request: gr.Request):
        return refresh(False, request)

    def refresh_skip(request: gr.Request):
        return refresh(True, request)

    noskip.focus(refresh_noskip, None, noskip, api_name=False)
    skip.focus(refresh_skip, None, skip, api_name=False)
    for dd in (noskip, skip):
        dd.change(curves, [noskip, skip], plot, api_name=False)
