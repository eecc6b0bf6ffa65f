"""Live training jobs: side-by-side runs (the U-Net with vs without skips; diffusion's ε vs x0 vs v), Stop, Reset
determinism, the time cap, threads, and the hand-off to the registry (and so to every tab) and the download."""

import io
import json
import math
import threading
import zipfile
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from tests.diffusion_fixtures import save_tiny_classifier, tiny_live_diffusion
from unetlab import diffusion, latent, live, recipes, registry
from unetlab.colorize import colorize
from unetlab.reconstruct import compare
from unetlab.settings import Settings

FAST = dict(dataset="faces", epochs=2, batch_size=32, width=4)  # 160 training faces: a fraction of a second/epoch
ONE_THREAD = Settings(train_threads=1)


def run(job, reg=None, stops=None, session="", seconds=None, **kw):
    """The last step, and the epoch shown at each step (a job streams one Step object, updated in place)."""
    epochs = []
    settings = ONE_THREAD if seconds is None else replace(ONE_THREAD, train_seconds=seconds)
    reg = reg or registry.Registry("/nonexistent")
    for step in live.train_job(job, reg, stops or live.Stops(), session, settings, **kw):
        epochs.append(step.epoch)
    return step, epochs


def losses(step):
    return [(h["epoch"], h["curve"], h["loss"]) for h in step.history if not math.isnan(h["loss"])]


def test_side_by_side_streams_epoch_0_then_each_model_each_epoch(tmp_path):
    reg = registry.Registry(tmp_path)
    last, epochs = run(live.Job(model="unet", **FAST), reg, out_dir=tmp_path / "out")
    assert epochs == [0, 0, 1, 1, 2, 2]  # then: after noskip's epoch, after skip's, ...
    assert last.done and not last.stopped
    curves = {h["curve"] for h in last.history}
    assert curves == {f"{m}: {k}" for m in ("with skips", "without skips") for k in ("train", "held-out")}
    assert set(last.reports) == {"live-unet-noskip-faces", "live-unet-skip-faces"}
    assert all(r.grid.dtype == np.uint8 and r.grid.shape == (8 * 34 - 2, 2 * 34 - 2, 3) for r in last.reports.values())
    noskip, skip = last.reports.values()
    assert skip.test_loss < noskip.test_loss  # the skips win already


def test_reset_reproduces_the_same_curve():
    a, _ = run(live.Job(model="unet", seed=3, **FAST))
    b, _ = run(live.Job(model="unet", seed=3, **FAST))
    c, _ = run(live.Job(model="unet", seed=4, **FAST))
    assert losses(a) == losses(b)
    assert losses(a) != losses(c)


def test_stop_ends_within_an_epoch_and_keeps_the_model(tmp_path):
    reg, stops = registry.Registry(tmp_path), live.Stops()
    steps = []
    job = live.Job(model="dae", dataset="digits", epochs=50, batch_size=16)
    for step in live.train_job(job, reg, stops, "s1", ONE_THREAD):
        steps.append(step.epoch)
        if step.epoch == 1:
            assert not stops.request("s2")  # another session's Stop: it has no job, and this one runs on
            assert stops.request("s1")
    assert step.done and step.stopped == "stopped"
    assert steps[-1] <= 2 and len(steps) <= 4  # stopped in epoch 2, after a batch: never 50 epochs
    assert not stops.request("s1")  # the job is over: nothing to stop
    (r,) = step.reports.values()
    assert r.stopped and r.epoch == 2  # stopped at epoch 2's first batch: the model of epoch 1 is kept
    assert [h["epoch"] for h in reg.entry("live-dae-digits").card["history"]] == [1]
    assert reg.load("live-dae-digits") is reg.entry("live-dae-digits").module  # the partly trained model is registered
    assert torch.isfinite(next(reg.load("live-dae-digits").parameters())).all()


def test_time_cap(tmp_path):
    last, _ = run(live.Job(model="vae", **FAST), registry.Registry(tmp_path), seconds=0)
    assert last.stopped.startswith("time cap") and last.names == ["live-vae-faces"]


