"""Latent tab: walk a VAE's latent space from A to B with a slider, beside the plain AE's path; map and samples."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from unetlab import images, latent
from unetlab.registry import Registry
from unetlab.settings import Settings
from unetlab.ui.common import (
    SEEDS,
    UploadImage,
    model_dropdown,
    number,
    session_registry,
    show_on_arrival,
    user_errors,
)

EXAMPLES_DIR = Path(tempfile.gettempdir()) / "unetlab-latent-examples"
STEPS = 10  # frames in the strip, to start with
ZOOM = 4  # frames are 32x32: shown (and returned by the API) with each pixel as a 4x4 block, exact

EXPLANATION = """
**The VAE's encoder does not output a point, it outputs a distribution**: a mean μ and a log-variance log σ² for
each latent dimension. Training decodes a *sample* z = μ + σ·ε with ε ~ N(0, I). That is the
**reparameterisation trick**: the randomness sits in ε, so gradients still flow to μ and σ.

The loss is reconstruction + β·KL(N(μ, σ²) ‖ N(0, I)). With β = 1 this is minus the **ELBO**, a lower bound on
log p(x). The KL term pulls every code towards the standard normal prior and keeps σ from shrinking to zero. So
each image claims a small cloud, not a point, and the clouds must overlap and fill the space. Every point between
two codes then decodes to something plausible: the path morphs smoothly. β > 1 (a β-VAE) pulls harder: the
space gets smoother and the images blurrier.

**The plain autoencoder** minimises reconstruction alone. Its codes can sit anywhere, with empty space between
them. Its path from A to B crosses those holes and shows blends and blotches rather than digits. A plain AE also
has no prior, so there is nothing to sample. The VAE's samples are z ~ N(0, T²·I) decoded. Temperature T < 1
stays near the centre of the prior: cleaner but less varied.

**Linear** interpolation mixes the codes directly. **Spherical** interpolation (slerp) moves along a great circle
and keeps their length, which suits points drawn from a Gaussian.
"""

LECTURE = """
- **Show first** the walk already on screen, from a 0 (A) to a 7 (B). Drag **t** slowly from 0 to 1 and let the
  class watch the two frames: the VAE's and the plain autoencoder's at the same t.
- **What to notice**: the VAE's middle frames are shapes on their way from one digit to the other; the plain AE's
  look more like the two digits faded into each other. On the map, the black line is the path and the yellow dot
  is t.
- **Then move** the Samples' temperature T from 1.5 down to 0.5 and press Sample: lower T, cleaner but more alike.
  Pick `vae-digits-2d` to show the map as the model's own plane, and the path from 0 to 7 crossing other digits.
  Pick `vae-mnist` and click MNIST's 0 and 7 under A and B: the same walk on real handwriting.
- **Draw** a digit under "Draw A" (the brush is ready): it is encoded at once. A colour photo gets a warning under
  the endpoints, which says how it was squeezed into a 32×32 grey digit.
- **If asked why** the VAE's path stays digit-like: its loss pulls every code towards N(0, I), so the codes of
  different digits overlap and the space between them decodes to something plausible. The plain AE has no such
  pull: between its codes lie regions it never learnt to decode.
