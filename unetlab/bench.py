"""`python -m unetlab bench`: performance figures from one run, as ratios against baselines in the same process.

Timings are medians over repeats after a warm-up; the baseline of each ratio runs in the same process on the
same data, so ratios compare across machines better than absolute numbers do.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from unetlab import data as datasets
from unetlab import recipes, registry
from unetlab.reconstruct import reconstruct
from unetlab.settings import Settings
from unetlab.tasks.reconstruct import Reconstruct
from unetlab.train import train

# what a fresh process runs to build the app as `python app.py` does (settings and registry from the environment)
APP_FROM_ENVIRONMENT = (
    "from unetlab.registry import Registry; from unetlab.settings import Settings; s = Settings.from_env(); "
    "reg = Registry.from_settings(s); app.build_app(reg, s)"
)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def training_throughput(steps: int = 64, batch_size: int = 32) -> dict:
    """THE loop with bf16 autocast + channels_last vs the same loop in fp32, vs a naive fp32 loop.

    All three train recon-skip's model from the same initial weights on the same crops for `steps` batches;
    the loop's two settings also report held-out PSNR afterwards, so a speed-up that hurt the result would show.
    """
    r = recipes.get("recon-skip")
    data = datasets.photos(crop=r.crop, epoch_size=steps * batch_size)
    warm = datasets.photos(crop=r.crop, epoch_size=4 * batch_size)
    out = {}
    for name, fast in (("loop_bf16_channels_last", True), ("loop_fp32", False)):
        kw = dict(epochs=1, batch_size=batch_size, lr=r.lr, objective=Reconstruct(), fast=fast)
        next(train(recipes.build_model(r), warm, **kw))
        report = next(train(recipes.build_model(r), data, **kw))
        out[name] = {"images_per_s": round(report.images_per_s, 1), "heldout_psnr": round(report.psnr, 2)}

    model = recipes.build_model(r)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    gen = torch.Generator().manual_seed(0)

    def naive_epoch() -> None:
        for x in data.batches(batch_size, gen):
            loss = F.mse_loss(model(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()

    out["naive_fp32"] = {"images_per_s": round(steps * batch_size / _median_time(naive_epoch, 1), 1)}
    ours = out["loop_bf16_channels_last"]["images_per_s"]
    out["ratio_vs_naive"] = round(ours / out["naive_fp32"]["images_per_s"], 2)
    out["ratio_vs_loop_fp32"] = round(ours / out["loop_fp32"]["images_per_s"], 2)
    return out


def reconstruct_latency(reg: registry.Registry, sizes=(256, 1024), repeats: int = 5) -> dict:
    """Median end-to-end latency (pad, model, crop) of recon-skip at each size: bf16 autocast vs plain fp32."""
    try:
        model = reg.load("recon-skip")
    except (KeyError, registry.WeightsError):  # same shape, untrained: same cost
        model = recipes.build_model(recipes.get("recon-skip")).to(memory_format=torch.channels_last).eval()
    rng = np.random.default_rng(0)
    out = {}
    for s in sizes:
        img = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
        for name, fast in (("bf16", True), ("fp32", False)):
            reconstruct(model, img, fast)
            t = _median_time(lambda img=img, fast=fast: reconstruct(model, img, fast), repeats)
            out[f"{s}x{s}_{name}_ms"] = round(1000 * t, 1)
        out[f"{s}x{s}_ratio"] = round(out[f"{s}x{s}_fp32_ms"] / out[f"{s}x{s}_bf16_ms"], 2)
    return out


def _fresh_process(code: str) -> dict:
    """Run Python code in a new interpreter (from the repository root) and parse the JSON it prints last."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


RSS = "int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) / 1024"


def cold_start(repeats: int = 2) -> dict:
    """Seconds from a fresh interpreter to the built app, against just importing its libraries (the floor).

    Best of `repeats` fresh processes each, alternating, so that neither side pays for cold disk caches alone.
    """
    code = "import time, json; t = time.perf_counter(); {}; print(json.dumps(time.perf_counter() - t))"
    floors, apps = [], []
    for _ in range(repeats):
        floors.append(_fresh_process(code.format("import torch, gradio, sklearn, skimage")))
        apps.append(_fresh_process(code.format(f"import app; {APP_FROM_ENVIRONMENT}")))
    floor, app = min(floors), min(apps)
    return {"app_built_s": round(app, 2), "imports_only_s": round(floor, 2), "ratio": round(app / floor, 2)}


def memory() -> dict:
    """Resident memory of a fresh process with the app built, then with every registry model loaded."""
    return _fresh_process(
        f"import json\nimport app\n{APP_FROM_ENVIRONMENT}\n"
        f"before = {RSS}\nfor name in reg.names(): reg.load(name)\nafter = {RSS}\n"
        "print(json.dumps({'app_mb': round(before), 'all_models_loaded_mb': round(after), "
        "'models': len(reg.names())}))"
    )


