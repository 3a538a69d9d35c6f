"""Peer imports shared by the benchmark scripts."""

from __future__ import annotations

import importlib
import os
import sys


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
