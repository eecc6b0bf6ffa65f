"""The Colorize tab launched in-process and called through gradio_client, with tiny untrained models."""

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from tests.conftest import serve
from unetlab import colorize, data, registry


def colour_card(name: str, config: dict) -> dict:
    return {"name": name, "task": "colorize", "model": "unet", "config": config, "recipe": name, "metrics": {}}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights")
    tiny = dict(in_channels=1, base=4, depth=2, output="linear")
    for name, skips in (("tiny-color-noskip", False), ("tiny-color-skip", True)):
        cfg = {**tiny, "out_channels": colorize.bins().count, "skips": skips}
        registry.save(registry.build("unet", cfg), colour_card(name, cfg), weights)
    cfg = {**tiny, "out_channels": 3, "output": "sigmoid", "skips": True}
    registry.save(registry.build("unet", cfg), colour_card("tiny-color-mse", cfg), weights)
    with serve(weights, 7897) as client:
        yield client


def test_colorize_endpoint_full_resolution(client):
    photo = data.heldout_photo_paths()["coffee"]
    slider, other, L, a, b, info = client.predict(
        handle_file(photo), "tiny-color-skip", "tiny-color-noskip", api_name="/colorize"
    )
    grey, coloured = (Image.open(p) for p in slider)
    assert grey.size == coloured.size == Image.open(other).size == (600, 400)  # the upload's own size
    g = np.asarray(grey.convert("RGB")).astype(int)
    assert np.abs(g[..., 0] - g[..., 1]).max() <= 1  # the left of the slider is grey
    assert Image.open(L).size == Image.open(a).size == Image.open(b).size == (384, 256)  # the working size
    assert "600x400 upload" in info and "384x256" in info


def test_grey_upload_and_rgb_model(client, tmp_path):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(0, 250, 5, dtype=np.uint8), (40, 1))).save(grey)
    slider, other, *_ = client.predict(handle_file(str(grey)), "tiny-color-mse", None, api_name="/colorize")
    assert Image.open(slider[1]).size == (50, 40) and other is None


def test_bad_upload_and_wrong_model(client, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(Exception, match="could not be decoded|not an image"):
        client.predict(handle_file(str(bad)), "tiny-color-skip", None, api_name="/colorize")
    ok = data.heldout_photo_paths()["chelsea"]
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(handle_file(ok), "recon-skip", None, api_name="/colorize")
    slider, *_ = client.predict(handle_file(ok), "tiny-color-skip", None, api_name="/colorize")
    assert Image.open(slider[1]).size == (451, 300)
