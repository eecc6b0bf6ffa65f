"""What every tab shares: the validated upload component, checked numbers, and turning library errors into
gr.Error."""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable

import gradio as gr
import numpy as np

from unetlab import budget, images
from unetlab.registry import Registry
from unetlab.ui import links


class UploadImage(gr.Image):
    """gr.Image whose upload goes through images.load_image, the app's one validator.

    preprocess reads the raw uploaded file itself, so undecodable files, bombs, CMYK, 16-bit, palette,
    EXIF-rotated and animated images all reach the same checks as the CLI's. The event function receives uint8
    RGB (H, W, 3); a subclass with mode = "L" receives (H, W). (No __init__ here: Gradio reads a component's
    props from its constructor's signature.)
    """

    is_template = True  # rendered by gr.Image's front end
    mode = "RGB"
    memory: budget.Cost | None = None  # set: events taking this upload are admitted against the memory budget
    max_pixels: int = images.MAX_PIXELS  # larger uploads are refused before decoding (settings.max_pixels)
    examples: gr.Examples | None = None  # heldout_photo_input's example photos (on_new_photo runs on their clicks)

    def get_block_name(self) -> str:
        return "image"  # Gradio names a template's front end after its direct base: a subclass would get none

    def get_block_class(self) -> str:
        return "image"

    def preprocess(self, payload) -> np.ndarray | None:  # type: ignore[override]
        if payload is None:
            return None
        if payload.path is None:
            raise gr.Error("the upload has no file; try again")
        try:
            return images.load_image(payload.path, mode=self.mode, max_pixels=self.max_pixels)
        except images.ImageError as e:
            raise gr.Error(str(e)) from None


def session_registry(registry: Registry, request: gr.Request | None) -> Registry:
    """The registry as this browser tab (or API client) sees it: the shipped models plus its own live-trained ones."""
    return registry.for_session(request.session_hash if request is not None else None)


def model_dropdown(names: list[str], preferred: tuple[str, ...], label: str, **kwargs) -> gr.Dropdown:
    """A model list. Any name is accepted (the registry checks it, with the valid names in its message), so an API
    client can name its own live model, which the list loaded with the page does not hold."""
    return gr.Dropdown(names, value=choose(names, *preferred), label=label, allow_custom_value=True, **kwargs)


def choose(names: list[str], *preferred: str) -> str | None:
    """A dropdown's starting value: the first preferred model that is registered, else the first one, else none."""
    return next((p for p in preferred if p in names), names[0] if names else None)


def heldout_photo_input(
    label: str,
    prefix: str,
    memory: budget.Cost | None = None,
    max_pixels: int = images.MAX_PIXELS,
    value: str | None = None,
    height: int = 320,
) -> UploadImage:
    """The image-to-image tabs' input: an upload (or paste) with the held-out photos as examples. memory: what a
    request on it costs; every event that takes it is then admitted against the memory budget (ui/admission.py);
    max_pixels: the server's upload limit (settings.max_pixels); value: the photo it holds when the page opens;
    height: its panel's (projector mode makes it smaller, see ui/page.py)."""
    from unetlab import data

    upload = UploadImage(
        value,
        label=label,
        height=height,
        sources=["upload", "clipboard"],
        elem_id=f"{prefix}-input",
        elem_classes=["key-input"],
    )
    upload.memory, upload.max_pixels = memory, max_pixels
    upload.examples = gr.Examples(
        list(data.heldout_photo_paths().values()), inputs=upload, label="Held-out photos", elem_id=f"{prefix}-examples"
    )
    return upload


def on_new_photo(upload: UploadImage, fn: Callable, inputs: list, outputs: list) -> None:
    """Run fn once each time the user puts a photo in (upload, paste, an example click) or removes it. Not on
    `change`: Gradio fires it twice when an upload replaces a photo, and the tab would run twice."""
    upload.input(fn, inputs, outputs, api_name=False)
    upload.examples.load_input_event.then(fn, inputs, outputs, api_name=False)


def show_on_arrival(
    demo: gr.Blocks,
    compute: Callable[..., list | tuple],
    outputs: list,
    tab: str | None = None,
    controls: links.Controls | None = None,
) -> None:
    """What a tab shows when its page opens: compute(**values) runs at the first page load, with every control's
    value by its key, not while the app is built (so building runs no model), and every later visitor gets the same
    result at once. compute handles its own errors (a missing model: empty outputs, the buttons then say why).

    A link to a view (ui/links.py: ?<tab>.<key>=value) sets the tab's controls first, and compute runs for the
    linked values (not cached); a value the link gets wrong is left out, with a warning that says so."""
    controls = controls or {}
    result: list = []

    def on_arrival(request: gr.Request):
        linked, problems = links.read(request.query_params if request else {}, tab, controls) if tab else ({}, [])
        for problem in problems:
            gr.Warning(f"Link: {problem}")
        values = {key: linked.get(key, c.value) for key, c in controls.items()}
        if linked:
            return [*(linked.get(key, gr.skip()) for key in controls), *compute(**values)]
        if not result:
            result.append(list(compute(**values)))
        return [gr.skip()] * len(controls) + result[0]

    on_arrival.__name__ = compute.__name__  # the event is named after compute (not functools.wraps: Gradio would
    # read compute's signature through __wrapped__, and pass no request)
    # the progress shows on the results only, not on the controls a link may set
    demo.load(on_arrival, None, [*controls.values(), *outputs], api_name=False, show_progress_on=outputs or None)


def noting_queued(stops) -> Callable:
    """A Gradio validator for a Stop-able job (a live.Stops'): it runs as the job is submitted, before it waits for
    its slot, and notes when, so that this session's Stop from now on cancels it (live.Stops.queued). It finds
    nothing wrong. (Gradio passes a gr.Request only to a positional parameter, hence first.)"""

    def queued(request: gr.Request, *values):
        if request is not None and request.session_hash:
            stops.queued(request.session_hash)
        return [gr.validate(True, "") for _ in values]

    return queued


SEEDS = (0, 2**32 - 1)  # what numpy and torch both accept (the CLI's --seed too)


def number(value, name: str, lo: float, hi: float, whole: bool = False) -> float | int:
    """A numeric argument as a caller sent it, checked on the server: a number from lo to hi (whole, for counts and
    seeds). Returns it as an int or float; else raises gr.Error naming the field and its range.

    A raw API call bypasses the browser's widgets, and Gradio's own bound check lets NaN through (every comparison
    with NaN is false): call this at the top of a handler, before any work, with the range its slider shows."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and lo <= value <= hi  # NaN fails here
    if not ok or (whole and value != int(value)):
        kind = "a whole number" if whole else "a number"
        raise gr.Error(f"{name} must be {kind} from {links.plain(lo)} to {links.plain(hi)}, got {repr(value)[:40]}")
    return int(value) if whole else float(value)


LIBRARY_ERRORS = (ValueError, KeyError, RuntimeError, OSError)


def as_user_error(e: Exception) -> gr.Error:
    return gr.Error(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e))


def user_errors(fn: Callable) -> Callable:
    """Show library errors (bad input, unknown model, missing weights) as a gr.Error; the server keeps serving.

    Generator functions (streamed events) stay generators, so Gradio still streams them."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except LIBRARY_ERRORS as e:
                raise as_user_error(e) from None

        return stream

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except LIBRARY_ERRORS as e:
            raise as_user_error(e) from None

    return wrapper
