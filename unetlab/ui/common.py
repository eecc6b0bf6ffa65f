"""What every tab shares: the validated upload component and turning library errors into gr.Error."""

from __future__ import annotations

import functools
from collections.abc import Callable

import gradio as gr
import numpy as np

from unetlab import images


class UploadImage(gr.Image):
    """gr.Image whose upload goes through images.load_image, the app's one validator.

    preprocess reads the raw uploaded file itself, so undecodable files, bombs, CMYK, 16-bit, palette,
    EXIF-rotated and animated images all reach the same checks as the CLI's. The event function receives uint8
    RGB (H, W, 3); a subclass with mode = "L" receives (H, W). (No __init__ here: Gradio reads a component's
    props from its constructor's signature.)
    """

    is_template = True  # rendered by gr.Image's front end
    mode = "RGB"

    def preprocess(self, payload) -> np.ndarray | None:  # type: ignore[override]
        if payload is None:
            return None
        if payload.path is None:
            raise gr.Error("the upload has no file; try again")
        try:
            return images.load_image(payload.path, mode=self.mode)
        except images.ImageError as e:
            raise gr.Error(str(e)) from None


def user_errors(fn: Callable) -> Callable:
    """Show library errors (bad input, unknown model, missing weights) as a gr.Error; the server keeps serving."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, KeyError, RuntimeError, OSError) as e:
            raise gr.Error(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)) from None

    return wrapper