"""


def card_summary(registry: Registry, name: str | None) -> str:
    if not name:
        return ""
    e = registry.entry(name)
    m, c = e.card.get("metrics", {}), e.config
    bits = [f"**{name}**: latent {c.get('latent')}-D"]
    if "beta" in c:
        bits.append(f"β = {c['beta']:g}")
    if "elbo" in m:
        bits.append(f"held-out ELBO {m['elbo']:.1f} nats (reconstruction {m['recon_nll']:.1f} + KL {m['kl']:.1f})")
    elif "recon_nll" in m:
        bits.append(f"held-out reconstruction {m['recon_nll']:.1f} nats")
    if "psnr" in m:
        bits.append(f"PSNR {m['psnr']:.1f} dB")
    return ", ".join(bits)


# Gradio 6.31's Sketchpad opens an empty value with no tool selected ("select the draw tool to start": a drag selects
# the page's text instead), and clearing the canvas empties it again. A value with something in it opens with the
# brush: the canvas starts with one empty, transparent layer, and a cleared canvas gets a white background. (Not a
# background from the start: the editor drops its first change event, which loading a layer uses up and loading a
# background does not, so the first stroke would be lost.)
CANVAS = 256
BLANK_DRAWING = {"background": None, "layers": [np.zeros((CANVAS, CANVAS, 4), np.uint8)], "composite": None}
CLEARED_DRAWING = {"background": np.full((CANVAS, CANVAS, 3), 255, np.uint8), "layers": [], "composite": None}


def endpoint(
    label: str, key: str, value: Path | None, examples: list[Path], mnist: list[Path], max_pixels: int
) -> UploadImage:
    """One end of the path: upload, or draw (the drawing replaces the image), or click an example (sklearn's digits
    and faces, or real MNIST digits). The upload arrives in colour: latent.fit makes it grey, and says so."""
    with gr.Column():
        img = UploadImage(
            value=str(value) if value else None,
            label=f"{label}: upload or pick an example",
            sources=["upload", "clipboard"],
            format="png",
            height=180,
            elem_id=f"latent-{key}",
        )
        img.max_pixels = max_pixels
        with gr.Accordion(f"Draw {label}", open=False):
            sketch = gr.Sketchpad(
                BLANK_DRAWING,
                label=f"Draw a digit for {label} (dark on light)",
                canvas_size=(CANVAS, CANVAS),
                fixed_canvas=True,
                brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"),
                layers=False,
                transforms=(),
                height=300,
                elem_id=f"latent-{key}-sketch",
            )
        gr.Examples(
            [[str(p)] for p in examples],
            inputs=img,
            label="Held-out examples",
            examples_per_page=len(examples),  # all on one page: the faces were on page 2
            elem_id=f"latent-{key}-examples",
        )
        if mnist:  # a gallery of their own: one page each, and the two kinds of digit told apart
            gr.Examples(
                [[str(p)] for p in mnist],
                inputs=img,
                label="Held-out MNIST digits (real handwriting: for vae-mnist)",
                examples_per_page=len(mnist),
                elem_id=f"latent-{key}-mnist-examples",
            )

    sketch.change(use_drawing, sketch, img, api_name=False, show_progress="hidden")
    sketch.clear(lambda: CLEARED_DRAWING, None, sketch, api_name=False, show_progress="hidden")
    return img


def use_drawing(value: dict | None):
    """The canvas as the endpoint's image, grey; a canvas without dark ink (the blank layer, a cleared canvas)
    leaves the endpoint as it was."""
    composite = None if value is None else value.get("composite")
    if composite is None or np.asarray(composite).ndim != 3:
        return gr.skip()
    grey = images.from_array(np.asarray(composite), "L")  # transparent pixels become white
    return grey if (grey < 128).any() else gr.skip()


def map_note(reg: Registry, name: str, how: str) -> str:
    sp = latent.space(reg.entry(name), reg.load(name))
    colour = "coloured by class" if sp.labels is not None else "one colour (no classes)"
    return (
        f"Map: {len(sp.z)} held-out images in {sp.title}, {colour}. Black line: the {how} path from A to B; "
        "yellow dot: the frame at t."
    )


def input_note(reg: Registry, w: latent.Walk) -> str:
    """How A and B were converted for the VAE, one line each, with a warning for an endpoint that does not look
    like the VAE's training data (a colour photo given to a digit model: without it, the walk silently shows what
    the model makes of a blob)."""
    dataset = latent.dataset_of(reg.entry(w.vae))
    trained_on = latent.TRAINED_ON.get(dataset, f"its {dataset} images")
    return "\n\n".join(endpoint_note(end, c, w.vae, trained_on) for end, c in zip("AB", w.checks))


def endpoint_note(end: str, c: latent.InputCheck, vae_name: str, trained_on: str) -> str:
    """One endpoint's line: what was done to it, and why it does not look like the training data, if it does not."""
    how = ", ".join(c.steps) if c.steps else "used as it is"
    why = []
    if c.colour:
        why.append(f"it is in colour (colourfulness {c.colourfulness:.0f}), which the model never sees")
    if c.unlike:
        why.append(
            f"{vae_name} reconstructs it {c.error / c.worst_heldout:.1f}× worse than its worst held-out image "
            f"(MSE {c.error:.3f} against {c.worst_heldout:.3f})"
        )
    if not why:
        return f"**{end}**: {how}."
    return (
        f"⚠️ **{end} does not look like the images {vae_name} was trained on** ({trained_on}): {'; '.join(why)}. "
        f"It was {how}. The walk shows what the model makes of that, not of an image of its kind."
    )


