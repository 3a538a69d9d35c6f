"""Helpers shared by the figure modules: an Agg-backed figure, array checks, the palette."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from edtjax._checks import check_finite, check_ndim

# Colour-blind safe (Okabe-Ito); one colour per method / indicator, in order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def new_figure(width: float, height: float) -> Figure:
    """A figure drawn by its own Agg canvas (no pyplot state, no global backend change)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def color(i: int) -> str:
    """The ``i``-th colour of the palette (cycled)."""
    return PALETTE[i % len(PALETTE)]


def array(
    name: str, x: object, ndim: int, *, shape: tuple[int | None, ...] | None = None
) -> np.ndarray:
    """``x`` as a finite float NumPy array of rank ``ndim`` (and ``shape``), else ValueError."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}") from err
    check_ndim(name, arr, ndim)
    pairs = zip(shape or (), arr.shape, strict=False)
    if any(s is not None and s != g for s, g in pairs):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    check_finite(name, arr)
    return arr


def points(name: str, x: object) -> np.ndarray | None:
    """Optional ``(n, 2)`` points to overlay (``None`` stays ``None``)."""
    return None if x is None else array(name, x, 2, shape=(None, 2))


def names(name: str, value: object, length: int | None = None) -> list[str]:
    """A list of strings (of ``length`` when given), else ValueError."""
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a sequence of strings, got {value!r}")
    value = list(value)
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must hold {length} names, got {len(value)}")
    return value


def nonempty(name: str, mapping: object) -> dict[str, object]:
    """A non-empty mapping with string keys, else ValueError."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError(f"{name} must be a non-empty mapping of name -> values")
    if not all(isinstance(k, str) for k in mapping):
        raise ValueError(f"{name} must have string keys, got {list(mapping)}")
    return dict(mapping)
