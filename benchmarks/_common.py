"""Timing and peer imports shared by the benchmark scripts."""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import jax


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls of ``fn`` (each waited for) and the last output."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best, out


def data_depth_model():
    """data-depth's ``DepthEucl``.

    data-depth's import name is ``depth``, which ``benchmarks/depth.py`` shadows when a script in
    this folder runs: the folder is taken off ``sys.path`` for the import.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    sys.modules.pop("depth", None)
    try:
        return importlib.import_module("depth.model.DepthEucl").DepthEucl
    finally:
        sys.path[:] = saved