def test_hand_off_to_the_other_tabs_and_download(tmp_path):
    reg = registry.Registry(tmp_path)
    last, _ = run(live.Job(model="unet", **FAST), reg)
    assert reg.names("reconstruct") == ["live-unet-noskip-faces", "live-unet-skip-faces"]
    photo = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    a, b = compare(photo, last.names, reg)  # what the Reconstruction tab runs
    assert a.image.shape == photo.shape[:2] and b.psnr > a.psnr - 5  # grey models: the luma, at full size
    with zipfile.ZipFile(last.download) as zf:
        assert sorted(zf.namelist()) == sorted(f"{n}.{ext}" for n in last.names for ext in ("json", "safetensors"))
        zf.extractall(tmp_path / "dl")
    entry, model = registry.load_path(tmp_path / "dl" / "live-unet-skip-faces.json")  # loads with nothing else
    assert entry.card["config"]["skips"] and entry.card["seed"] == 0 and "Live training" in entry.card["command"]
    x = torch.rand(1, 1, 32, 32)
    assert torch.allclose(model(x), reg.load("live-unet-skip-faces")(x), atol=1e-5)


def test_variants_register_for_the_latent_tab(tmp_path):
    reg = registry.Registry(tmp_path)
    for kind in ("vae", "dae", "sparse-ae", "contractive-ae", "vq-vae"):
        last, _ = run(live.Job(model=kind, **{**FAST, "epochs": 1}), reg)
        assert last.done and last.reports[last.names[0]].psnr > 0
    assert reg.names("vae") == ["live-vae-faces"]
    assert len(reg.names("latent-ae")) == 4
    face = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    walk = latent.start_walk(reg, "live-vae-faces", "live-vq-vae-faces", face, face[::-1])  # the Latent tab's call
    frame, ae_frame, _ = latent.show_frame(reg, walk, 0.5)
    assert frame.shape == ae_frame.shape == (32, 32)


def test_a_vae_trains_on_mnist_for_the_latent_tab(tmp_path):
    """MNIST is one of the tab's data choices: a VAE trained on it maps the held-out digits by their labels."""
    reg = registry.Registry(tmp_path)
    last, _ = run(live.Job(model="vae", dataset="mnist", epochs=1, batch_size=128, width=4), reg)
    assert last.done and reg.names("vae") == ["live-vae-mnist"]
    entry = reg.entry("live-vae-mnist")
    assert entry.card["data"]["dataset"] == "mnist" and entry.heldout[0].shape[1:] == (1, 32, 32)
    sp = latent.space(entry, reg.load("live-vae-mnist"))
    assert sp.labels is not None and set(sp.labels.tolist()) == set(range(10))
    with pytest.raises(ValueError, match="mnist are grey: the colouriser needs colour"):
        live.Job(model="colorizer", dataset="mnist").check()


def png_zip(path, n=6, grey=False):
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(n):
            buf = io.BytesIO()
            img = rng.integers(0, 256, (70 + i, 90, 3), dtype=np.uint8)
            Image.fromarray(img[..., 0] if grey else img).save(buf, format="PNG")
            zf.writestr(f"img{i}.png", buf.getvalue())
        zf.writestr("readme.txt", "not an image")
    return str(path)


def test_own_zip_for_the_colouriser_and_a_vae(tmp_path):
    reg = registry.Registry(tmp_path)
    z = png_zip(tmp_path / "mine.zip")
    last, _ = run(live.Job(model="colorizer", dataset="upload", files=[z], epochs=1, batch_size=16, width=4), reg)
    assert "6 image(s), 1 skipped (readme.txt: not an image" in last.data_note
    assert reg.names("colorize") == ["live-colorizer-upload"]
    out = colorize(reg.load("live-colorizer-upload"), np.full((40, 30, 3), 120, np.uint8), views=False)
    assert out.image.shape == (40, 30, 3)
    last, _ = run(live.Job(model="vae", dataset="upload", files=[z], epochs=1, batch_size=4, width=4), reg)
    walk = latent.start_walk(reg, "live-vae-upload", None, np.zeros((40, 40, 3), np.uint8), np.ones((40, 40), np.uint8))
    frame, _, lmap = latent.show_frame(reg, walk, 0.3)
    assert frame.dtype == np.uint8 and lmap.shape[2] == 3
    sp = latent.space(reg.entry("live-vae-upload"), reg.load("live-vae-upload"))
    assert len(sp.z) == 6 and sp.labels is None  # the map: the upload's own 6 images (too few alone: train ones too)