def walk_outputs(reg: Registry, img_a, img_b, vae_name: str, ae_name: str | None, how: str, n: int, at: float):
    """Everything the tab shows for a walk from A to B: frames at t, strips, map, reconstructions, the map's note,
    the note on A and B, the walk."""
    w = latent.start_walk(reg, vae_name, ae_name or None, img_a, img_b)
    fv, fa, lmap = latent.show_frame(reg, w, float(at), how)
    sv, sa = latent.show_strips(reg, w, int(n), how)
    ra, rb = latent.decode(reg.load(vae_name), np.stack([w.a, w.b]))
    big = [None if im is None else images.enlarge(im, ZOOM) for im in (fv, fa, sv, sa)]
    recons = images.enlarge(ra, ZOOM), images.enlarge(rb, ZOOM)
    return *big, lmap, *recons, map_note(reg, vae_name, how), input_note(reg, w), w


def on_arrival(
    reg: Registry,
    a: Path | None,
    b: Path | None,
    vae_name: str | None,
    ae_name: str | None,
    how: str = "linear",
    n: int = STEPS,
    at: float = 0.5,
) -> list:
    """The preset walk's outputs (a few ms for the shipped digit models), shown when the page opens; nothing if a
    preset or the VAE is missing or fails."""
    if a is None or b is None or not vae_name:
        return [None] * 10
    try:
        ends = [images.load_image(p) for p in (a, b)]  # as an upload arrives
        return list(walk_outputs(reg, *ends, vae_name, ae_name, how, n, at))
    except (ValueError, KeyError, RuntimeError, OSError):  # e.g. missing weights: the buttons then say why
        return [None] * 10


def preset_ends(reg: Registry, vae_name: str | None, by_name: dict[str, Path]) -> tuple[Path | None, Path | None]:
    """The walk a view opens with, from a held-out 0 to a held-out 7 of the VAE's own kind: MNIST's for an MNIST
    VAE, else sklearn's digits."""
    prefix = "mnist" if vae_name and latent.dataset_of(reg.entry(vae_name)) == "mnist" else "digit"
    return by_name.get(f"{prefix}-0"), by_name.get(f"{prefix}-7")


def matching_ae(reg: Registry, vae_name: str, ae_name: str | None) -> str | None:
    """The plain AE to show beside a VAE: the one given if it was trained on the VAE's data, else the first that
    was, else none."""
    want = latent.dataset_of(reg.entry(vae_name))
    same = [n for n in reg.names("latent-ae") if latent.dataset_of(reg.entry(n)) == want]
    return ae_name if ae_name in same else (same[0] if same else None)


def prior_samples(reg: Registry, vae_name: str | None, n: int = 32, temperature: float = 1.0, seed: int = 0):
    """The prior samples shown on arrival (None if the VAE is missing or its weights fail to load)."""
    try:
        return None if not vae_name else images.enlarge(latent.sample_grid(reg.load(vae_name), n, temperature, seed), 2)
    except (KeyError, RuntimeError, OSError):
        return None


