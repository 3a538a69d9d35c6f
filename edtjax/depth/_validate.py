"""Boundary validation shared by the depth functions (runs outside ``jit``)."""

from __future__ import annotations

import jax

from edtjax._checks import as_array, check_int, check_real
from edtjax._typing import ArrayLike, DTypeLike


def query_and_reference(
    x_query: ArrayLike, x_ref: ArrayLike, *, min_ref: int = 1, dim: int | None = None
) -> tuple[jax.Array, jax.Array]:
    """Validate a query set ``(m, d)`` and a reference set ``(n, d)``.

    Raises:
        ValueError: wrong rank, non-finite rows, empty or too small reference set, mismatched
            dimensions, or a dimension other than ``dim`` when one is required.
    """
    x_ref = as_array("x_ref", x_ref, ndim=2)
    x_query = as_array("x_query", x_query, ndim=2)
    if not jax.numpy.issubdtype(x_ref.dtype, jax.numpy.floating):
        x_ref = x_ref.astype(jax.numpy.result_type(float))
    x_query = x_query.astype(x_ref.dtype)
    n, d = x_ref.shape
    if n < min_ref:
        raise ValueError(f"x_ref must have at least {min_ref} rows, got {n}")
    if x_query.shape[1] != d:
        raise ValueError(
            f"x_query must have the same dimension as x_ref ({d}), got {x_query.shape[1]}"
        )
    if dim is not None and d != dim:
        raise ValueError(f"x_ref must have dimension {dim} for this method, got {d}")
    return x_query, x_ref


def reference(x_ref: ArrayLike, *, min_ref: int = 1) -> jax.Array:
    """Validate a reference set ``(n, d)`` alone."""
    x_ref = as_array("x_ref", x_ref, ndim=2)
    if not jax.numpy.issubdtype(x_ref.dtype, jax.numpy.floating):
        x_ref = x_ref.astype(jax.numpy.result_type(float))
    if x_ref.shape[0] < min_ref:
        raise ValueError(f"x_ref must have at least {min_ref} rows, got {x_ref.shape[0]}")
    return x_ref


def query_for(x_query: ArrayLike, dim: int, dtype: DTypeLike) -> jax.Array:
    """Validate a query set against a fitted reference of dimension ``dim``."""
    x_query = as_array("x_query", x_query, ndim=2)
    if x_query.shape[1] != dim:
        raise ValueError(
            f"x_query must have the same dimension as x_ref ({dim}), got {x_query.shape[1]}"
        )
    return x_query.astype(dtype)


def positive_int(name: str, value: object, minimum: int = 1) -> int:
    """An integer ``>= minimum``."""
    return check_int(name, value, minimum=minimum)


def positive_real(name: str, value: object) -> float | jax.Array:
    """A real ``> 0``."""
    return check_real(name, value, minimum=0.0, strict_minimum=True)