def colorize_latency(reg: registry.Registry, side: int = 1024, repeats: int = 15) -> dict:
    """Median end-to-end latency of colourising a side x side JPEG upload (decode, L*, model at the working size,
    upsample chroma, recombine with the full-resolution L*, sRGB) with colorize-skip: bf16 vs fp32, and the same
    pipeline's colour conversions done by skimage.color (rgb2lab + lab2rgb at full size) as the baseline."""
    import tempfile

    from skimage import color

    from unetlab import images
    from unetlab.colorize import Decode, colorize

    try:
        model = reg.load("colorize-skip")
        decode = Decode.from_card(reg.entry("colorize-skip").card)
    except (KeyError, registry.WeightsError):  # same shape, untrained: same cost
        model = recipes.build_model(recipes.get("colorize-skip")).to(memory_format=torch.channels_last).eval()
        decode = None
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        f.write(_jpeg_1024(side))
        f.flush()

        def end_to_end(fast: bool) -> None:
            colorize(model, images.load_image(f.name), fast=fast, views=False, decode=decode)

        def skimage_conversions() -> None:
            x = images.load_image(f.name) / 255.0
            color.lab2rgb(color.rgb2lab(x))

        out = {}
        for name, fn in (
            ("bf16", lambda: end_to_end(True)),
            ("fp32", lambda: end_to_end(False)),
            ("skimage_lab_only", skimage_conversions),
        ):
            fn()
            out[f"{side}x{side}_{name}_ms"] = round(1000 * _median_time(fn, repeats), 1)
    out["ratio_vs_fp32"] = round(out[f"{side}x{side}_fp32_ms"] / out[f"{side}x{side}_bf16_ms"], 2)
    return out


