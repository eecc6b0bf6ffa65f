"""How the server admits work on uploaded images: against the memory budget, in one pool sized to the cores.

`install(demo)` finds every event whose inputs include an upload with a memory cost (`common.heldout_photo_input`'s
`memory`: the Reconstruction and Colorize tabs, every event of theirs that takes the photo) and

1. with `pooled` (settings.image_pool; off by default: measured slower, see below), puts them in one concurrency
   group of as many events as there are cores: Gradio runs at most that many at once, however
   many events and users there are (its default is 4 per event, and the Colorize tab alone has eight);
2. with `pooled` too, runs each on one torch thread: with torch's default (every core) per request,
   concurrent requests oversubscribe the cores (`python -m unetlab load --pool` measures the two together);
3. wraps `demo.process_api`: before such an event's upload is decoded, reads its size from the file's header and
   reserves the tab's estimate from the server's budget (app.py builds it from the settings), waiting in line
   off the event loop; the bytes are given back once the outputs are encoded into Gradio's cache, however the
   event ends. A refusal is a gr.Error that says what to do. So the decoded upload, the work and the encoded
   results are all inside the budget.
"""

from __future__ import annotations

import functools
import inspect

import anyio
import gradio as gr
from gradio import utils as gr_utils
from PIL import Image

from unetlab import budget, hardware
from unetlab.live import torch_threads

# A pool of the cores with one torch thread per request measured slower than Gradio's own defaults under the load
# benchmark (0.64-0.65 against 0.81-0.85 requests/s in paired runs, 20 clients and a training job on 2 cores), so
# it is off by default (UNETLAB_IMAGE_POOL): Gradio's 4 per event and torch's threads. `python -m unetlab load --pool`
# measures it.
GROUP = "images"  # their concurrency_id
_WAITING = anyio.CapacityLimiter(1000)  # threads that wait for the budget (not Gradio's 40 worker threads)


def _size(payload, trusted: bool, limit: int) -> tuple[int, int]:
    """(width, height) of an uploaded image from its header; (0, 0) if there is none, it is not an image, it is over
    the upload limit, or the file is not one Gradio accepted as an upload (preprocessing refuses those anyway)."""
    path = payload.get("path") if isinstance(payload, dict) else None
    if not path or not (trusted or gr_utils.is_in_or_equal(path, gr_utils.get_upload_folder())):
        return 0, 0
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception:  # not an image: refused when it is decoded, with its own message
        return 0, 0
    return (w, h) if w * h <= limit else (0, 0)


def _admit(
    costs: list[tuple[int, budget.Cost, int]], inputs: list, trusted: bool, memory: budget.Budget, held: list[int]
) -> None:
    """Reserve the event's estimate, waiting in line; what was reserved goes into `held`, to be given back."""
    nbytes, largest = 0, (0, 0, None)
    for index, cost, limit in costs:
        w, h = _size(inputs[index], trusted, limit) if index < len(inputs) else (0, 0)
        nbytes += cost(w * h) if w * h else 0
        largest = max(largest, (w, h, cost), key=lambda whc: whc[0] * whc[1])
    w, h, cost = largest
    if nbytes:
        fits = cost.max_pixels(memory.total)
        advice = f"Downscale it to at most {fits // 100_000 / 10:g} Mpx." if fits >= 100_000 else ""
        memory.acquire(nbytes, f"{cost.work} this {w}x{h} image ({w * h / 1e6:.1f} Mpx)", advice)
        held.append(nbytes)


def _on_threads(fn, n: int):
    """fn run on n torch threads (the setting is per thread, and restored: Gradio reuses its worker threads)."""

    @functools.wraps(fn)  # Gradio reads the signature (and the API its docstring) through __wrapped__
    def run(*args, **kwargs):
        with torch_threads(n):
            return fn(*args, **kwargs)

    return run


def install(demo: gr.Blocks, memory: budget.Budget, pooled: bool = False) -> None:
    """Admit demo's image events against `memory` (the server's one budget); pooled: as many at once as there are
    cores, across all users and events, on one torch thread each (else Gradio's default concurrency and torch's
    default threads, the load benchmark's baseline). Call it after the tabs are built and before demo.queue()."""
    pool, threads = (hardware.cores(), 1) if pooled else (None, None)
    costs: dict[int, list[tuple[int, budget.Cost, int]]] = {}
    for block_fn in demo.fns.values():
        found = [(i, b.memory, b.max_pixels) for i, b in enumerate(block_fn.inputs) if getattr(b, "memory", None)]
        if not found:
            continue
        costs[id(block_fn)] = found
        if pool:
            block_fn.concurrency_id, block_fn.concurrency_limit = GROUP, pool
        plain = not (inspect.isgeneratorfunction(block_fn.fn) or inspect.iscoroutinefunction(block_fn.fn))
        if threads and plain and block_fn.fn is not None:
            block_fn.fn = _on_threads(block_fn.fn, threads)
    original = demo.process_api
    signature = inspect.signature(original)

    @functools.wraps(original)
    async def process_api(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        block_fn = call.arguments["block_fn"]
        block_fn = demo.fns[block_fn] if isinstance(block_fn, int) else block_fn
        found = costs.get(id(block_fn))
        if not found or call.arguments.get("iterator") is not None:
            return await original(*args, **kwargs)
        trusted = call.arguments.get("explicit_call", False)  # a call from this process's own code
        held: list[int] = []
        try:
            try:  # in a thread: the wait must not block the event loop (nor take one of Gradio's worker threads)
                await anyio.to_thread.run_sync(
                    _admit, found, list(call.arguments["inputs"]), trusted, memory, held, limiter=_WAITING
                )
            except budget.BudgetError as e:
                raise gr.Error(str(e)) from None
            return await original(*args, **kwargs)
        finally:  # a cancelled event too: the thread finishes its acquire before the cancellation is delivered
            for nbytes in held:
                memory.release(nbytes)

    demo.process_api = process_api
