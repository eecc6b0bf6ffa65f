"""Links to a view: what a link's query may set, checked as an API argument is."""

import gradio as gr
import pytest

from unetlab.ui import links


def controls() -> links.Controls:
    with gr.Blocks():
        return {
            "model": gr.Dropdown(["a", "b"], value="a"),
            "label": gr.Dropdown([("digit 3", "3"), ("digit 4", "4")], value="3"),
            "method": gr.Radio(["linear", "spherical"], value="linear"),
            "steps": gr.Slider(1, 1000, value=50, step=1),
            "guidance": gr.Slider(0, 8, value=1.0, step=0.5),
            "seed": gr.Number(0, precision=0, minimum=0, maximum=2**32 - 1),
            "on": gr.Checkbox(False),
        }


def test_a_link_sets_what_differs_from_the_defaults_as_the_components_hold_it():
    query = {"t.model": "b", "t.label": "4", "t.steps": "200", "t.guidance": "2.5", "t.seed": "7", "t.on": "1"}
    values, problems = links.read(query | {"t.method": "linear", "other.model": "b"}, "t", controls())
    assert values == {"model": "b", "label": "4", "steps": 200, "guidance": 2.5, "seed": 7, "on": True}
    assert isinstance(values["steps"], int) and isinstance(values["guidance"], float)
    assert problems == []  # method equals its default: no link value; other tabs' keys are not this tab's


@pytest.mark.parametrize(
    "key,text,why",
    [
        ("model", "c", "must be one of a, b"),
        ("label", "digit 3", "must be one of 3, 4"),  # the value, not the label a person reads
        ("steps", "0", "from 1 to 1000"),
        ("steps", "2.5", "whole number"),
        ("guidance", "nan", "from 0 to 8"),
        ("guidance", "inf", "from 0 to 8"),
        ("guidance", "two", "must be a number"),
        ("seed", "-1", "from 0 to 4294967295"),
        ("on", "maybe", "must be 1 or 0"),
    ],
)
def test_a_wrong_value_is_left_out_and_named(key, text, why):
    values, problems = links.read({f"t.{key}": text, "t.method": "spherical"}, "t", controls())
    assert values == {"method": "spherical"}  # the rest of the link still applies
    assert len(problems) == 1 and problems[0].startswith(f"t.{key}=") and why in problems[0]


def test_the_share_script_names_every_control_with_its_default():
    cs = controls()
    js = links.share_js({"Tab": "t"}, {"t": cs})
    assert '["t", "steps", 50]' in js and '["t", "guidance", 1.0]' in js and '{"Tab": "t"}' in js
