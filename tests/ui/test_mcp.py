"""The MCP server option (gradio[mcp]): every tab's endpoint is listed as a described tool."""

import json
import urllib.request

import app
from unetlab import registry


def test_mcp_schema_lists_every_tab(weights_dir):
    demo = app.build_app(registry.Registry(weights_dir))
    app.launch(demo, server_port=7899, prevent_thread_lock=True, quiet=True, mcp_server=True)
    try:
        with urllib.request.urlopen("http://127.0.0.1:7899/gradio_api/mcp/schema", timeout=30) as r:
            tools = {t["name"]: t for t in json.load(r)}
    finally:
        demo.close()
    assert {"reconstruct", "run_colorize", "interpolate", "vae_sample", "denoise", "train", "ask_stop"} <= set(tools)
    assert [n for n, t in tools.items() if not t["description"].strip()] == []  # each tool says what it does
    assert "img" in tools["reconstruct"]["inputSchema"]["properties"]
