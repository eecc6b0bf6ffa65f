"""The Diffusion tab's endpoints, called through gradio_client as a user's script would."""

import shutil

import numpy as np
import pytest
from PIL import Image

from tests.conftest import serve
from tests.diffusion_fixtures import save_tiny_models
from unetlab import sd
from unetlab.ui.diffusion import ZOOM

PORT = 7910


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights")
    save_tiny_models(weights)
    with serve(weights, PORT) as c:
        yield c


def test_denoise_endpoint_shows_both_models_from_the_same_noise(client):
    out = client.predict("3", "ddim", 4, 2.0, 0, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")
    eps, x0, scrub, info, bands, spectrum, figures = out
    for path in (eps, x0):  # 4 samples of the tiny 8x8 models: x_t over x0, 1 px apart
        assert Image.open(path).size == ((4 * 9 - 1) * ZOOM, (2 * 9 - 1) * ZOOM)
    assert scrub["maximum"] == scrub["value"] == 4  # the scrubber spans the run's steps, at the last
    assert "Step **4 / 4**" in info and "Made with class 3, DDIM 4 steps, guidance 2, η 0, seed 0" in info
    assert {"ddpm-eps: low", "ddpm-x0: low"} <= {row[-1] for row in bands["data"]}
    assert "real digits" in {row[-1] for row in spectrum["data"]}
    assert "ddpm-eps" in figures and "HF energy ratio" in figures


def test_the_same_seed_gives_the_same_images(client):
    a = client.predict("7", "ddpm", 3, 1.0, 5, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")
    b = client.predict("7", "ddpm", 3, 1.0, 5, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")
    assert np.array_equal(np.asarray(Image.open(a[0])), np.asarray(Image.open(b[0])))


def test_bad_inputs_get_a_message_and_the_server_keeps_serving(client):
    with pytest.raises(Exception, match="steps must be between 1 and 50"):
        client.predict("3", "ddim", 500, 2.0, 0, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict("3", "ddim", 4, 2.0, 0, 0.0, "ddpm-eps", "nope", api_name="/denoise")
    with pytest.raises(Exception, match="no Stable Diffusion folder is configured"):
        client.predict("/nonexistent", 2, "ddim", 0, api_name="/sd_denoise")
    assert client.predict("1", "ddim", 2, 1.0, 0, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")


def test_grid_endpoint(client):
    eps, x0, note = client.predict(2, 2.0, 0, "ddpm-eps", "ddpm-x0", api_name="/grid")
    assert Image.open(eps).size == ((2 * 9 - 1) * 6, (10 * 9 - 1) * 6)  # row = digit, 2 samples each
    assert "HF energy ratio" in note


def test_missing_weights_name_the_file_and_the_command(tmp_path):
    save_tiny_models(tmp_path)
    shutil.rmtree(tmp_path / "ddpm-x0" / "unet")
    with serve(tmp_path, PORT + 1) as c:
        with pytest.raises(Exception, match="ddpm-x0.*missing.*python -m unetlab train --recipe ddpm-x0"):
            c.predict("3", "ddim", 2, 2.0, 0, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")


def test_sd_denoise_loads_only_the_configured_folder(client, tmp_path, monkeypatch):
    """A caller cannot make the server load any folder on its disk: only UNETLAB_SD_PATH's."""
    monkeypatch.setattr(sd, "SD_PATH", "")
    for path in ("", "/usr", str(tmp_path)):
        with pytest.raises(Exception, match="no Stable Diffusion folder is configured on this server.*UNETLAB_SD_PATH"):
            client.predict(path, 2, "ddim", 0, api_name="/sd_denoise")
    configured = tmp_path / "sd"
    configured.mkdir()
    monkeypatch.setattr(sd, "SD_PATH", str(configured))
    for path in ("/usr", str(tmp_path), "/nonexistent"):
        with pytest.raises(Exception, match="loads only the Stable Diffusion folder it was started with"):
            client.predict(path, 2, "ddim", 0, api_name="/sd_denoise")
    for path in ("", str(configured)):  # the configured folder is the one loaded (here: not an SD folder)
        with pytest.raises(Exception, match=f"{configured} is not a diffusers Stable Diffusion folder"):
            client.predict(path, 2, "ddim", 0, api_name="/sd_denoise")
