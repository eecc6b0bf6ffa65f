"""The Diffusion tab's optional accordion: the server's local Stable Diffusion folder (UNETLAB_SD_PATH) denoising one
latent step by step, following a prompt where the folder and the optional transformers package allow it."""

from __future__ import annotations

import gradio as gr

from unetlab import sd
from unetlab.settings import Settings
from unetlab.ui.common import SEEDS, number, user_errors

PROMPT = "a watercolour painting of a lighthouse at dusk"
MAX_PROMPT = 1000  # characters: CLIP reads the first 77 tokens of them
GUIDANCE = (0, 20)  # the slider's range; SD's pipelines default to 7.5


def about_markdown(info: sd.FolderInfo) -> str:
    """The folder's prediction_type and what it means; whether it follows a prompt here, and if not, how to."""
    kind = f"**prediction_type = `{info.prediction_type}`**: the U-Net predicts {sd.PREDICTS[info.prediction_type]}."
    if info.no_prompt:
        return f"{kind}\n\n**No prompt**: {info.no_prompt}, so the U-Net gets an all-zero prompt. {sd.ENABLE}"
    return (
        f"{kind}\n\n**Prompts on**: CLIP's text encoder embeds your prompt and the empty one, and classifier-free "
        "guidance mixes the U-Net's two predictions: unconditional + g × (conditional − unconditional)."
    )


def folder_markdown(server_path: str) -> str:
    """What the accordion says about the server's folder before any run (it reads configs only, loads no model)."""
    try:
        return about_markdown(sd.describe(sd.configured("", server_path)))
    except ValueError as e:
        return str(e)


def result_markdown(r: sd.Denoised) -> str:
    """A run's settings and timings, and what its prompt did."""
    passes = ", two predictions per step (guidance)" if r.prompt is not None else ""
    lines = [
        f"{r.steps} {r.scheduler.upper()} steps of a {r.side}×{r.side}×{r.channels} latent on {r.device} in "
        f"{r.seconds:.1f} s: the U-Net took {r.unet_seconds / r.steps:.2f} s per step{passes}; "
        f"{'decoded by the folder VAE' if r.info.vae else 'no vae/: the first latent channels are shown'}."
    ]
    if r.side < r.full_side:
        lines.append(
            f"On a CPU the latent is {r.side}×{r.side}, not the folder's full {r.full_side}×{r.full_side}; "
            "on a GPU it runs at full size."
        )
    if r.prompt is None:
        lines.append(f"All-zero prompt: {r.info.no_prompt}. {sd.ENABLE}")
    else:
        cut = " (cut to CLIP's 77 tokens)" if r.truncated else ""
        lines.append(f"Prompt {r.prompt!r}{cut}, guidance {r.guidance:g}.")
    lines.append(
        f"prediction_type = `{r.info.prediction_type}`: the U-Net predicts {sd.PREDICTS[r.info.prediction_type]}."
    )
    return "\n\n".join(lines)


def build(settings: Settings, scheduler: gr.Radio, seed: gr.Number) -> None:
    """The accordion and its /sd_denoise endpoint. settings.sd_path: the one folder the server may load; scheduler
    and seed: the Diffusion tab's controls, shared."""
    with gr.Accordion("Your own Stable Diffusion folder (optional, offline)", open=False):
        gr.Markdown(sd.NOTE)
        gr.Markdown(folder_markdown(settings.sd_path), elem_id="diff-sd-about")
        with gr.Row():
            path = gr.Textbox(settings.sd_path, label="Local diffusers SD folder (UNETLAB_SD_PATH)", interactive=False)
            steps = gr.Slider(1, 50, value=10, step=1, label="Steps")
        with gr.Row():
            prompt = gr.Textbox(PROMPT, label="Prompt", max_length=MAX_PROMPT, scale=3, elem_id="diff-sd-prompt")
            guidance = gr.Slider(
                *GUIDANCE, value=7.5, step=0.5, label="Guidance scale (prompt)", elem_id="diff-sd-guidance"
            )
            run = gr.Button("Denoise with it", elem_id="diff-sd-run")
        strip = gr.Image(label="x_t (top) and x̂0 (bottom) per step", format="png", interactive=False)
        info = gr.Markdown(elem_id="diff-sd-info")

    @user_errors
    def run_sd(folder: str, n_steps: float, sched: str, s, text: str, scale: float, progress=gr.Progress()):
        """Denoise with the server's local Stable Diffusion folder (offline), following the prompt where it can: its
        prediction steps and x̂0 previews."""
        number(n_steps, "steps", 1, 50, whole=True)
        number(s or 0, "seed", *SEEDS, whole=True)
        number(scale, "guidance scale", *GUIDANCE)
        if not isinstance(text, str) or len(text) > MAX_PROMPT:
            raise gr.Error(f"the prompt must be text of at most {MAX_PROMPT} characters")
        r = sd.denoise_folder(
            sd.configured(folder, settings.sd_path),
            steps=int(n_steps),
            scheduler=sched,
            seed=int(s or 0),
            prompt=text,
            guidance=float(scale),
            on_step=lambda done, total: progress((done, total), desc="Stable Diffusion's U-Net"),
        )
        return r.strip, result_markdown(r)

    run.click(run_sd, [path, steps, scheduler, seed, prompt, guidance], [strip, info], api_name="sd_denoise")
