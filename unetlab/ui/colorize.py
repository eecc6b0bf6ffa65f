"""Colorize tab: colour restored from luminance at the upload's full resolution, with and without skips."""

from __future__ import annotations

import gradio as gr
import numpy as np

from unetlab.colorize import colorize
from unetlab.registry import Registry
from unetlab.ui.common import choose, heldout_photo_input, user_errors

EXPLANATION = """
**Why predict colour from luminance?** A photo's lightness (CIE L\\*) carries almost all of its shapes, edges
and texture; its colour (a\\* green-magenta, b\\* blue-yellow) varies slowly and is mostly *implied* by what the
object is: sky is blue, grass is green, skin is skin. So the U-Net is given L\\* only and asked for a\\*b\\*, and
the answer is put back together with the upload's **own** full-resolution L\\*: the network runs at a working
size (short side 256), but every edge in the result is the upload's. A colour upload is first reduced to L\\*:
the model never sees its colours.

**Why not plain regression?** An MSE loss rewards the *average* of all plausible colours; a car that may be
red or blue comes out brown-grey (the seed's "sepia"). Here each pixel gets a probability over 222 a\\*b\\* bins,
rare saturated bins are up-weighted in the loss, and the colour is read off as an *annealed mean* (between the
mean and the mode, T = 0.38) - Zhang, Isola & Efros 2016, "Colorful Image Colorization".

**What do the skips change?** Without them, chroma must be rebuilt from the 1/16-size bottom of the U, so colour
bleeds across object boundaries; with them it can follow the edges.
"""


def build(registry: Registry) -> None:
    names = registry.names("colorize")
    gr.Markdown("## Colorize: the U-Net predicts colour (a\\*b\\*) from lightness (L\\*), at any resolution")
    with gr.Row():
        with gr.Column(scale=1):
            upload = heldout_photo_input("Photo (colour or grey)", "color")
            model = gr.Dropdown(names, value=choose(names, "colorize-skip"), label="Colourizer")
            other = gr.Dropdown(names, value=choose(names, "colorize-noskip"), label="Beside it (e.g. without skips)")
            run = gr.Button("Colorize", variant="primary", elem_id="color-run")
        with gr.Column(scale=2):
            slider = gr.ImageSlider(label="Grey input | colourised", format="png", elem_id="color-slider")
            with gr.Row():
                out_other = gr.Image(label="Second model", format="png", interactive=False, elem_id="color-other")
            info = gr.Markdown(elem_id="color-info")
    with gr.Row():
        view_L = gr.Image(label="Model input: L* (working size)", format="png", interactive=False, elem_id="color-L")
        view_a = gr.Image(label="Predicted a* (green - magenta)", format="png", interactive=False, elem_id="color-a")
        view_b = gr.Image(label="Predicted b* (blue - yellow)", format="png", interactive=False, elem_id="color-b")
    with gr.Accordion("Why colour from luminance?", open=False):
        gr.Markdown(EXPLANATION)

    outputs = [slider, out_other, view_L, view_a, view_b, info]

    @user_errors
    def run_colorize(img: np.ndarray | None, name: str | None, name_other: str | None):
        """Colourise a photo from its luminance alone, at its full resolution, with two colorize models."""
        if img is None:
            raise gr.Error("upload an image or pick an example first")
        if not name:
            raise gr.Error(
                "no colorize models are available; train one with python -m unetlab train --recipe colorize-skip"
            )
        r = colorize(registry.load(name), img)
        second = colorize(registry.load(name_other), img, views=False).image if name_other else None
        h, w = img.shape[:2]
        text = (
            f"{w}x{h} upload; the model ran at {r.working[1]}x{r.working[0]} and its chroma was joined to the "
            f"upload's own L*. Left of the slider: {name}'s input; right: its colours. Below: "
            f"{name_other or '(no second model)'}."
        )
        return (r.grey, r.image), second, r.L, r.a, r.b, text

    run.click(run_colorize, [upload, model, other], outputs, api_name="colorize")

    def on_new_image(img: np.ndarray | None, name: str | None, name_other: str | None):
        """An upload or an example click colourises at once; clearing the input clears the outputs."""
        return (None, None, None, None, None, "") if img is None else run_colorize(img, name, name_other)

    upload.change(on_new_image, [upload, model, other], outputs, api_name=False)

    def refresh():
        """Models registered since the page loaded (e.g. by the training tab) appear when the list opens."""
        return gr.update(choices=registry.names("colorize"))

    model.focus(refresh, None, model, api_name=False)
    other.focus(refresh, None, other, api_name=False)
