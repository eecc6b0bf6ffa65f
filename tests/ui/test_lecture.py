"""What every tab gives a lecturer, on the built app (the browser side: tests/browser/test_lecture_browser.py)."""

import gradio as gr

import app
from unetlab import registry
from unetlab.settings import Settings


def descendants(block) -> list:
    out = []
    for child in getattr(block, "children", []):
        out += [child, *descendants(child)]
    return out


def test_every_tab_has_a_folded_lecture_note_and_folds_its_explanations_in_projector_mode():
    demo = app.build_app(registry.Registry(Settings().weights))
    tabs = [b for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert [t.label for t in tabs] == ["Reconstruction", "Colorize", "Latent", "Lab", "Diffusion", "Live training"]
    for tab in tabs:
        inside = descendants(tab)
        notes = [b for b in inside if isinstance(b, gr.Accordion) and b.label == "How to use this tab in a lecture"]
        assert len(notes) == 1 and notes[0].open is False, tab.label
        lines = [c.value for c in descendants(notes[0]) if isinstance(c, gr.Markdown)][0].strip().splitlines()
        assert 3 <= sum(line.startswith("- ") for line in lines) <= 6, tab.label  # a few bullets, not an essay
        folded = [b for b in inside if "explain" in (b.elem_classes or [])]
        assert notes[0] in folded, tab.label  # projector mode hides the note and the explanations