def build(registry: Registry, demo: gr.Blocks, settings: Settings = Settings()) -> dict[str, gr.components.Component]:
    """The tab; demo: the app, whose page load shows the preset walk and prior samples (building runs no model).
    Returns the controls a link to the view sets."""
    vaes, aes = registry.names("vae"), registry.names("latent-ae")

    examples = latent.example_files(EXAMPLES_DIR)
    by_name = {p.stem: p for p in examples}
    mnist = [p for p in examples if p.stem.startswith("mnist-")]
    examples = [p for p in examples if p not in mnist]

    gr.Markdown("## Latent: walk a VAE's latent space from A to B, beside the plain autoencoder")
    with gr.Row():
        vae = model_dropdown(vaes, ("vae-digits",), "VAE", elem_id="latent-vae")
        ae = model_dropdown(aes, ("ae-digits",), "Plain AE for contrast", elem_id="latent-ae")
        method = gr.Radio(list(latent.METHODS), value="linear", label="Interpolation")
        steps = gr.Slider(3, 16, value=STEPS, step=1, label="Frames in the strip")
    info = gr.Markdown(card_summary(registry, vae.value), elem_id="latent-info")
    with gr.Row():
        start_a, start_b = preset_ends(registry, vae.value, by_name)
        a = endpoint("A", "a", start_a, examples, mnist, settings.max_pixels)
        b = endpoint("B", "b", start_b, examples, mnist, settings.max_pixels)
        with gr.Column():
            t = gr.Slider(0, 1, value=0.5, step=0.01, label="t: A (0) → B (1)", elem_id="latent-t")
            with gr.Row():
                frame_vae = gr.Image(
                    None, label="VAE at t", format="png", interactive=False, height=180, elem_id="latent-frame"
                )
                frame_ae = gr.Image(
                    None, label="AE at t", format="png", interactive=False, height=180, elem_id="latent-frame-ae"
                )
            run = gr.Button("Interpolate", variant="primary", elem_id="latent-run")
    input_note = gr.Markdown("", elem_id="latent-input-note")
    strip_vae = gr.Image(None, label="VAE: A → B", format="png", interactive=False, height=110, elem_id="latent-strip")
    strip_ae = gr.Image(
        None,
        label="Plain AE, the same path: A → B",
        format="png",
        interactive=False,
        height=110,
        elem_id="latent-ae-strip",
    )
    with gr.Row():
        latent_map = gr.Image(
            None, label="Latent map", format="png", interactive=False, height=360, elem_id="latent-map"
        )
        with gr.Column():
            with gr.Row():
                recon_a = gr.Image(None, label="VAE reconstruction of A", format="png", interactive=False, height=150)
                recon_b = gr.Image(None, label="VAE reconstruction of B", format="png", interactive=False, height=150)
            map_note = gr.Markdown("", elem_id="latent-map-note")
    with gr.Group():
        gr.Markdown("### Samples from the prior: z ~ N(0, T²·I), decoded")
        with gr.Row():
            temperature = gr.Slider(0, 1.5, value=1.0, step=0.05, label="Temperature T")
            count = gr.Slider(8, 64, value=32, step=8, label="Samples")
            seed = gr.Number(0, precision=0, label="Seed")
            sample_btn = gr.Button("Sample", elem_id="latent-sample")
        samples = gr.Image(
            None,
            label="Samples",
            format="png",
            interactive=False,
            height=260,
            elem_id="latent-samples",
        )
    with gr.Accordion("The reparameterisation trick, β, and why the plain AE has holes", open=False):
        gr.Markdown(EXPLANATION, elem_classes=["explain"])
    with gr.Accordion(
        "How to use this tab in a lecture", open=False, elem_id="latent-lecture", elem_classes=["explain"]
    ):
        gr.Markdown(LECTURE)

    walk = gr.State(None)

    @user_errors
    def interpolate(img_a, img_b, vae_name, ae_name, how, n, at, request: gr.Request):
        """Interpolate between two images through a VAE's latent space and a plain AE's, frame by frame."""
        number(n, "frames in the strip", 3, 16, whole=True)
        number(at, "t", 0, 1)
        if img_a is None or img_b is None:
            raise gr.Error("choose both endpoints A and B (upload, draw or click an example)")
        if not vae_name:
            raise gr.Error("no VAE is available; train one with python -m unetlab train --recipe vae-digits")
        return walk_outputs(session_registry(registry, request), img_a, img_b, vae_name, ae_name, how, n, at)

    outputs = [frame_vae, frame_ae, strip_vae, strip_ae, latent_map, recon_a, recon_b, map_note, input_note, walk]
    inputs = [a, b, vae, ae, method, steps, t]
    run.click(interpolate, inputs, outputs, api_name="interpolate")

    def on_change(img_a, img_b, vae_name, ae_name, how, n, at, request: gr.Request):
        """New endpoints, models or method re-encode at once (nothing to do until both ends are set)."""
        if img_a is None or img_b is None or not vae_name:
            return [gr.skip()] * len(outputs)
        return interpolate(img_a, img_b, vae_name, ae_name, how, n, at, request)

    for trigger in (a.change, b.change, ae.change, method.change, steps.release):
        trigger(on_change, inputs, outputs, api_name=False, show_progress="hidden")

    def pair(vae_name: str | None, ae_name: str | None, request: gr.Request):
        """A new VAE gets the plain AE trained on its data (faces beside faces, not digits), or none if there is
        none; picking an AE by hand afterwards is still allowed."""
        if not vae_name:
            return gr.skip()
        return matching_ae(session_registry(registry, request), vae_name, ae_name)

    vae.change(pair, [vae, ae], ae, api_name=False, show_progress="hidden").then(
        on_change, inputs, outputs, api_name=False, show_progress="hidden"
    )

    @user_errors
    def slide(w: latent.Walk | None, at: float, how: str, img_a, img_b, vae_name, ae_name, request: gr.Request):
        """The slider only decodes: the endpoints were encoded already (a few ms per frame)."""
        number(at, "t", 0, 1)
        reg = session_registry(registry, request)
        if w is None:
            if img_a is None or img_b is None or not vae_name:
                return gr.skip(), gr.skip(), gr.skip(), None
            w = latent.start_walk(reg, vae_name, ae_name or None, img_a, img_b)
        fv, fa, lmap = latent.show_frame(reg, w, float(at), how)
        return images.enlarge(fv, ZOOM), None if fa is None else images.enlarge(fa, ZOOM), lmap, w

    t.change(
        slide,
        [walk, t, method, a, b, vae, ae],
        [frame_vae, frame_ae, latent_map, walk],
        api_name=False,
        show_progress="hidden",
        trigger_mode="always_last",
    )

    @user_errors
    def vae_sample(vae_name: str | None, temp: float, n: int, s: float, request: gr.Request):
        """Decode samples from a VAE's prior, z ~ N(0, temperature^2 I)."""
        number(temp, "temperature", 0, 1.5)
        number(n, "samples", 8, 64, whole=True)
        number(s or 0, "seed", *SEEDS, whole=True)
        if not vae_name:
            raise gr.Error("no VAE is available; train one with python -m unetlab train --recipe vae-digits")
        model = session_registry(registry, request).load(vae_name)
        return images.enlarge(latent.sample_grid(model, int(n), float(temp), int(s or 0)), 2)

    sample_btn.click(vae_sample, [vae, temperature, count, seed], samples, api_name="vae_sample")
    vae.change(vae_sample, [vae, temperature, count, seed], samples, api_name=False)  # the new VAE's own prior

    controls = {"vae": vae, "ae": ae, "method": method, "steps": steps, "t": t}
    controls |= {"temperature": temperature, "samples": count, "seed": seed}

    def preset_walk(vae, ae, method, steps, t, temperature, samples, seed) -> list:
        """The preset walk (a held-out 0 to a held-out 7 of the VAE's kind) with the view's settings, and samples
        from the VAE's prior; the endpoints are set too where a link's VAE wants other digits than the page's."""
        ends = preset_ends(registry, vae, by_name)  # a link's VAE is one of the list's: registered
        shown = [gr.skip() if p == start else p for p, start in zip(ends, (start_a, start_b))]
        ae = matching_ae(registry, vae, ae) if vae else ae  # as picking the VAE does (a link may name the VAE only)
        walk = on_arrival(registry, *ends, vae, ae, method, int(steps), float(t))
        return [*walk, prior_samples(registry, vae, int(samples), float(temperature), int(seed)), *shown]

    show_on_arrival(demo, preset_walk, [*outputs, samples, a, b], "latent", controls)

    def summary(name: str | None, request: gr.Request) -> str:
        return card_summary(session_registry(registry, request), name)

    vae.change(summary, vae, info, api_name=False)

    def refresh_vae(request: gr.Request):
        """Models registered since the page loaded (this session's live training) appear when the list opens."""
        return gr.update(choices=session_registry(registry, request).names("vae"))

    def refresh_ae(request: gr.Request):
        return gr.update(choices=session_registry(registry, request).names("latent-ae"))

    vae.focus(refresh_vae, None, vae, api_name=False)
    ae.focus(refresh_ae, None, ae, api_name=False)
    return controls