@pytest.mark.parametrize(
    "job, message",
    [
        (live.Job(model="colorizer", dataset="digits"), "digits are grey: the colouriser needs colour"),
        (live.Job(dataset="upload"), "upload a zip of images"),
        (live.Job(model="gan"), "unknown model 'gan'"),
        (live.Job(epochs=0), "epochs must be between 1 and 500"),
        (live.Job(lr=0), "learning rate must be in"),
        (live.Job(noise="masking", noise_level=2), "masking noise hides a share"),
        (live.Job(beta=-1), "β must be a finite number from 0 to 1000, got -1"),
        (live.Job(model="vae", beta=math.nan), "β must be a finite number from 0 to 1000, got nan"),  # nan < 0 is False
        (live.Job(model="dae", noise_level=math.inf), "noise level must be a finite number from 0 to 1000, got inf"),
        (live.Job(model="sparse-ae", l1=1e9), "L1 weight must be a finite number from 0 to 1000"),
        (live.Job(model="vq-vae", commitment=math.nan), "commitment cost must be a finite number"),
        (live.Job(lr=math.nan), "learning rate must be in"),
        (live.Job(model="diffusion", dataset="faces"), "labelled digits.*: choose digits or mnist, not faces"),
        (live.Job(model="diffusion", dataset="upload"), "choose digits or mnist, not upload"),  # not "upload a zip"
    ],
)
def test_bad_jobs_say_what_to_do(job, message):
    with pytest.raises(ValueError, match=message):
        job.check()


def test_training_threads_are_set_and_restored():
    before = torch.get_num_threads()
    with live.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_card_history_matches_the_stream(tmp_path):
    reg = registry.Registry(tmp_path)
    last, _ = run(live.Job(model="sparse-ae", **FAST), reg)
    card = reg.entry("live-sparse-ae-faces").card
    assert [h["epoch"] for h in card["history"]] == [1, 2]
    assert "L1 of the code" in card["hyper"]["loss"]
    assert json.loads(json.dumps(card))["metrics"]["test_loss"] == pytest.approx(last.reports[last.names[0]].test_loss)


def test_a_nan_beta_trains_and_registers_nothing(tmp_path):
    reg = registry.Registry(tmp_path)
    with pytest.raises(ValueError, match="β must be a finite number"):
        run(live.Job(model="vae", beta=math.nan, **FAST), reg)
    assert reg.names() == []


def test_a_diverging_job_stops_with_a_message_and_registers_nothing(tmp_path, monkeypatch):
    """A learning rate of 1e9 (past the check, as any cause of divergence would be) turns the VAE's weights NaN in
    its first epoch: the job ends there, says so, and registers nothing."""
    monkeypatch.setattr(live.Job, "check", lambda self: None)
    reg = registry.Registry(tmp_path)
    epochs = []
    with pytest.raises(ValueError, match=r"training diverged \(VAE \(β\): held-out loss nan at epoch 1\): nothing was"):
        for step in live.train_job(live.Job(model="vae", lr=1e9, **{**FAST, "epochs": 40}), reg, live.Stops()):
            epochs.append(step.epoch)
    assert epochs == [0]  # epoch 0 only: not 40 epochs of NaN
    assert reg.names() == []


def test_a_comparison_is_registered_whole_or_not_at_all(tmp_path, monkeypatch):
    """Only the model with skips ends non-finite: the one without skips is not registered alone."""
    real_run = live.recipes.training

    def skip_model_diverges(r, data, model, **kw):
        yield from real_run(r, data, model, **kw)
        if r.config["skips"]:
            with torch.no_grad():
                next(model.parameters()).fill_(math.inf)

    monkeypatch.setattr(live.recipes, "training", skip_model_diverges)
    reg = registry.Registry(tmp_path)
    with pytest.raises(ValueError, match=r"training diverged .*with skips: 1 tensor\(s\).*nothing was registered"):
        run(live.Job(model="unet", **FAST), reg, out_dir=tmp_path / "out")
    assert reg.names() == []
    assert not (tmp_path / "out").exists()  # nor written for download


