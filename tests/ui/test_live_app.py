"""The Live training tab's streaming endpoint, called through gradio_client: submit, outputs, stop, bad input.
Its outputs: status, three grids (the third for diffusion's v), the loss plot, the accuracy plot, the download."""

import io
import time
import zipfile

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from PIL import Image

from tests.conftest import serve
from tests.diffusion_fixtures import save_tiny_classifier, tiny_live_diffusion
from unetlab import live

# model, dataset, files, epochs, batch size, lr, width, seed, noise, level, beta, l1, contraction, codebook, commitment
SETTINGS = ["gaussian", 0.3, 1.0, 0.1, 1.0, 64, 0.25]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights")
    save_tiny_classifier(weights, "digits-classifier", 8)  # reads the samples of the tiny diffusion jobs (8x8)
    with serve(weights, 7900) as client:
        yield client


def test_train_streams_every_epoch_then_hands_off(client, tmp_path):
    job = client.submit("unet", "faces", [], 2, 32, 3e-3, 4, 0, *SETTINGS, api_name="/train")
    outputs = list(job)
    assert len(outputs) == 6  # epoch 0, then each model's epoch 1 and 2, then the hand-off
    status, grid_a, grid_b, grid_c, plot, accuracy, download = outputs[-1]
    assert "epoch 2/2" in status and "Registered as <code>live-unet-noskip-faces</code>" in status
    assert "Reconstruction tab" in status
    assert Image.open(grid_a).size == Image.open(grid_b).size == (3 * (2 * 34 - 2), 3 * (8 * 34 - 2))
    curves = {row[2] for row in plot["data"]}
    assert curves == {f"{m}: {k}" for m in ("with skips", "without skips") for k in ("train", "held-out")}
    assert [row[0] for row in plot["data"] if row[2] == "with skips: train" and row[1] is not None] == [1, 2]
    with zipfile.ZipFile(download) as zf:
        assert "live-unet-skip-faces.safetensors" in zf.namelist()
    assert grid_c is None and accuracy is None  # diffusion's only
    assert outputs[0][6] is None  # no download before the job ends


def test_stop_ends_the_job_and_keeps_the_model(client):
    job = client.submit("dae", "digits", [], 60, 16, 3e-3, 4, 0, *SETTINGS, api_name="/train")
    deadline = time.time() + 120
    while len(job.outputs()) < 3 and time.time() < deadline:  # epoch 0 and epoch 1 are in
        time.sleep(0.2)
    client.predict(api_name="/stop_training")
    status = list(job)[-1][0]  # the job ends on its own soon after
    assert "stopped" in status and "live-dae-digits" in status and "epoch 60/60" not in status


def test_own_zip_and_bad_input_then_keeps_serving(client, tmp_path):
    with pytest.raises(Exception, match="upload a zip of images"):
        client.predict("unet", "upload", [], 1, 32, 3e-3, 4, 0, *SETTINGS, api_name="/train")
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("../x.png", b"x")
    with pytest.raises(Exception, match="unsafe path"):
        client.predict("unet", "upload", [handle_file(str(slip))], 1, 32, 3e-3, 4, 0, *SETTINGS, api_name="/train")
    mine = tmp_path / "mine.zip"
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(mine, "w") as zf:
        for i in range(4):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(buf, format="PNG")
            zf.writestr(f"{i}.png", buf.getvalue())
        zf.writestr("notes.txt", "x")
    out = client.predict("unet", "upload", [handle_file(str(mine))], 1, 8, 3e-3, 4, 0, *SETTINGS, api_name="/train")
    assert "4 image(s), 1 skipped" in out[0] and "live-unet-skip-upload" in out[0]


def test_live_models_are_private_to_their_session(client, tmp_path):
    """A's results do not change when B trains a model of the same name; a third client cannot use either; and each
    can use its own model through the API as soon as its job ends (no model-list refresh needed)."""
    from gradio_client import Client

    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(photo)
    names = ("live-unet-noskip-digits", "live-unet-skip-digits")

    def trained_then_reconstructed(c: Client, seed: int) -> np.ndarray:
        c.predict("unet", "digits", [], 1, 64, 3e-3, 4, seed, *SETTINGS, api_name="/train")
        return pixels(c)

    def pixels(c: Client) -> np.ndarray:
        out = c.predict(handle_file(str(photo)), *names, api_name="/reconstruct")
        return np.concatenate([np.asarray(Image.open(p)) for p in out[:2]], axis=1)

    a, b, c = client, Client(client.src, verbose=False), Client(client.src, verbose=False)
    mine = trained_then_reconstructed(a, 0)
    theirs = trained_then_reconstructed(b, 7)
    assert not np.array_equal(mine, theirs)  # B's model is its own...
    assert np.array_equal(pixels(a), mine)  # ...and A's is untouched by it
    with pytest.raises(Exception, match="unknown model 'live-unet-noskip-digits'"):
        pixels(c)


