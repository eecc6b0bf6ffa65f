"""The Diffusion tab's photo part: the miniature Stable Diffusion (ldm.py), its ε-, x0- and v-models denoising the
same latent noise side by side, each step's latent x_t and its x̂0 decoded by the VAE, and what the cards measured."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from unetlab import ldm
from unetlab.registry import Registry
from unetlab.ui.common import SEEDS, number, user_errors

ORDER = ("epsilon", "sample", "v_prediction")  # the panels, left to right
ROLES = {"epsilon": "ε-model", "sample": "x0-model", "v_prediction": "v-model"}
TRAIN = "python -m unetlab train --recipe ldm-vae, then --recipe ldm-eps, ldm-x0 and ldm-v"

ABOUT = """
### Photos: a miniature Stable Diffusion, ε vs x0 vs v from the same noise
Stable Diffusion's structure at miniature size, trained here on the corpus's photographs and textures:
**a VAE** (diffusers' `AutoencoderKL`, `ldm-vae`) compresses a 64×64 colour crop to a **16×16×4 latent**,
and **a U-Net** (`UNet2DConditionModel`, the prompt a class token: photo or texture) denoises that latent. The three
U-Nets differ only in what they predict: the noise ε, the clean latent x0, or v. Each panel shows the latent x_t
(top: its first three channels as colours, what the U-Net denoises) and x̂0 **decoded by the VAE** (bottom).
"""


def ordered(registry: Registry) -> list[str]:
    """The registered latent diffusion models, ε first, then x0, then v (the recipes' own before others)."""
    names = registry.names("ldm")

    def key(n: str):
        kind = registry.entry(n).config.get("prediction_type")
        return ORDER.index(kind) if kind in ORDER else len(ORDER), not n.startswith("ldm-"), n

    return sorted(names, key=key)[:3]


def role(registry: Registry, name: str) -> str:
    return ROLES.get(registry.entry(name).config.get("prediction_type"), "model")


def card_markdown(registry: Registry, names: list[str]) -> str:
    """What the cards measured: per class and step count, each model's samples against real held-out crops."""
    cards = {n: registry.entry(n).card.get("metrics", {}) for n in names}
    if not any(ldm.CLASSES[0] in m for m in cards.values()):
        return "The cards of these models hold no measurements yet."
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
    names0 = ordered(registry)
    gr.Markdown(ABOUT, elem_classes=["explain"])
    with gr.Row():
        label = gr.Radio(list(ldm.CLASSES), value=ldm.CLASSES[0], label="Class (the prompt)", elem_id="ldm-class")
        steps = gr.Slider(1, 200, value=50, step=1, label="DDIM steps", elem_id="ldm-steps")
        guidance = gr.Slider(0, 8, value=1.0, step=0.5, label="Guidance scale", elem_id="ldm-guidance")
        seed = gr.Number(0, precision=0, label="Seed", elem_id="ldm-seed")
        run = gr.Button("Denoise photos", variant="primary", elem_id="ldm-run")
    with gr.Row():
        panels = [
            gr.Image(label=f"{role(registry, n)} ({n})", format="png", interactive=False, elem_id=f"ldm-panel-{i}")
            for i, n in enumerate(names0)
        ] or [gr.Image(label="no latent diffusion model", interactive=False, elem_id="ldm-panel-0")]
    scrub = gr.Slider(1, 50, value=50, step=1, label="Step (scrub the timesteps)", elem_id="ldm-scrub")
    info = gr.Markdown(elem_id="ldm-info")
    bands = gr.LinePlot(
        x="step",
        x_axis_format="d",
        y="power (dB vs real crops)",
        color="series",
        title="Decoded x̂0's power per ring (0 dB = real held-out crops)",
        height=320,
        elem_id="ldm-bands",
    )
    gr.Markdown(card_markdown(registry, names0) if names0 else "", elem_id="ldm-figures")
    traj = gr.State(None)

    def show(t: ldm.LatentTrajectory, i: int):
        models = {n: registry.load(n, "ldm") for n in t.names}
        shown = [ldm.panel(t, models[n], n, i) for n in t.names]
        text = (
            f"Class {ldm.CLASSES[t.label]}, DDIM {t.settings['steps']} steps, guidance {t.settings['guidance']:g}, "
            f"seed {t.settings['seed']}. Step **{i + 1} / {len(t.timesteps)}**, denoised from t = {t.timesteps[i]}. "
            "Sampling took " + ", ".join(f"{k} {v:.2f} s" for k, v in t.seconds.items()) + "."
        )
        return *shown, *[gr.skip()] * (len(panels) - len(shown)), text

    @user_errors
    def denoise(cls, n_steps, scale, s, progress=gr.Progress()):
        """The three latent models on one class from the same noise; every step kept."""
        number(n_steps, "steps", 1, 200, whole=True)
        number(scale, "guidance scale", 0, 8)
        number(s or 0, "seed", *SEEDS, whole=True)
        if cls not in ldm.CLASSES:
            raise gr.Error(f"class must be one of {', '.join(ldm.CLASSES)}, got {cls!r}")
        names = ordered(registry)
        if not names:
            raise gr.Error(f"no latent diffusion model is registered; train them: {TRAIN}")
        models = {n: registry.load(n, "ldm") for n in names}
        t = ldm.side_by_side(
            models,
            ldm.CLASSES.index(cls),
            steps=int(n_steps),
            guidance=float(scale),
            seed=int(s or 0),
            on_step=lambda done, total: progress((done, total), desc="Denoising with every model"),
        )
        n = len(t.timesteps)
        spectrum = registry.entry(names[0]).card.get("metrics", {}).get(cls, {}).get("real_spectrum")
        curves = None
        if spectrum:
            curves = pd.DataFrame(ldm.band_curves(t, models, spectrum, {k: role(registry, k) for k in names}))
        return *show(t, n - 1), gr.update(maximum=n, value=n), curves, t

    outputs = [*panels, info, scrub, bands, traj]
    run.click(denoise, [label, steps, guidance, seed], outputs, api_name="ldm_denoise", concurrency_id="diffusion")

    @user_errors
    def scrub_to(t: ldm.LatentTrajectory | None, i: float):
        if t is None:
            return (gr.skip(),) * (len(panels) + 1)
        return show(t, min(int(i), len(t.timesteps)) - 1)

    scrub.change(
        scrub_to, [traj, scrub], [*panels, info], api_name=False, show_progress="hidden", trigger_mode="always_last"
    )
