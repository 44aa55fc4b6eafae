"""The CPU's vector extensions: int8 inference runs 13× slower with AVX2 alone than with AMX, so
every figure a benchmark or a training report writes names them."""

from __future__ import annotations

import re
from pathlib import Path


def cpu_flags() -> str:
    """``avx2``, ``avx512*`` and ``amx*`` as ``/proc/cpuinfo`` lists them; empty where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    found = set(re.findall(r"\b(avx512[a-z_]*|amx[a-z_]*|avx2)\b", text))
    return " ".join(sorted(found))
