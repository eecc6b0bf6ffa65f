"""Gradio's image cache, written atomically.

Gradio saves every output image under a folder named by the hash of its bytes, and rewrites that file in place
each time (`save_pil_to_cache`, `save_bytes_to_cache`). When two users get the same image at once (the same
example through the same model), one request truncates the file while the server is still sending it to the
other, which then fails with "Too little data for declared Content-Length". `python -m unetlab load` hit this
with 20 clients. Gradio already writes `save_file_to_cache` under a temporary name and renames it into place;
this does the same for the other two. The bytes are identical (same hash), so a reader gets a whole file.
PNGs are written with fast compression (see encode).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from gradio import processing_utils as pu

from unetlab.images import PNG_LEVEL


def _write_once(path: Path, data: bytes) -> str:
    """Write `data` to `path` unless it is already there, renaming a finished temporary file into place."""
    if path.exists():
        os.utime(path)  # gradio's cache ages files by ctime; a file handed out again is fresh
        return str(path)
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(staging, 0o644)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return str(path)


def encode(img, format: str) -> bytes:
    """PNG with fast compression (zlib level images.PNG_LEVEL: at 1024x1024 a fraction of PIL's default level's
    time, for about a sixth more bytes); other formats as Gradio encodes them."""
    if format.lower() != "png":
        return pu.encode_pil_to_bytes(img, format)
    with io.BytesIO() as out:
        img.save(out, "png", compress_level=PNG_LEVEL)
        return out.getvalue()


def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    data = encode(img, format)
    folder = Path(cache_dir) / pu.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    return _write_once((folder / f"{name}.{format}").resolve(), data)


def save_bytes_to_cache(data: bytes, file_name: str, cache_dir: str) -> str:
    folder = Path(cache_dir) / pu.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    if not Path(file_name).suffix:
        file_name += pu.detect_audio_format(data)
    return _write_once((folder / Path(file_name).name).resolve(), data)


def install() -> None:
    """Replace gradio's two in-place writers (module globals, so every component's call picks them up)."""
    pu.save_pil_to_cache = save_pil_to_cache
    pu.save_bytes_to_cache = save_bytes_to_cache
