"""Every numeric argument of every API endpoint is checked on the server, as a raw REST call sends it.

gradio_client refuses to send NaN or infinity (they are not JSON), but the REST API parses them, and Gradio's own
bound check lets NaN through. Each bad value gets a message naming the field and its range, before any work: the
model loads and the work functions are made to fail here, so a handler that got past its checks would show it.
"""

import json
import math

import httpx
import pytest

import app
from tests.diffusion_fixtures import save_tiny_models
from tests.latent_fixtures import save_tiny_latent_models
from unetlab import diffusion, lab, latent, ldm, live, registry, sd

PORT = 7930
URL = f"http://127.0.0.1:{PORT}"
NAN, INF = math.nan, math.inf


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights")
    save_tiny_models(weights)
    save_tiny_latent_models(weights)
    demo = app.build_app(registry.Registry(weights))
    demo.queue().launch(prevent_thread_lock=True, server_port=PORT, quiet=True)
    yield
    demo.close()


def call(api: str, *data) -> tuple[str, object]:
    """POST /gradio_api/call/<api> with JSON that may hold NaN or Infinity, as any HTTP client can; the last event
    of the answer (complete or error) and its data."""
    body = json.dumps({"data": list(data)})  # allow_nan: NaN, Infinity
    r = httpx.post(f"{URL}/gradio_api/call/{api}", content=body, headers={"content-type": "application/json"})
    r.raise_for_status()
    stream = httpx.get(f"{URL}/gradio_api/call/{api}/{r.json()['event_id']}", timeout=120).text
    events = [line.removeprefix("event: ") for line in stream.splitlines() if line.startswith("event: ")]
    payloads = [line.removeprefix("data: ") for line in stream.splitlines() if line.startswith("data: ")]
    return events[-1], json.loads(payloads[-1])


@pytest.fixture
def no_work(monkeypatch):
    """Any model load or any tab's work fails the request with an AssertionError (not the expected message)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(registry.Registry, "load", forbidden)
    for module, name in [
        (live, "train_job"),
        (lab, "run_purity"),
        (lab, "compare_pca"),
        (diffusion, "side_by_side"),
        (diffusion, "grid_report"),
        (latent, "sample_grid"),
        (latent, "start_walk"),
        (sd, "denoise_folder"),
        (ldm, "side_by_side"),
    ]:
        monkeypatch.setattr(module, name, forbidden)


MODELS = ("ddpm-eps", "ddpm-x0")
TRAIN = ["vae", "digits", [], 1, 32, 3e-3, 4, 0, "gaussian", 0.3, 1.0, 0.1, 1.0, 64, 0.25]


def train_with(**changed) -> list:
    names = ["model", "data", "files", "epochs", "batch", "lr", "width", "seed", "noise", "level", "beta", "l1"]
    names += ["lam", "codebook", "commitment"]
    return [changed.get(n, v) for n, v in zip(names, TRAIN)]


SEED_RANGE = "a whole number from 0 to 4294967295"
CASES = [
    ("grid", [NAN, 1.0, 0, *MODELS], "samples per digit must be a whole number from 1 to 8, got nan"),
    ("grid", [2, NAN, 0, *MODELS], "guidance scale must be a number from 0 to 8, got nan"),
    ("grid", [2, 1.0, -1, *MODELS], f"seed must be {SEED_RANGE}, got -1"),
    ("grid", [2, 1.0, 1e40, *MODELS], f"seed must be {SEED_RANGE}, got 1000000000000000"),
    ("denoise", ["3", "ddim", NAN, 1.0, 0, 0.0, *MODELS], "steps must be a whole number from 1 to 1000, got nan"),
    ("denoise", ["3", "ddim", 4, NAN, 0, 0.0, *MODELS], "guidance scale must be a number from 0 to 8, got nan"),
    ("denoise", ["3", "ddim", 4, 1.0, 0, NAN, *MODELS], "η must be a number from 0 to 1, got nan"),
    ("vae_sample", ["tiny-vae", NAN, 16, 0], "temperature must be a number from 0 to 1.5, got nan"),
    ("vae_sample", ["tiny-vae", 1.0, NAN, 0], "samples must be a whole number from 8 to 64, got nan"),
    ("vae_sample", ["tiny-vae", 1.0, 16, -5], f"seed must be {SEED_RANGE}, got -5"),
    (
        "interpolate",
        [None, None, "tiny-vae", "tiny-ae", "linear", NAN, 0.5],
        "frames in the strip must be a whole number from 3 to 16, got nan",
    ),
    ("interpolate", [None, None, "tiny-vae", "tiny-ae", "linear", 5, NAN], "t must be a number from 0 to 1, got nan"),
    ("pca", [NAN], "k must be a whole number from 1 to 32, got nan"),
    ("pca", [2.5], "k must be a whole number from 1 to 32, got 2.5"),
    ("purity", [NAN, 1, 1, "mnist"], "epochs per condition must be a whole number from 1 to 60, got nan"),
    ("purity", [1, NAN, 1, "mnist"], "k-means seeds must be a whole number from 1 to 10, got nan"),
    ("purity", [1, 1, NAN, "mnist"], "training seeds must be a whole number from 1 to 5, got nan"),
    ("sd_denoise", ["", NAN, "ddim", 0, "a cat", 7.5], "steps must be a whole number from 1 to 50, got nan"),
    ("three_denoise", ["mnist", "3", NAN, 1.0, 0], "steps must be a whole number from 1 to 200, got nan"),
    ("three_denoise", ["mnist", "3", 4, NAN, 0], "guidance scale must be a number from 0 to 8, got nan"),
    ("three_denoise", ["mnist", "3", 4, 1.0, -1], f"seed must be {SEED_RANGE}, got -1"),
    ("sd_denoise", ["", 2, "ddim", 0, "a cat", NAN], "guidance scale must be a number from 0 to 20, got nan"),
    ("train", train_with(beta=NAN), "β must be a number from 0 to 1000, got nan"),
    ("train", train_with(lr=INF), "learning rate must be a number from 0 to 1, got inf"),
    ("train", train_with(lr=1e9), "learning rate must be a number from 0 to 1, got 1000000000.0"),
    ("train", train_with(lr=None), "learning rate must be a number from 0 to 1, got None"),
    ("train", train_with(epochs=NAN), "epochs must be a whole number from 1 to 100, got nan"),
    ("train", train_with(level=NAN), "noise level must be a number from 0 to 1, got nan"),
    ("train", train_with(commitment=INF), "commitment cost must be a number from 0 to 1000, got inf"),
    ("train", train_with(seed=-1), f"seed must be {SEED_RANGE}, got -1"),
]


@pytest.mark.parametrize("api,data,message", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_numbers_are_refused_before_any_work(server, no_work, api, data, message):
    event, payload = call(api, *data)
    assert event == "error"
    assert payload["error"].startswith(message)


def test_the_server_keeps_serving(server):
    event, (grid,) = call("vae_sample", "tiny-vae", 1.0, 16, 0)
    assert event == "complete" and grid["path"].endswith(".png")
    event, (eps, x0, note) = call("grid", 1, 1.0, 0, *MODELS)
    assert event == "complete" and "nan" not in note
