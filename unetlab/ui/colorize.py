"""Colorize tab: colour restored from luminance at the upload's full resolution, with and without skips, guided by
the user's colour hints (click the image to place one; the model's own top colours there are offered)."""

from __future__ import annotations

import json
from dataclasses import replace

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from unetlab import budget, data, images
from unetlab import colorize as C
from unetlab.registry import Registry
from unetlab.settings import Settings
from unetlab.ui.common import (
    heldout_photo_input,
    model_dropdown,
    on_new_photo,
    session_registry,
    show_on_arrival,
    user_errors,
)

CANVAS_SIDE = 1024  # the hint canvas is drawn at most this long (a display copy; hints are in upload pixels)
SWATCH = 48  # palette swatch side, pixels
PICK_RADIUS = 0.03  # a click this close to a hint (fraction of the long side) selects it instead of adding one
DEFAULT_COLOUR = "#3a7bd5"
# How the hints spread before the U-Net corrects them (the fill it is given): as each model's card says (chosen on
# validation: edge-aware for the shipped guided models), or either fill by hand. "nearest" is what the models were
# trained with, and shows what the skips do: without them a hint's colour cannot stop at an edge.
FILL_CHOICES = [
    ("as each model's card says", "card"),
    ("nearest hint (as trained: shows what the skips do)", "nearest"),
    ("edge-aware (a watershed on the edges of L*)", "edges"),
]

EXPLANATION = """
**Why predict colour from luminance?** A photo's lightness (CIE L\\*) carries almost all of its shapes, edges
and texture; its colour (a\\* green-magenta, b\\* blue-yellow) varies slowly and is mostly *implied* by what the
object is: sky is blue, grass is green, skin is skin. So the U-Net is given L\\* only and asked for a\\*b\\*, and
the answer is put back together with the upload's **own** full-resolution L\\*: the network runs at a working
size (short side 256), but every edge in the result is the upload's. A colour upload is first reduced to L\\*:
the model never sees its colours.

**Why not plain regression?** An MSE loss rewards the *average* of all plausible colours; a car that may be
red or blue comes out brown-grey (the article's "sepia"). Here each pixel gets a probability over 222 a\\*b\\* bins,
rare saturated bins are up-weighted in the loss, and the colour is read off as an *annealed mean* (between the
mean and the mode, T = 0.38) - Zhang, Isola & Efros 2016, "Colorful Image Colorization".

**Hints: say what the model cannot know.** A grey car may have been red or blue; one click settles it. The guided
U-Net (Zhang, Zhu et al. 2017, "Real-Time User-Guided Image Colorization with Learned Deep Priors") also takes a
sparse a\\*b\\* map of the hints, its mask, and the *nearest-hint fill*: every pixel given the colour of its nearest
hint, which is where colour would spread if nothing knew about edges. It has two heads. One regresses a\\*b\\* as a
correction to that fill, to learn where a hint's colour should stop (the edges of L\\*) and what colour the parts
no hint covers are; the shipped models have learned only a little of that (their figures are in the README). The
other gives each pixel a probability over the 222 a\\*b\\* bins: the palette under the picker shows its most likely
colours at the clicked point, given the other hints. The model was trained with hints taken from the true colours
at random places (none one time in eight), so with no hints it is the automatic colouriser.

**What the tab runs with hints** was chosen on validation photos and is kept in each model's card: the fill the
U-Net is given is an *edge-aware* one (a watershed from the hints on the edges of L\\*, so a hint's colour stops at
an edge instead of half-way to the next hint), and colorize-guided-skip's colours are half its regression, half its
bins' annealed mean. That edge-aware fill alone scores almost as well as the U-Net on the test images (README):
most of what you see is the fill, the U-Net adds a little.

**What do the skips change?** Without them, everything the model adds must pass the 1/16-size bottom of the U:
its corrections are blurred, so colour bleeds across object boundaries and hints spread as flat patches; with them
it follows the edges of L\\*.
"""


def _hints(text: str | None) -> list[dict]:
    """The hints box's JSON as a list of {x, y, color} (checked later against the upload by colorize.make_hints)."""
    return [{"x": x, "y": y, "color": C.hex_colour(rgb)} for x, y, rgb in C.hints_from_json(text)]