def test_stop_cancels_a_queued_job_of_its_own_session_only(client):
    """Two sessions (two clients): A's job holds the one training slot, B's waits. B presses Stop: B's job ends at
    once when it gets the slot, training and registering nothing; A's job is not touched until A stops it."""
    other = Client(client.src, verbose=False)  # a second session
    a = client.submit("dae", "digits", [], 60, 16, 3e-3, 4, 0, *SETTINGS, api_name="/train")
    deadline = time.time() + 120
    while len(a.outputs()) < 2 and time.time() < deadline:  # A is training
        time.sleep(0.2)
    b = other.submit("vae", "digits", [], 2, 16, 3e-3, 4, 0, *SETTINGS, api_name="/train")
    while b.status().code != Status.IN_QUEUE and time.time() < deadline:  # B waits behind A
        time.sleep(0.1)
    assert b.status().code == Status.IN_QUEUE
    other.predict(api_name="/stop_training")
    time.sleep(1)
    assert not a.done()  # B's Stop is not A's
    client.predict(api_name="/stop_training")
    status, grid_a, grid_b, grid_c, plot, accuracy, download = list(b)[-1]
    assert "stopped before it started" in status and "Nothing was trained or registered" in status
    assert grid_a is None and download is None
    assert "live-dae-digits" in list(a)[-1][0]  # A stopped by its own Stop, its model kept


def test_diffusion_trains_eps_x0_and_v_and_times_them_to_digits(client, monkeypatch):
    tiny_live_diffusion(monkeypatch)  # the app runs in this process: its jobs train the tiny U-Net
    outputs = list(client.submit("diffusion", "digits", [], 1, 64, 3e-3, 8, 0, *SETTINGS, api_name="/train"))
    assert len(outputs) == 5  # epoch 0 of all three, then each model's epoch 1, then the hand-off
    status, *grids, plot, accuracy, download = outputs[-1]
    grid = (3 * (live.PER_CLASS * 9 - 1), 3 * (10 * 9 - 1))  # 5 samples of each of 10 digits at 8x8, zoomed 3x
    assert [Image.open(g).size for g in grids] == [grid] * 3  # ε | x0 | v
    for name in ("live-ddpm-eps-digits", "live-ddpm-x0-digits", "live-ddpm-v-digits"):
        assert f"<code>{name}</code>" in status
    assert "Diffusion tab" in status and "Samples read as digits (≥ 80% by <code>digits-classifier</code>)" in status
    assert {row[2] for row in plot["data"]} == {f"{m}: {k}" for m in ("ε", "x0", "v") for k in ("train", "held-out")}
    assert sorted((row[2], row[0]) for row in accuracy["data"]) == [(m, e) for m in ("v", "x0", "ε") for e in (0, 1)]
    with zipfile.ZipFile(download) as zf:
        assert "live-ddpm-v-digits/unet/diffusion_pytorch_model.safetensors" in zf.namelist()
    # the hand-off: this session's Diffusion tab samples them (its lists were built without them; names go through)
    *_, note = client.predict(1, 1.0, 0, "live-ddpm-eps-digits", "live-ddpm-v-digits", api_name="/grid")
    assert "live-ddpm-eps-digits" in note and "live-ddpm-v-digits" in note
    from gradio_client import Client

    with pytest.raises(Exception, match="live-ddpm-eps-digits"):  # another session does not see them
        Client(client.src, verbose=False).predict(
            1, 1.0, 0, "live-ddpm-eps-digits", "live-ddpm-v-digits", api_name="/grid"
        )
    with pytest.raises(Exception, match="choose digits or mnist, not faces"):
        client.predict("diffusion", "faces", [], 1, 64, 3e-3, 8, 0, *SETTINGS, api_name="/train")
