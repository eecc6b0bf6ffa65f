"""Links to a prepared view: the tab, projector mode and the tab's settings (models, sliders, seed) in the URL's query.

    http://host/?tab=diffusion&diffusion.guidance=2&diffusion.seed=7&projector=1

A lecturer sets a tab up, presses "Link to this view", and the link reopens that view: app.py selects the tab and
projector mode, and the tab's result on arrival (common.show_on_arrival) sets the linked controls and computes its
result for them. The link holds settings only, never an upload or a result: it reopens the same view on any server
with the same models. Every value is checked as an API argument is (a number in its slider's range, a choice in its
list); a value that fails is left out with a warning that names it, and the rest of the link still applies.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import gradio as gr

Controls = dict[str, gr.components.Component]  # a tab's shareable controls by their key in the link


def _choices(component) -> list:
    return [c[1] if isinstance(c, (tuple, list)) else c for c in (component.choices or [])]


def parse(component: gr.components.Component, text: str):
    """The value `text` (from a link) gives `component`, as the component holds it; ValueError says why not."""
    if isinstance(component, gr.Checkbox):
        if text.lower() in ("1", "true", "on", "yes"):
            return True
        if text.lower() in ("0", "false", "off", "no"):
            return False
        raise ValueError("must be 1 or 0")
    if isinstance(component, (gr.Dropdown, gr.Radio)):
        choices = _choices(component)
        by_text = {str(c): c for c in choices}
        if text not in by_text:
            raise ValueError(f"must be one of {', '.join(map(str, choices))}")
        return by_text[text]
    if isinstance(component, (gr.Slider, gr.Number)):
        try:
            v = float(text)
        except ValueError:
            raise ValueError("must be a number") from None
        lo, hi = component.minimum, component.maximum
        if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
            bounded = lo is not None and hi is not None
            raise ValueError(f"must be a number from {plain(lo)} to {plain(hi)}" if bounded else "must be finite")
        whole = isinstance(component, gr.Number) and component.precision == 0
        whole = whole or (isinstance(component, gr.Slider) and float(component.step).is_integer())
        if whole and not v.is_integer():
            raise ValueError("must be a whole number")
        return int(v) if whole else v
    raise ValueError("cannot be set by a link")


def plain(v: float) -> str:
    """A bound as people write it: 4294967295, 0.5 (not 4.29497e+09)."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def read(query: Mapping[str, str], tab: str, controls: Controls) -> tuple[dict, list[str]]:
    """The values a link's query sets for `tab`'s controls, where they differ from the controls' own (a link equal
    to the defaults is no link), and what was left out, one line each."""
    values, problems = {}, []
    for key, component in controls.items():
        text = query.get(f"{tab}.{key}")
        if text is None:
            continue
        try:
            v = parse(component, text)
        except ValueError as e:
            problems.append(f"{tab}.{key}={text[:40]!r} was left out: it {e}")
            continue
        if v != component.value:
            values[key] = v
    return values, problems


def share_js(tabs: dict[str, str], controls: dict[str, Controls]) -> str:
    """A browser-side function of (projector, *every tab's controls in order) that returns the link to the view
    shown (the selected tab's settings that differ from their defaults) and copies it to the clipboard.
    tabs: tab label -> its id in the link."""
    spec = [[tab, key, c.value] for tab, cs in controls.items() for key, c in cs.items()]
    return f"""
(projector, ...values) => {{
  const tabs = {json.dumps(tabs)}, spec = {json.dumps(spec)};
  const button = document.querySelector('#unetlab-tabs button[role="tab"][aria-selected="true"]');
  const tab = (button && tabs[button.textContent.trim()]) || Object.values(tabs)[0];
  const q = new URLSearchParams({{tab}});
  if (projector) q.set("projector", "1");
  spec.forEach(([t, key, start], i) => {{
    const v = values[i];
    if (t === tab && v !== null && v !== undefined && String(v) !== String(start)) q.set(`${{t}}.${{key}}`, String(v));
  }});
  const url = location.origin + location.pathname + "?" + q.toString();
  if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {{}});
  return url;
}}
"""
