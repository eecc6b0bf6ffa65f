"""The page around the tabs: its style sheet and script (small images drawn with crisp pixels, image panels that keep
their size, projector mode) and the projector toggle. app.launch passes CSS and HEAD to Gradio.

Projector mode is for a lecture hall: larger text, the explanations folded away (every tab marks them with
elem_classes=["explain"]), and the tab's key comparison sized so that it fits a 1280x720 screen (its image panels
have elem_classes=["key-image"], an upload ["key-input"]). It is a class on the page's <body>, set by the toggle
or a link's ?projector=1 (ui/links.py).
"""

from __future__ import annotations

import gradio as gr

PROJECTOR_CLASS = "unetlab-projector"

CSS = f"""
/* An image panel keeps its size whatever the image's: a 16x16 upload fills it (drawn crisp, see HEAD), instead of
   shrinking the panel to a 16-px strip under its label. */
.gradio-container .image-container img {{ object-fit: contain; }}
.gradio-container img.unetlab-crisp {{ image-rendering: pixelated; }}
/* Headings inside a group (no padding of its own) sit off its edge, like every other block's text. */
.gradio-container .gr-group .hide-container .prose {{ padding: 6px 10px 0; }}

/* Projector mode: larger text, explanations folded away, the key comparison above the fold. */
body.{PROJECTOR_CLASS} .gradio-container {{
  --text-xs: 13px; --text-sm: 15px; --text-md: 18px; --text-lg: 21px; --text-xl: 24px; --text-xxl: 28px;
  --block-label-text-size: 15px; --block-title-text-size: 16px; --block-info-text-size: 15px;
  --input-text-size: 17px; --button-large-text-size: 20px;
}}
body.{PROJECTOR_CLASS} .gradio-container .explain,
body.{PROJECTOR_CLASS} .gradio-container #unetlab-intro,
body.{PROJECTOR_CLASS} .gradio-container #unetlab-title {{ display: none !important; }}
body.{PROJECTOR_CLASS} .gradio-container .key-image {{ height: 175px !important; }}
body.{PROJECTOR_CLASS} .gradio-container .key-input {{ height: 220px !important; }}
body.{PROJECTOR_CLASS} .gradio-container .prose h1 {{ font-size: 22px; margin: 0; }}
body.{PROJECTOR_CLASS} .gradio-container .prose h2 {{ font-size: 21px; margin: 0; }}
body.{PROJECTOR_CLASS} .gradio-container .prose :is(td, th) {{ padding: 3px 10px; }}
"""

# Images shown at more than 1.2x their size (digits, small uploads) are drawn with nearest-neighbour pixels, exact and
# sharp; larger ones smoothly. Decided as each image loads (load events do not bubble: listen in the capture phase).
HEAD = """
<script>
document.addEventListener("load", (event) => {
  const img = event.target;
  if (!(img instanceof HTMLImageElement) || !img.naturalWidth) return;
  const scale = Math.min(img.clientWidth / img.naturalWidth, img.clientHeight / img.naturalHeight);
  img.classList.toggle("unetlab-crisp", scale > 1.2);
}, true);
</script>
"""

TOGGLE_JS = f"(on) => {{ document.body.classList.toggle('{PROJECTOR_CLASS}', on === true); return on; }}"


def projector_toggle() -> gr.Checkbox:
    """The projector-mode switch; it changes the page's look in the browser only (nothing runs on the server)."""
    box = gr.Checkbox(
        False,
        label="Projector mode",  # larger text, explanations folded away, the key comparison on one 1280x720 screen
        scale=0,
        min_width=180,
        elem_id="unetlab-projector",
        container=False,
    )
    box.change(None, box, None, js=TOGGLE_JS, api_name=False)
    return box