def test_stop_cancels_this_sessions_queued_job_only(tmp_path):
    """One training slot (the app's concurrency limit, a lock here): A trains, B and C wait. B's session presses
    Stop while B waits: when B gets the slot it ends at once, registering nothing. A and C are not touched."""
    slot, stops = threading.Lock(), live.Stops()
    reg = registry.Registry(tmp_path)
    a_started, b_queued, release, steps = threading.Event(), threading.Event(), threading.Event(), {}

    def job(session, model, queued, started=None):
        stops.queued(session)  # what the app's validator does as the job is submitted
        if queued is not None:
            queued.set()
        with slot:
            for step in live.train_job(live.Job(model=model, **FAST), reg, stops, session, ONE_THREAD):
                steps.setdefault(session, []).append(step.epoch)
                if started is not None:
                    started.set()
                    release.wait(60)  # A holds the slot until B waits behind it and B's Stop is in
        return step

    results = {}
    a = threading.Thread(target=lambda: results.update(a=job("A", "dae", None, a_started)))
    a.start()
    assert a_started.wait(60)
    b = threading.Thread(target=lambda: results.update(b=job("B", "vae", b_queued)))
    c = threading.Thread(target=lambda: results.update(c=job("C", "sparse-ae", None)))
    b.start()
    c.start()
    assert b_queued.wait(30)
    assert stops.request("B")  # B has a job waiting: it is cancelled
    release.set()
    for t in (a, b, c):
        t.join(120)
    assert results["b"].done and results["b"].stopped == "stopped before it started"
    assert results["b"].names == [] and results["b"].download is None and steps["B"] == [0]
    assert not results["a"].stopped and not results["c"].stopped  # the other sessions ran all their epochs
    assert sorted(reg.names()) == ["live-dae-faces", "live-sparse-ae-faces"]


def test_a_stop_before_submitting_cancels_nothing(tmp_path):
    reg, stops = registry.Registry(tmp_path), live.Stops()
    assert not stops.request("D")  # nothing running, nothing queued
    stops.queued("D")  # then a job is submitted
    last, _ = run(live.Job(model="dae", **FAST), reg, stops, session="D")
    assert last.done and not last.stopped and last.names == ["live-dae-faces"]
    stops.forget("D")
    stops.queued("D")
    assert stops.request("D")  # a Stop after submitting cancels
    stops.forget("D")  # the session ended: its Stop is forgotten, and a new job of that name starts
    assert stops.start("D") is not None


# --- diffusion: ε vs x0 vs v ----------------------------------------------------------------------------------------

DIFFUSION = dict(model="diffusion", dataset="digits", epochs=1, batch_size=64)
PREDICTIONS = ["epsilon", "sample", "v_prediction"]


def test_a_diffusion_job_trains_eps_x0_and_v_from_the_same_start_and_samples_from_the_same_noise(monkeypatch):
    tiny_live_diffusion(monkeypatch)
    job = live.Job(**DIFFUSION)
    data, note = live.load_data(job)
    rs = live.job_recipes(job, data)
    assert [r.config["prediction_type"] for r in rs] == PREDICTIONS
    rest = [replace(r, name="", description="", config={**r.config, "prediction_type": "?"}) for r in rs]
    assert rest[1:] == rest[:1] * 2  # all else is the same: shape, data, epochs, batch size, learning rate, seed
    assert note == "digits: the first 256 of its 1,438 training digits"
    first = [recipes.build_model(r).state_dict() for r in rs]  # what the job builds: the same initial weights
    assert all(torch.equal(first[0][k], w[k]) for w in first[1:] for k in first[0])
    noises = []
    real_noise = diffusion.initial_noise

    def recorded(*args, **kw):
        noises.append(real_noise(*args, **kw))
        return noises[-1]

    monkeypatch.setattr(diffusion, "initial_noise", recorded)
    last, epochs = run(job)  # no classifier registered: samples, but nothing reads them
    assert epochs == [0, 0, 0, 1, 1]  # all three at epoch 0, then one epoch of each in turn, then the hand-off
    assert last.done and last.names == [r.name for r in rs]
    assert list(last.labels.values()) == ["ε", "x0", "v"]
    assert {h["curve"] for h in last.history} == {f"{m}: {k}" for m in ("ε", "x0", "v") for k in ("train", "held-out")}
    assert len(noises) == 6 and all(torch.equal(n, noises[0]) for n in noises)  # 3 models x epochs 0 and 1
    assert noises[0].shape == (10 * live.PER_CLASS, 1, 8, 8)
    grids = live.grids(last)
    assert [s.epoch for s in last.samples.values()] == [1, 1, 1]
    assert all(g.dtype == np.uint8 and g.shape == (10 * 9 - 1, live.PER_CLASS * 9 - 1, 3) for g in grids)
    assert not np.array_equal(grids[0], grids[1])  # the same noise, denoised by different objectives
    assert last.judge == "" and last.accuracies().empty and not last.digits_at
    assert all(s.accuracy is None for s in last.samples.values())