def _jpeg_1024(side: int) -> bytes:
    """coffee at side x side with a little noise, as a JPEG: a photo, as uploads usually are."""
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    photo = datasets.photo_arrays(held_out=True)["coffee"]
    img = np.asarray(Image.fromarray(photo).resize((side, side)))
    img = np.clip(img.astype(np.int16) + rng.integers(-3, 4, img.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def colorize_api(side: int = 1024, repeats: int = 15, port: int = 7893) -> dict:
    """What the Colorize tab's user waits for: /colorize through gradio_client on loopback (upload, decode, model,
    recombine, PNG encoding, download) with colorize-guided-skip's U-Net alone (untrained: the same cost; decoding
    as the shipped card says), in automatic mode and with 8 hints (the request a hint click makes), medians from the
    same run, and the 8-hint colourisation in process (what the request costs besides transport and image encoding).
    Also the CLI's marginal time per image (decode, colourise, write the PNG): one process colourising 1 image
    against one colourising 5, and PNG writing at zlib level 6 (PIL's default) vs images.PNG_LEVEL."""
    import io
    import json
    import tempfile

    from gradio_client import handle_file
    from PIL import Image

    from unetlab import images
    from unetlab.loadtest import AppProcess, client

    jpeg = _jpeg_1024(side)
    hints = json.dumps(
        [
            {"x": int(x), "y": int(y), "color": c}
            for x, y, c in zip(range(60, side, 120), range(90, side, 110), ["#d04010", "#2060c0"] * 8)
        ][:8]
    )
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo.jpg"
        src.write_bytes(jpeg)
        # The guided U-Net's shape (untrained: the cost is the same), in a registry of its own, decoding as the shipped
        # model's card says (its fill and mix of heads)
        r = recipes.get("colorize-guided-skip")
        card = {"name": r.name, "task": r.task, "model": r.model, "config": r.config, "recipe": r.name, "metrics": {}}
        shipped = registry.Registry().entries.get(r.name)
        card |= {"decode": shipped.card["decode"]} if shipped and "decode" in shipped.card else {}
        card_path = registry.save(recipes.build_model(r), card, Path(tmp) / "weights")
        with AppProcess(port, Path(tmp) / "weights") as server:  # `python app.py` on that folder
            c = client(server.url)  # one SSL context, as a browser has
            for name, h in (("automatic", "[]"), ("8_hints", hints)):
                call = lambda h=h: c.predict(handle_file(str(src)), r.name, None, h, api_name="/colorize")  # noqa: E731
                call()
                out[f"api_{side}_{name}_ms"] = round(1000 * _median_time(call, repeats), 1)

        def cli(n: int) -> float:
            paths = []
            for i in range(n):
                paths.append(Path(tmp) / f"in{i}.jpg")
                paths[-1].write_bytes(jpeg)
            cmd = [sys.executable, "-m", "unetlab", "colorize", "--model", str(card_path), *map(str, paths)]
            t = time.perf_counter()
            subprocess.run([*cmd, "--out", str(Path(tmp) / "out")], check=True, capture_output=True)
            return time.perf_counter() - t

        # The same work in process (colourise with 8 hints: decode, model, recombination; no transport or encoding)
        from unetlab import colorize as C

        model, img = registry.load_path(card_path)[1], images.load_image(src)
        checked = C.make_hints([(h["x"], h["y"], C.parse_colour(h["color"])) for h in json.loads(hints)], side, side)
        decode = C.Decode.from_card(card)
        inproc = lambda: C.colorize(model, img, hints=checked, decode=decode)  # noqa: E731
        inproc()
        out[f"in_process_{side}_8_hints_ms"] = round(1000 * _median_time(inproc, repeats), 1)

        one, five = min(cli(1) for _ in range(2)), min(cli(5) for _ in range(2))
        out[f"cli_marginal_{side}_ms"] = round(1000 * (five - one) / 4, 1)
        img = images.load_image(src)

        def png(level: int) -> None:
            Image.fromarray(img).save(io.BytesIO(), format="PNG", compress_level=level)

        out["png_write_level6_ms"] = round(1000 * _median_time(lambda: png(6), 5), 1)
        out[f"png_write_level{images.PNG_LEVEL}_ms"] = round(1000 * _median_time(lambda: png(images.PNG_LEVEL), 5), 1)
    return out


def live_overhead(epochs: int = 4) -> dict:
    """What watching costs: the Live training tab's default job (U-Net with vs without skips on digits), timed per
    model-epoch from one streamed step to the next, including what the tab does with each step (grids enlarged and
    PNG-encoded as Gradio sends them, the plot's data); the tab's status line, a few lines of text, is left out: the
    library is measured, not the UI. The training share is the loop's own batch
    time (samples / images_per_s); the rest is overhead: the held-out pass (loss, PSNR, grid) and the display.
    first_grid_s: from the job's start to its first grid (epoch 0, the untrained models)."""
    import io
    import tempfile

    from PIL import Image

    from unetlab import images, live

    job = live.Job(epochs=epochs)
    samples = len(datasets.load(job.dataset))
    reg = registry.Registry(tempfile.mkdtemp())
    totals, trains, shows, speeds, first, seen = [], [], [], [], None, {}
    t = start = time.perf_counter()
    settings = Settings(train_threads=torch.get_num_threads())
    for step in live.train_job(job, reg, live.Stops(), settings=settings):
        t_show = time.perf_counter()
        for g in live.grids(step):
            Image.fromarray(images.enlarge(g, 3)).save(io.BytesIO(), format="PNG")
        step.curves()
        now = time.perf_counter()
        first = now - start if first is None else first
        new = [r for name, r in step.reports.items() if seen.get(name) is not r]
        seen = dict(step.reports)
        # one model's trained epoch from the second on: epoch 0 and the hand-off are not training, and a process's
        # first epoch also pays one-off set-up (the first optimizer imports torch._dynamo: about 2 s)
        if len(new) == 1 and new[0].epoch >= 2:
            totals.append(now - t)
            trains.append(samples / new[0].images_per_s)
            shows.append(now - t_show)
            speeds.append(new[0].images_per_s)
        t = now
    return {
        "model_epochs": len(totals),
        "epoch_s": round(statistics.median(totals), 2),
        "train_s": round(statistics.median(trains), 2),
        "overhead_share": round(1 - sum(trains) / sum(totals), 3),
        "display_share": round(sum(shows) / sum(totals), 3),
        "images_per_s": round(statistics.median(speeds), 1),
        "first_grid_s": round(first, 2),
    }


def diffusion_latency(
    reg: registry.Registry,
    samples: int = 8,
    steps: int = 50,
    repeats: int = 3,
    names: tuple[str, ...] = ("ddpm-eps", "ddpm-x0"),
) -> dict:
    """8 samples from each of the models (the tab's Denoise: every model, same noise): ddpm-eps and ddpm-x0, or
    the 28x28 MNIST pair, or the three latent models (their VAE's decode included); 50 DDIM steps, at the tab's
    default guidance 1 (one batch of 8 per model call): bf16 autocast + channels_last vs fp32, and fp32
    channels_last vs the default layout. Guidance 2 (classifier-free: a batch of 16) in both."""
    from unetlab import diffusion

    models = []
    for name in names:
        try:
            models.append(reg.load(name))
        except (KeyError, registry.WeightsError):  # same shape, untrained: same cost
            models.append(recipes.build_model(recipes.get(name)).to(memory_format=torch.channels_last).eval())
    out = {}
    for name, fast, memory_format in (
        ("bf16_channels_last", True, torch.channels_last),
        ("fp32_channels_last", False, torch.channels_last),
        ("fp32_contiguous", False, torch.contiguous_format),
    ):
        for m in models:
            m.to(memory_format=memory_format)

        def both(fast: bool = fast, guidance: float = 1.0) -> None:
            for m in models:
                labels = torch.arange(samples) % m.config.classes
                diffusion.final(m, labels, steps=steps, scheduler="ddim", guidance=guidance, fast=fast)

        both()
        out[f"{name}_s"] = round(_median_time(both, repeats), 3)
    for m in models:
        m.to(memory_format=torch.channels_last)
    out["guidance2_fp32_channels_last_s"] = round(_median_time(lambda: both(False, 2.0), repeats), 3)
    out["guidance2_bf16_channels_last_s"] = round(_median_time(lambda: both(True, 2.0), repeats), 3)
    out["speedup_bf16_vs_fp32"] = round(out["fp32_channels_last_s"] / out["bf16_channels_last_s"], 2)
    out["guidance2_speedup_bf16_vs_fp32"] = round(
        out["guidance2_fp32_channels_last_s"] / out["guidance2_bf16_channels_last_s"], 2
    )
    out["speedup_channels_last_vs_contiguous"] = round(out["fp32_contiguous_s"] / out["fp32_channels_last_s"], 2)
    return out


def measure(reg: registry.Registry) -> dict:
    """Every figure of `python -m unetlab bench`, with the shipped models of `reg`."""
    return {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "training": training_throughput(),
        "reconstruct": reconstruct_latency(reg),
        "cold_start": cold_start(),
        "memory": memory(),
        "colorize": colorize_latency(reg),
        "colorize_api": colorize_api(),
        "live": live_overhead(),
        "diffusion": diffusion_latency(reg),
        "diffusion_mnist": diffusion_latency(reg, names=("ddpm-mnist-eps", "ddpm-mnist-x0")),
        "ldm": diffusion_latency(reg, names=("ldm-eps", "ldm-x0", "ldm-v")),
    }


def format(results: dict) -> str:
    t, r, c, m = results["training"], results["reconstruct"], results["cold_start"], results["memory"]
    lv = results["live"]
    fast, fp32 = t["loop_bf16_channels_last"], t["loop_fp32"]
    return "\n".join(
        [
            f"machine: {results['machine']}",
            "training recon-skip (64x64 crops, batch 32, same steps from the same start):",
            f"  loop bf16 + channels_last {fast['images_per_s']} img/s, held-out {fast['heldout_psnr']} dB",
            f"  loop fp32                 {fp32['images_per_s']} img/s, held-out {fp32['heldout_psnr']} dB",
            f"  naive fp32 loop           {t['naive_fp32']['images_per_s']} img/s",
            f"  ratio vs naive {t['ratio_vs_naive']}x, vs the loop in fp32 {t['ratio_vs_loop_fp32']}x",
            "reconstruct latency (recon-skip): " + ", ".join(f"{k} {v}" for k, v in r.items()),
            f"cold start to a built app: {c['app_built_s']} s, {c['ratio']}x the {c['imports_only_s']} s that "
            "importing torch, gradio, sklearn and skimage alone takes",
            f"memory (RSS): app built {m['app_mb']} MB, with all {m['models']} models loaded "
            f"{m['all_models_loaded_mb']} MB",
            "colorize 1024x1024 JPEG end to end (decode -> L* -> model at 256x256 -> recombine), colorize-skip: "
            + ", ".join(f"{k} {v}" for k, v in results["colorize"].items()),
            "colorize through the API and the CLI (colorize-guided-skip's shape alone, 1024x1024 JPEG): "
            + ", ".join(f"{k} {v}" for k, v in results["colorize_api"].items()),
            f"live training (U-Net with vs without skips, digits): {lv['epoch_s']} s per model-epoch, of which "
            f"{lv['train_s']} s training; the held-out pass, grids, plot and status add {lv['overhead_share']:.1%} "
            f"(target <= 10 %; the display alone {lv['display_share']:.1%}); {lv['images_per_s']} img/s; "
            f"first grid after {lv['first_grid_s']} s",
            "diffusion: 8 samples from each of ddpm-eps and ddpm-x0, 50 DDIM steps, guidance 1 unless named: "
            + ", ".join(f"{k} {v}" for k, v in results["diffusion"].items()),
            "diffusion at 28x28: the same with ddpm-mnist-eps and ddpm-mnist-x0: "
            + ", ".join(f"{k} {v}" for k, v in results["diffusion_mnist"].items()),
            "miniature SD: 8 samples from each of ldm-eps, ldm-x0 and ldm-v, 50 DDIM steps, VAE decode included: "
            + ", ".join(f"{k} {v}" for k, v in results["ldm"].items()),
        ]
    )
