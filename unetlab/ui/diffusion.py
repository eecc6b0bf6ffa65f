"""Diffusion tab: SD's U-Net class trained to predict the noise ε vs the clean image x0, denoising the same noise
side by side, step by step."""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from unetlab import diffusion, images, sd
from unetlab.registry import Registry
from unetlab.settings import Settings
from unetlab.ui.common import SEEDS, choose, number, show_on_arrival, user_errors

ZOOM = 8  # 16x16 digits: each pixel shown as an 8x8 block (exact)
PLAY_SECONDS = 4.0  # a Play of the whole schedule takes about this long, whatever the number of steps
# A changed setting re-runs at once when its run needs at most this many U-Net passes per model (passes()): 50
# passes took 2.2-2.6 s (both shipped models, 4 samples, one CPU thread), so about 3 s. DDPM's 1,000 steps (about
# 60-80 s) wait for Denoise.
AUTO_PASSES = 60
GRID_STEPS = 20  # the class grid's DDIM steps: 40 samples per model took about 10 s (one CPU thread)
ROLES = ("ε-model", "x0-model")  # the plots' series are named by role, not by model: the plots keep their colours

SHORT = """
Both models are the **same tiny `UNet2DConditionModel`** (Stable Diffusion's denoiser class: ResNet blocks,
cross-attention to a prompt, here 4 learned tokens per digit), trained on the same digits with the same
`DDPMScheduler`. One learned to predict the **noise ε** in x_t, the other the **clean image x0**. Both start from
**the same noise**. Each panel shows x_t (top row) and the scheduler's prediction of the clean image x̂0
(`pred_original_sample`, bottom row) at the step the slider picks.
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

**Classifier-free guidance** (Ho & Salimans 2022): during training 10 % of the prompts were the null token, so each
model also denoises without a class. At sampling, ε̂ = ε̂(null) + s · (ε̂(class) − ε̂(null)); s = 1 is plain
conditioning, s > 1 pushes towards the class, s = 0 ignores the class. On these tiny models s > 1 *hurts*: the
cards measure s = 1 and s = 2 (table above), and s = 4 pushes the predictions far outside the image range.

**DDPM vs DDIM**: DDPM (Ho et al. 2020) adds fresh noise at every step; DDIM (Song et al. 2021) with η = 0 is
deterministic, and η = 1 adds DDPM-like noise. Both use the models' own 1000-step training schedule, strided to
the steps you pick. Both models get the same noise at every step too.

**Honest limits**: 16×16 digits upsampled from 8×8 scans, 1,438 training images, about 40 CPU minutes per
model. The real thing (SD 1.5) is 860 M parameters denoising 64×64×4 latents of a VAE, with a CLIP text encoder
making the prompt tokens.
"""


LECTURE = """
- **Show first** the two panels at the last step: both models made a digit from the same noise. Then drag
  **Step** back to about 5: the ε-model's bottom row (its guess of the clean image, x̂0) is speckled noise, the
  x0-model's is a smooth blob.
- Press **▶ Play** and let the class watch the bottom rows: the ε-model's guess sharpens step by step, the
  x0-model's hardly changes its mind.
- Point at the **band plot**: the low-frequency ring reaches the real digits' level (0 dB) within a few steps,
  the high ring last. Denoising goes from coarse shapes to fine detail.
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


def same_settings(t: diffusion.Trajectory, digit, sched, n_steps, scale, s, e, eps_name, x0_name) -> bool:
    """Whether the controls hold the settings and models that made trajectory t."""
    try:
        now = dict(scheduler=sched, steps=int(n_steps), guidance=float(scale), eta=float(e), seed=int(s or 0))
    except (TypeError, ValueError):
        return False
    same = all(now[k] == t.settings.get(k) for k in now)
    return same and str(t.label) == str(digit) and t.names == [eps_name, x0_name]


def stale_note(t: diffusion.Trajectory, sched: str, n_steps: int, scale: float) -> str:
    """The note shown while the controls ask for a run too long to start on its own: which settings made the
    panels, and about how long the new run takes at the speed the panels' run measured."""
    per_pass = sum(t.seconds.values()) / passes(t.settings["steps"], t.settings["guidance"])
    seconds = per_pass * passes(n_steps, scale)
    return (
        f"These panels were made with {made_with(t)}. {sched.upper()} {n_steps} steps at guidance {scale:g} "
        f"takes about {seconds:.0f} s here: press **Denoise** to run it."
    )


