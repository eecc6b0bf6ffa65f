"""Whether bf16 autocast pays on this machine, and how many cores it has.

On a CPU with AVX-512-bf16 or AMX, bf16 autocast trains and runs the U-Nets about 2x faster than fp32
(`python -m unetlab bench`). Without them PyTorch emulates bf16, and the same training step measured 8x
*slower* than fp32 (2.8 against 22 img/s for recon-skip on one AVX2 core). So "fast" means bf16 only where
the instructions exist; elsewhere it runs in fp32, which there is the fast choice.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import torch


@functools.cache
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    return frozenset(line.partition(":")[2].split())


def bf16_pays(device: str | torch.device = "cpu") -> bool:
    """True where bf16 autocast is native: a CUDA device with bf16, or a CPU with AVX-512-bf16 / AMX-bf16."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_bf16_supported()
    if kind != "cpu":
        return False
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


@functools.cache
def cores() -> int:
    """CPU cores this process may use: those it may run on, or its container's CPU quota (cgroup v2 cpu.max) if
    lower. A container (a Space) often sees every core of its host in os.cpu_count() and runs on 2 of them."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            n = min(n, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, n)
