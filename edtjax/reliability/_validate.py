"""Boundary validation shared by the reliability functions (runs outside ``jit``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from edtjax._checks import as_array, check_probability

__all__ = ["alpha", "as_array", "indicator", "queries"]
from edtjax._typing import ArrayLike, PyTree
from edtjax.reliability.indicator import Indicator


def indicator(value: object) -> Indicator:
    """Raise unless ``value`` is an :class:`Indicator`."""
    if not isinstance(value, Indicator):
        raise ValueError(f"indicator must be an Indicator, got {type(value).__name__}")
    return value


def queries(name: str, ind: Indicator, state: PyTree, x: ArrayLike) -> jax.Array:
    """Validate ``(m, d)`` finite queries and check that ``ind.score`` accepts them.

    The score is traced abstractly (``jax.eval_shape``), so a dimension mismatch with the fitted
    state is reported as a ValueError naming ``name``, at no compute cost.
    """
    x = as_array(name, x, ndim=2)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    try:
        out = jax.eval_shape(ind.score, state, x)
    except (TypeError, ValueError, IndexError) as err:
        raise ValueError(f"{name} does not fit the indicator's state: {err}") from err
    if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != (x.shape[0],):
        got = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"indicator.score must return shape ({x.shape[0]},), got {got}")
    return x


def alpha(value: object) -> float:
    """A level in the open interval (0, 1)."""
    return float(check_probability("alpha", value))