def card_markdown(table: diffusion.CardTable) -> str:
    """The cards' sample metrics as a table: accuracy and HF ratio per guidance scale, one row per model."""
    if not table.scales:
        return "The cards of these models hold no sample metrics (train them with `python -m unetlab train`)."
    head = "| model | predicts |" + "".join(f" accuracy, guidance {g} | HF ratio, guidance {g} |" for g in table.scales)
    lines = [head, "|---|---|" + "---:|---:|" * len(table.scales)]
    for m in table.models:
        row = f"| {m.name} | {'noise ε' if m.prediction_type == 'epsilon' else 'clean x0'} |"
        for g in table.scales:
            measured = g in m.accuracy
            row += f" {m.accuracy[g]:.1%} | {m.hf_ratio[g]:.3f} |" if measured else " not measured | not measured |"
        lines.append(row)
    s = table.sampler
    lines.append(
        f"\nFrom the cards: {s['per_class']} samples per digit, {s['scheduler'].upper()} "
        f"{s['steps']} steps, judged by a classifier trained on real digits. HF ratio = the samples' share of "
        "power above half the Nyquist frequency over real digits' share: 1 = as much fine detail as real digits, "
        "below 1 = blurrier, above 1 = more speckle."
    )
    return "\n".join(lines)


def grid_markdown(report: diffusion.GridReport) -> str:
    """What the classifier and the spectrum say about each model's class grid."""
    lines = []
    for f in report.figures:
        line = f"**{f.name}**: HF energy ratio {f.hf_ratio:.3f}"
        if f.accuracy is not None:
            line += f", the classifier reads the asked digit in {f.accuracy:.0%} of these {f.samples} samples"
        lines.append(line)
    return "\n\n".join(lines)