def _dump(hints: list[dict]) -> str:
    return json.dumps([{"x": int(h["x"]), "y": int(h["y"]), "color": h["color"]} for h in hints])


def _scale(img: np.ndarray) -> float:
    """Upload pixels per canvas pixel."""
    return max(1.0, max(img.shape[:2]) / CANVAS_SIDE)


def draw_canvas(grey: np.ndarray, hints: list[dict], selected: int | None) -> np.ndarray:
    """The model's input (L* only) at display size, each hint a dot of its colour ringed black and white."""
    s = _scale(grey)
    canvas = Image.fromarray(grey)
    if s > 1:
        canvas = canvas.resize((round(grey.shape[1] / s), round(grey.shape[0] / s)), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(canvas)
    r = max(5, round(max(canvas.size) / 90))
    for k, h in enumerate(hints):
        x, y = h["x"] / s, h["y"] / s
        ring = 3 if k == selected else 1
        draw.ellipse((x - r - ring - 1, y - r - ring - 1, x + r + ring + 1, y + r + ring + 1), fill="black")
        draw.ellipse((x - r - ring, y - r - ring, x + r + ring, y + r + ring), fill="white")
        draw.ellipse((x - r, y - r, x + r, y + r), fill=h["color"])
    return np.asarray(canvas)


def draw_palette(colours: list[tuple[str, float]]) -> np.ndarray:
    """Swatches side by side, each as wide as SWATCH, with its probability as a bar along the bottom."""
    out = np.full((SWATCH, SWATCH * len(colours), 3), 255, np.uint8)
    for k, (hex_, p) in enumerate(colours):
        out[:, k * SWATCH : (k + 1) * SWATCH - 2] = C.parse_colour(hex_)
        out[-5:, k * SWATCH : k * SWATCH + max(1, round(p * (SWATCH - 2)))] = (20, 20, 20)
    return out


ARRIVAL = "coffee"  # the held-out photo the tab shows colourised when it opens

LECTURE = """
- Open on the coffee photo: the model saw only its lightness (the grey canvas) and put the colour back. Ask the
  class where the colour came from: it was never in the input.
- Upload a photo with sky, grass or a face: the automatic colours are muted and often wrong. Say why: a grey car
  may have been red or blue, and the model averages what it cannot know.
- Click the canvas to give one hint (pick its colour first): watch the colour spread and stop at edges of the
  lightness. Both models do that, because the edge-aware fill they are given does it. Then pick "nearest hint" under
  the hints (the fill they were trained with): its straight borders show; the model with skips bends them a little
  towards the edges (1.1 dB ahead on the test images), the one without adds only a faint wash. Edges reach the
  output through the contracting path.
- Click a hint again: the palette under the picker shows the model's own top guesses at that point.
- If asked "why predict colour from lightness?": lightness holds the edges; colour varies slowly and follows what
  the object is (the explanation below, folded away).
"""


def build(registry: Registry, demo: gr.Blocks, settings: Settings = Settings()) -> dict[str, gr.Dropdown]:
    """The tab; demo: the app, whose page load shows the ARRIVAL photo colourised; settings.max_pixels: the upload
    limit. Returns the controls a link to the view sets."""
    names = registry.names("colorize")
    arrival = data.heldout_photo_paths()[ARRIVAL]
    gr.Markdown(
        "## Colorize: the U-Net predicts colour (a\\*b\\*) from lightness (L\\*), at any resolution. "
        "Click the image to give it a colour hint."
    )
    with gr.Row():
        with gr.Column(scale=1):
            upload = heldout_photo_input(
                "Photo (colour or grey)", "color", budget.COLORIZE, settings.max_pixels, value=arrival
            )
            model = model_dropdown(names, ("colorize-guided-skip", "colorize-skip"), "Colourizer")
            beside = "Beside it (e.g. without skips)"
            other = model_dropdown(names, ("colorize-guided-noskip", "colorize-noskip"), beside)
            with gr.Group():
                picker = gr.ColorPicker(
                    DEFAULT_COLOUR, label="Hint colour (for new and selected hints)", elem_id="color-picker"
                )
                palette = gr.Image(
                    label="The model's top colours at the clicked point: click one to use it",
                    format="png",
                    interactive=False,
                    height=80,
                    elem_id="color-palette",
                )
                hints = gr.Textbox(
                    "[]",
                    label='Hints: [{"x", "y", "color"}], x and y in the upload\'s pixels (edit, then Enter)',
                    lines=1,
                    max_lines=4,
                    elem_id="color-hints",
                )
                spread = gr.Radio(
                    FILL_CHOICES,
                    value="card",
                    label="How the hints spread before the U-Net corrects them",
                    elem_id="color-fill",
                )
                with gr.Row():
                    remove = gr.Button("Remove selected hint", size="sm", elem_id="color-remove")
                    clear = gr.Button("Clear hints", size="sm", elem_id="color-clear")
            run = gr.Button("Colorize", variant="primary", elem_id="color-run")
        with gr.Column(scale=2):
            canvas = gr.Image(
                label="Click to place a colour hint (what the model sees: L* only)",
                format="jpeg",
                interactive=False,
                height=300,
                elem_id="color-canvas",
                elem_classes=["key-image"],
            )
            with gr.Row():
                out_main = result_image(f"Colourised: {model.value}", "color-result")
                out_other = result_image(f"Beside it: {other.value}", "color-other")
            info = gr.Markdown(elem_id="color-info")
    with gr.Row():
        view_L = view_image("Model input: L* (working size)", "color-L")
        view_a = view_image("Predicted a* (green - magenta)", "color-a")
        view_b = view_image("Predicted b* (blue - yellow)", "color-b")
    with gr.Accordion("Why colour from luminance, and why hints?", open=False, elem_classes=["explain"]):
        gr.Markdown(EXPLANATION)
    with gr.Accordion("How to use this tab in a lecture", open=False, elem_classes=["explain"]):
        gr.Markdown(LECTURE)
    selected = gr.State(None)  # index of the selected hint in the hints box, or None
    suggestions = gr.State([])  # the palette's colours, left to right

    outputs = [canvas, out_main, out_other, view_L, view_a, view_b, info]

    def decode_of(reg: Registry, name: str, fill: str | None = "card") -> C.Decode:
        """The model's decoding, as its card says (chosen on validation when it was trained), with the hints' fill
        the user picked ("card": the card's own)."""
        decode = C.Decode.from_card(reg.entry(name).card)
        return decode if fill in (None, "card") else replace(decode, fill=fill)  # Decode checks the name

    def render(
        reg: Registry,
        img: np.ndarray,
        name: str | None,
        name_other: str | None,
        hint_list: list[dict],
        sel: int | None,
        fill: str | None = "card",
        progress=None,
    ):
        """Both models' results for the hints, the canvas with the hints drawn; progress(share, desc) for large
        uploads (about 1 s per 10 Mpx: the chroma is joined to the upload's own full-resolution L*)."""
        progress = progress or (lambda *a, **k: None)
        if not name:
            raise gr.Error(
                "no colorize models are available; train one with python -m unetlab train --recipe colorize-skip"
            )
        H, W = img.shape[:2]
        checked = C.make_hints([(h["x"], h["y"], C.parse_colour(h["color"])) for h in hint_list], H, W)
        progress(0.05, desc=name)
        first = reg.load(name, "colorize")
        r = C.colorize(first, img, hints=checked if C.guided(first) else (), decode=decode_of(reg, name, fill))
        second = None
        notes = []
        if name_other:
            progress(0.55, desc=name_other)
            m2 = reg.load(name_other, "colorize")
            hints2 = checked if C.guided(m2) else ()
            second = C.colorize(m2, img, views=False, hints=hints2, decode=decode_of(reg, name_other, fill)).image
        fills = ""
        for n in (name, name_other):
            if n and checked and not C.guided(reg.load(n)):
                notes.append(
                    f"{n} takes no hints (L* alone): it ran automatically. The guided models take them "
                    "(colorize-guided-skip, colorize-guided-noskip)."
                )
            elif n and checked:
                fills += f" {n}: the {decode_of(reg, n, fill).fill} fill."
        text = (
            f"{W}x{H} upload; the model ran at {r.working[1]}x{r.working[0]} and its chroma was joined to the "
            f"upload's own L*. {len(checked)} hint(s).{fills} Left: {name}; right: "
            f"{name_other or '(no second model)'}. " + " ".join(notes)
        )
        return draw_canvas(r.grey, hint_list, sel), r.image, second, r.L, r.a, r.b, text

    @user_errors
    def run_colorize(
        img: np.ndarray | None,
        name: str | None,
        name_other: str | None,
        hint_json: str | None,
        fill: str | None,
        request: gr.Request,
        progress=gr.Progress(),
    ):
        """Colourise a photo from its luminance at its full resolution with two colorize models, guided by colour
        hints: a JSON list of {"x", "y", "color": "#RRGGBB"} with x, y in the image's own pixels (may be empty).
        fill: how the hints spread before the U-Net corrects them: "card" (each model's own), "nearest" or "edges"."""
        if img is None:
            raise gr.Error("upload an image or pick an example first")
        reg = session_registry(registry, request)
        return render(reg, img, name, name_other, _hints(hint_json), None, fill, progress)

    run.click(run_colorize, [upload, model, other, hints, spread], outputs, api_name="colorize")

    def on_new_image(img: np.ndarray | None, name: str | None, name_other: str | None, request: gr.Request):
        """An upload or an example click clears the hints and colourises at once; clearing the input clears all."""
        if img is None:
            return "[]", None, None, [], None, None, None, None, None, None, ""
        return "[]", None, None, [], *run_colorize(img, name, name_other, "[]", "card", request)

    new_image_outputs = [hints, selected, palette, suggestions, *outputs]
    on_new_photo(upload, on_new_image, [upload, model, other], new_image_outputs)

    def example_colourised(model: str | None, other: str | None):
        """The photo the input holds on arrival, through the view's models, no hints (nothing if one is missing)."""
        try:
            return on_new_image(images.load_image(arrival), model, other, None)
        except gr.Error as e:
            return "[]", None, None, [], None, None, None, None, None, None, e.message

    controls = {"model": model, "other": other}
    show_on_arrival(demo, example_colourised, new_image_outputs, "colorize", controls)

    @user_errors
    def new_model(img, name, name_other, hint_json, fill, request: gr.Request, progress=gr.Progress()):
        """A model or a fill picked: colourise again with the hints placed (nothing to do without a photo)."""
        if img is None:
            return (gr.skip(),) * len(outputs)
        reg = session_registry(registry, request)
        return render(reg, img, name, name_other, _hints(hint_json), None, fill, progress)

    def models_shown(name: str | None, name_other: str | None):
        """The two result panels name the models picked (the API's outputs stay plain images)."""
        return gr.update(label=f"Colourised: {name}"), gr.update(label=f"Beside it: {name_other or '(none)'}")

    for dd in (model, other):
        dd.input(new_model, [upload, model, other, hints, spread], outputs, api_name=False, trigger_mode="always_last")
        dd.change(models_shown, [model, other], [out_main, out_other], api_name=False, show_progress="hidden")

    spread.input(new_model, [upload, model, other, hints, spread], outputs, api_name=False, trigger_mode="always_last")

    @user_errors
    def on_click(img, name, name_other, hint_json, fill, colour, evt: gr.SelectData, request: gr.Request):
        """A click near a hint selects it; elsewhere it adds a hint of the picker's colour. Either way the palette
        shows the model's top colours at that point, given the other hints."""
        if img is None:
            raise gr.Error("upload an image or pick an example first")
        reg = session_registry(registry, request)
        hint_list = _hints(hint_json)
        s = _scale(img)
        x = min(img.shape[1] - 1, int(evt.index[0] * s))
        y = min(img.shape[0] - 1, int(evt.index[1] * s))
        reach = PICK_RADIUS * max(img.shape[:2])
        near = [k for k, h in enumerate(hint_list) if (h["x"] - x) ** 2 + (h["y"] - y) ** 2 <= reach**2]
        if near:
            sel = near[-1]
        else:
            hint_list.append({"x": x, "y": y, "color": C.hex_colour(C.parse_colour(colour or DEFAULT_COLOUR))})
            sel = len(hint_list) - 1
        colours, palette_img = [], None
        if name and C.guided(m := reg.load(name)) and C.kind(m) in ("classify", "ab+bins"):
            others = [h for k, h in enumerate(hint_list) if k != sel]
            H, W = img.shape[:2]
            rest = C.make_hints([(h["x"], h["y"], C.parse_colour(h["color"])) for h in others], H, W)
            h = hint_list[sel]
            colours = C.suggest(m, img, h["x"], h["y"], rest, decode=decode_of(reg, name, fill))
            palette_img = draw_palette(colours)
        return (
            _dump(hint_list),
            sel,
            palette_img,
            [c for c, _ in colours],
            *render(reg, img, name, name_other, hint_list, sel, fill),
        )

    canvas.select(
        on_click,
        [upload, model, other, hints, spread, picker],
        new_image_outputs,
        api_name=False,
        trigger_mode="always_last",
    )

    @user_errors
    def recolour(img, name, name_other, hint_json, fill, colour, sel, request: gr.Request):
        """The picker changed: the selected hint takes its colour."""
        hint_list = _hints(hint_json)
        if img is None or sel is None or sel >= len(hint_list):
            return (gr.skip(),) * (1 + len(outputs))
        hint_list[sel]["color"] = C.hex_colour(C.parse_colour(colour))
        reg = session_registry(registry, request)
        return _dump(hint_list), *render(reg, img, name, name_other, hint_list, sel, fill)

    picker.input(
        recolour,
        [upload, model, other, hints, spread, picker, selected],
        [hints, *outputs],
        api_name=False,
        trigger_mode="always_last",
    )

    @user_errors
    def pick_suggestion(img, name, name_other, hint_json, fill, sel, colours, evt: gr.SelectData, request: gr.Request):
        """A palette swatch clicked: the picker and the selected hint take its colour."""
        k = int(evt.index[0]) // SWATCH
        if not colours or k >= len(colours):
            return (gr.skip(),) * (2 + len(outputs))
        colour = colours[k]
        hint_list = _hints(hint_json)
        if img is None or sel is None or sel >= len(hint_list):
            return colour, *(gr.skip(),) * (1 + len(outputs))
        hint_list[sel]["color"] = colour
        reg = session_registry(registry, request)
        return colour, _dump(hint_list), *render(reg, img, name, name_other, hint_list, sel, fill)

    palette.select(
        pick_suggestion,
        [upload, model, other, hints, spread, selected, suggestions],
        [picker, hints, *outputs],
        api_name=False,
    )

    @user_errors
    def remove_hint(img, name, name_other, hint_json, fill, sel, request: gr.Request):
        """Remove the selected hint (or the last one)."""
        hint_list = _hints(hint_json)
        if hint_list:
            hint_list.pop(sel if sel is not None and sel < len(hint_list) else -1)
        if img is None:
            return _dump(hint_list), None, None, [], *(gr.skip(),) * len(outputs)
        reg = session_registry(registry, request)
        return _dump(hint_list), None, None, [], *render(reg, img, name, name_other, hint_list, None, fill)

    remove.click(remove_hint, [upload, model, other, hints, spread, selected], new_image_outputs, api_name=False)

    @user_errors
    def clear_hints(img, name, name_other, request: gr.Request):
        if img is None:
            return "[]", None, None, [], *(gr.skip(),) * len(outputs)
        return "[]", None, None, [], *render(session_registry(registry, request), img, name, name_other, [], None)

    clear.click(clear_hints, [upload, model, other], new_image_outputs, api_name=False)

    @user_errors
    def edited(img, name, name_other, hint_json, fill, request: gr.Request):
        """The hints box was edited by hand (Enter): re-colourise with what it says."""
        if img is None:
            return (gr.skip(),) * len(outputs)
        return render(session_registry(registry, request), img, name, name_other, _hints(hint_json), None, fill)

    hints.submit(edited, [upload, model, other, hints, spread], outputs, api_name=False)

    def refresh(request: gr.Request):
        """Models registered since the page loaded (this session's live training) appear when the list opens."""
        return gr.update(choices=session_registry(registry, request).names("colorize"))

    model.focus(refresh, None, model, api_name=False)
    other.focus(refresh, None, other, api_name=False)
    return controls


def result_image(label: str, elem_id: str) -> gr.Image:
    """A result of the key comparison: a fixed height, so a small upload's result fills it (drawn crisp)."""
    return gr.Image(
        label=label, format="png", interactive=False, height=280, elem_id=elem_id, elem_classes=["key-image"]
    )


def view_image(label: str, elem_id: str) -> gr.Image:
    """A teaching view (L*, a*, b*): a fixed height for the same reason."""
    return gr.Image(label=label, format="png", interactive=False, height=220, elem_id=elem_id)