def test_diffusion_models_are_handed_to_the_diffusion_tab_of_their_session_only(tmp_path, monkeypatch):
    tiny_live_diffusion(monkeypatch)
    monkeypatch.setattr(live, "DIGITS_AT", 0.0)  # any samples "read as digits": the first epoch's are kept
    save_tiny_classifier(tmp_path, "digits-classifier", 8)
    reg = registry.Registry(tmp_path)
    mine = reg.for_session("s1")
    last, _ = run(live.Job(**DIFFUSION), mine)
    names = ["live-ddpm-eps-digits", "live-ddpm-x0-digits", "live-ddpm-v-digits"]
    assert last.names == names and last.judge == "digits-classifier"
    # what the Diffusion tab lists for this session, and for no other
    assert diffusion.models_of(mine, "digits") == names and diffusion.models_of(mine, "mnist") == []
    assert diffusion.models_of(reg.for_session("s2"), "digits") == [] and diffusion.models_of(reg, "digits") == []
    assert [diffusion.models_predicting(mine, p, "digits") for p in PREDICTIONS] == [[n] for n in names]
    for name, prediction in zip(names, PREDICTIONS):
        card = mine.entry(name, "diffusion").card
        assert card["task"] == "diffusion" and card["data"]["dataset"] == "digits"
        assert card["config"]["prediction_type"] == prediction
        samples = card["metrics"]["live_samples"]
        assert samples["classifier"] == "digits-classifier" and samples["epoch"] == 1
        assert 0 <= samples["accuracy"] <= 1 and samples["sampler"]["steps"] == live.SAMPLE_STEPS
        assert samples["digits_at"] == {"epoch": 0, "minutes": 0.0, "job_minutes": pytest.approx(0, abs=1)}
    assert {s.epoch for s in last.digits_at.values()} == {0}  # the first epoch that reached it, not the last
    rows = last.accuracies()
    assert len(rows) == 6 and rows["accuracy (%)"].between(0, 100).all()  # 3 models x epochs 0 and 1
    # what the Diffusion tab runs on them: two of them from the same noise, read by the classifier
    models = {n: mine.load(n, "diffusion") for n in names[:2]}
    report = diffusion.grid_report(models, diffusion.judge(mine, "digits"), 1, steps=2)
    assert all(0 <= f.accuracy <= 1 for f in report.figures)
    with zipfile.ZipFile(last.download) as zf:  # each model's card and its diffusers folder
        assert {f"{n}/unet/diffusion_pytorch_model.safetensors" for n in names} <= set(zf.namelist())
        zf.extractall(tmp_path / "dl")
    entry, model = registry.load_path(tmp_path / "dl" / "live-ddpm-v-digits.json")  # loads with nothing else
    x, t, y = torch.randn(2, 1, 8, 8), torch.tensor([10, 40]), torch.tensor([3, 7])
    assert entry.config["prediction_type"] == "v_prediction"
    assert torch.allclose(model(x, t, y), mine.load("live-ddpm-v-digits")(x, t, y), atol=1e-5)