def build(registry: Registry, demo: gr.Blocks, settings: Settings = Settings()) -> dict[str, gr.components.Component]:
    """The tab's layout and events. demo: the app, whose page load shows the opening settings' run; settings.sd_path:
    the one Stable Diffusion folder the server may load. Returns the controls a link to the view sets."""
    eps_names, x0_names = (
        diffusion.models_predicting(registry, "epsilon"),
        diffusion.models_predicting(registry, "sample"),
    )
    eps0, x00 = choose(eps_names, "ddpm-eps"), choose(x0_names, "ddpm-x0")

    gr.Markdown("## Diffusion: predict the noise ε or the clean image x0? The same noise, side by side")
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
        eps_model = gr.Dropdown(eps_names, value=eps0, label="ε-prediction model", elem_id="diff-eps-model")
        x0_model = gr.Dropdown(x0_names, value=x00, label="x0-prediction model", elem_id="diff-x0-model")
        run = gr.Button("Denoise", variant="primary", elem_id="diff-run")
    stale = gr.Markdown(elem_id="diff-stale")  # set while the controls ask for a long run that has not been started
    with gr.Row():
        eps_panel = gr.Image(
            label="ε-model: x_t (top), x̂0 (bottom)",
            format="png",
            interactive=False,
            elem_id="diff-eps",
            elem_classes=["key-image"],
        )
        x0_panel = gr.Image(
            label="x0-model: x_t (top), x̂0 (bottom)",
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
            title="x̂0's power per frequency ring over the steps (0 dB = real digits): low first, high last",
            height=320,
            elem_id="diff-bands",
        )
        spectrum = gr.LinePlot(
            x="frequency",
            y="log10 power",
            color="series",
            title="Radial power spectrum at the scrubbed step",
            height=320,
            elem_id="diff-spectrum",
        )
    figures = gr.Markdown(
        card_markdown(diffusion.card_figures({n: registry.entry(n).card for n in (eps0, x00) if n})),
        elem_id="diff-figures",
    )
    with gr.Group():
        gr.Markdown("### Samples of every digit (row = digit), both models from the same noise")
        with gr.Row():
            per_class = gr.Slider(1, 8, value=4, step=1, label="Samples per digit")
            grid_btn = gr.Button(f"Sample every digit (DDIM {GRID_STEPS} steps)", elem_id="diff-grid-run")
        with gr.Row():
            grid_eps = gr.Image(label="ε-model", format="png", interactive=False, elem_id="diff-grid-eps")
            grid_x0 = gr.Image(label="x0-model", format="png", interactive=False, elem_id="diff-grid-x0")
        grid_note = gr.Markdown(elem_id="diff-grid-note")
    with gr.Accordion("More: why Stable Diffusion predicts the noise, guidance, DDPM vs DDIM", open=False):
        gr.Markdown(MORE, elem_classes=["explain"])
    with gr.Accordion("Your own Stable Diffusion folder (optional, offline)", open=False):
        gr.Markdown(sd.NOTE)
        with gr.Row():
            sd_path = gr.Textbox(
                settings.sd_path, label="Local diffusers SD folder (UNETLAB_SD_PATH)", interactive=False
            )
            sd_steps = gr.Slider(1, 50, value=10, step=1, label="Steps")
            sd_run = gr.Button("Denoise with it", elem_id="diff-sd-run")
        sd_strip = gr.Image(label="x_t (top) and x̂0 (bottom) per step", format="png", interactive=False)
        sd_info = gr.Markdown()

    traj = gr.State(None)

    def models(eps_name: str | None, x0_name: str | None) -> dict:
        if not eps_name or not x0_name:
            raise gr.Error(
                "both models are needed; train them: python -m unetlab train --recipe ddpm-eps (and ddpm-x0)"
            )
        return {eps_name: registry.load(eps_name), x0_name: registry.load(x0_name)}

    def show(t: diffusion.Trajectory, i: int):
        """Both panels and the spectrum at step i (0-based)."""
        names = t.names
        real = diffusion.real_digits()
        n = len(t.timesteps)
        text = (
            f"Made with {made_with(t)}. Step **{i + 1} / {n}**, denoised from t = {t.timesteps[i]} (of 1000). "
            "Sampling took " + ", ".join(f"{k} {v:.2f} s" for k, v in t.seconds.items()) + "."
        )
        return (
            diffusion.panel(t, names[0], i, ZOOM),
            diffusion.panel(t, names[1], i, ZOOM),
            text,
            pd.DataFrame(diffusion.spectrum_rows(t, i, real, dict(zip(names, ROLES)))),
        )

    @user_errors
    def denoise(digit, sched, n_steps, scale, s, e, eps_name, x0_name, progress=gr.Progress()):
        """Denoise one digit with the eps- and the x0-model from the same noise; every step's x_t and x0 estimate."""
        number(n_steps, "steps", 1, 1000, whole=True)
        number(scale, "guidance scale", 0, 8)
        number(s or 0, "seed", *SEEDS, whole=True)
        number(e, "η", 0, 1)
        if digit is None or str(digit) not in [str(d) for d in range(10)]:
            raise gr.Error("pick a class: a digit 0-9")
        t = diffusion.side_by_side(
            models(eps_name, x0_name),
            int(digit),
            steps=int(n_steps),
            scheduler=sched,
            guidance=float(scale),
            eta=float(e),
            seed=int(s or 0),
            on_step=lambda done, total: progress((done, total), desc="Denoising with both models"),
        )
        n = len(t.timesteps)
        p_eps, p_x0, text, spec = show(t, n - 1)
        band_df = pd.DataFrame(diffusion.band_curves(t, diffusion.real_digits(), dict(zip(t.names, ROLES))))
        run_hf = ", ".join(f"{k} {v:.3f}" for k, v in t.hf_ratios.items())
        cards = card_markdown(diffusion.card_figures({k: registry.entry(k).card for k in t.names}))
        note = f"{cards}\n\nThis run's {t.x_t[t.names[0]].shape[1]} final samples, HF energy ratio: {run_hf}."
        return p_eps, p_x0, gr.update(maximum=n, value=n), text, band_df, spec, note, t

    outputs = [eps_panel, x0_panel, scrub, info, bands, spectrum, figures, traj]
    inputs = [label, scheduler, steps, guidance, seed, eta, eps_model, x0_model]
    queue = dict(concurrency_id="diffusion", concurrency_limit=2)  # Denoise and the re-runs: at most 2 at once
    run_event = run.click(denoise, inputs, outputs, api_name="denoise", **queue)

    controls = {"class": label, "scheduler": scheduler, "steps": steps, "guidance": guidance, "eta": eta}
    controls |= {"seed": seed, "eps": eps_model, "x0": x0_model, "per_class": per_class}

    def example_denoised(**values):
        """The run of the view's settings (nothing if a model is missing: Denoise then says why)."""
        try:
            return denoise(
                *(values[k] for k in ("class", "scheduler", "steps", "guidance", "seed", "eta", "eps", "x0"))
            )
        except gr.Error as e:
            return None, None, gr.skip(), str(e), None, None, gr.skip(), None

    show_on_arrival(demo, example_denoised, outputs, "diffusion", controls)

    @user_errors
    def scrub_to(t: diffusion.Trajectory | None, i: float):
        if t is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return show(t, min(int(i), len(t.timesteps)) - 1)

    scrub.change(
        scrub_to,
        [traj, scrub],
        [eps_panel, x0_panel, info, spectrum],
        api_name=False,
        show_progress="hidden",
        trigger_mode="always_last",
    )

    def play_steps(t: diffusion.Trajectory | None):
        """Stream the stored steps from the first to the last, moving the scrubber along."""
        if t is None:
            raise gr.Error("press Denoise first")
        n = len(t.timesteps)
        stride = max(1, n // 50)  # at most about 50 frames
        for i in [*range(0, n, stride), n - 1] if (n - 1) % stride else range(0, n, stride):
            p_eps, p_x0, text, _ = show(t, i)
            yield p_eps, p_x0, text, gr.update(value=i + 1)
            time.sleep(PLAY_SECONDS / min(n, 50))

    def rerun(
        t: diffusion.Trajectory | None, digit, sched, n_steps, scale, s, e, eps_name, x0_name, progress=gr.Progress()
    ):
        """A setting or a model changed: run the new settings at once where that is cheap (at most AUTO_PASSES);
        else keep the panels, and a note says which settings made them (in its own line, which the scrubber and
        Play leave alone)."""
        if t is not None and same_settings(t, digit, sched, n_steps, scale, s, e, eps_name, x0_name):
            return *(gr.skip(),) * len(outputs), ""
        try:
            cheap = passes(int(n_steps), float(scale)) <= AUTO_PASSES
        except (TypeError, ValueError):
            cheap = True  # denoise names the bad value
        if cheap:
            return *denoise(digit, sched, n_steps, scale, s, e, eps_name, x0_name, progress), ""
        if t is None:
            return *(gr.skip(),) * len(outputs), gr.skip()
        return *(gr.skip(),) * len(outputs), stale_note(t, sched, int(n_steps), float(scale))

    changes = [c.change for c in inputs]
    gr.on(changes, rerun, [traj, *inputs], [*outputs, stale], api_name=False, trigger_mode="always_last", **queue)
    # after Denoise: clears the note, or runs (or notes) settings changed while it ran, as it ran the click's
    run_event.success(rerun, [traj, *inputs], [*outputs, stale], api_name=False, **queue)

    play_event = play.click(play_steps, traj, [eps_panel, x0_panel, info, scrub], api_name=False)
    stop.click(None, None, None, cancels=[play_event], api_name=False)

    @user_errors
    def sample_grid(n: float, scale, s, eps_name, x0_name, progress=gr.Progress()):
        """Sample every class with both models; the digits classifier's accuracy and high-frequency energy."""
        number(n, "samples per digit", 1, 8, whole=True)
        number(scale, "guidance scale", 0, 8)
        number(s or 0, "seed", *SEEDS, whole=True)
        report = diffusion.grid_report(
            models(eps_name, x0_name),
            diffusion.judge(registry),
            int(n),
            steps=GRID_STEPS,
            scheduler="ddim",
            guidance=float(scale),
            seed=int(s or 0),
            on_step=lambda done, total: progress((done, total), desc="Sampling every digit with both models"),
        )
        g_eps, g_x0 = report.grids
        settings = f"DDIM {GRID_STEPS} steps, guidance {float(scale):g}, seed {int(s or 0)}, {eps_name} vs {x0_name}"
        text = f"Made with {int(n)} samples per digit, {settings}.\n\n{grid_markdown(report)}"
        return images.enlarge(g_eps, 6), images.enlarge(g_x0, 6), text

    grid_btn.click(
        sample_grid, [per_class, guidance, seed, eps_model, x0_model], [grid_eps, grid_x0, grid_note], api_name="grid"
    )

    @user_errors
    def run_sd(path: str, n_steps: float, sched: str, s):
        """Denoise with a local Stable Diffusion folder (offline): its eps-prediction steps and x0 previews."""
        number(n_steps, "steps", 1, 50, whole=True)
        number(s or 0, "seed", *SEEDS, whole=True)
        strip, text = sd.denoise_folder(
            sd.configured(path, settings.sd_path), steps=int(n_steps), scheduler=sched, seed=int(s or 0)
        )
        return strip, text

    sd_run.click(run_sd, [sd_path, sd_steps, scheduler, seed], [sd_strip, sd_info], api_name="sd_denoise")

    def refresh(kind: str):
        """Models registered since the page loaded appear when the list opens."""
        return gr.update(choices=diffusion.models_predicting(registry, kind))

    eps_model.focus(lambda: refresh("epsilon"), None, eps_model, api_name=False)
    x0_model.focus(lambda: refresh("sample"), None, x0_model, api_name=False)
    return controls
