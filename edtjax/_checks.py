"""Argument validation shared by every public entry point.

Every check runs on concrete values *outside* ``jit`` and raises :class:`ValueError` naming the
argument and what was expected. Checks that need concrete array values (finiteness) are skipped
when the argument is a tracer, so that validated functions still compose with ``jit``/``vmap``/
``grad``; the check then happens at the outermost concrete call.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._typing import ArrayLike, DTypeLike

__all__ = [
    "MAX_SEED",
    "as_array",
    "check_choice",
    "check_even",
    "check_finite",
    "check_int",
    "check_memory",
    "check_ndim",
    "check_probability",
    "check_real",
    "check_same_length",
    "check_seed",
    "check_shape",
    "constant_columns",
    "device_memory_bytes",
    "is_concrete",
]


def is_concrete(x: object) -> bool:
    """Whether ``x`` holds concrete values (not an abstract tracer under a transformation)."""
    return not isinstance(x, jax.core.Tracer)


def as_array(
    name: str,
    x: ArrayLike,
    *,
    ndim: int | Sequence[int] | None = None,
    finite: bool = True,
    dtype: DTypeLike | None = None,
) -> jax.Array:
    """Convert ``x`` to a JAX array and validate its rank and finiteness.

    Args:
        name: argument name used in the error message.
        x: array-like input.
        ndim: required rank, or a sequence of allowed ranks.
        finite: if true, reject NaN/inf entries (only when ``x`` is concrete).
        dtype: optional dtype to convert to.

    Raises:
        ValueError: if ``x`` is not numeric, has the wrong rank, or non-finite entries.
    """
    if is_concrete(x) and not isinstance(x, jax.Array):
        _check_host_values(name, x, finite=finite)
    try:
        arr = jnp.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}") from err
    if not (jnp.issubdtype(arr.dtype, jnp.number) or arr.dtype == jnp.bool_):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise ValueError(f"{name} must be real, got complex dtype {arr.dtype}")
    if ndim is not None:
        check_ndim(name, arr, ndim)
    if finite:
        check_finite(name, arr)
    return arr


def _check_host_values(name: str, x: ArrayLike, *, finite: bool) -> None:
    """Refuse complex host input, and finite values that JAX's default dtype cannot hold.

    Without float64 enabled, ``jnp.asarray`` casts float64 to float32: a finite ``1e200``
    would become ``inf`` and be reported as a non-finite entry the user never wrote.
    """
    try:
        host = np.asarray(x)
    except (TypeError, ValueError):
        return  # reported by the conversion that follows
    if np.iscomplexobj(host):
        raise ValueError(f"{name} must be real, got complex dtype {host.dtype}")
    if not (finite and np.issubdtype(host.dtype, np.floating) and host.size):
        return
    target = jnp.dtype(jax.dtypes.canonicalize_dtype(host.dtype))
    biggest = np.finfo(target).max
    with np.errstate(invalid="ignore"):
        out_of_range = np.isfinite(host) & (np.abs(host) > biggest)
    if out_of_range.any():
        largest = float(np.abs(host[out_of_range]).max())
        raise ValueError(
            f"{name} has {int(out_of_range.sum())} finite entries beyond the {target} range "
            f"(largest magnitude {largest:.3g} > {biggest:.3g}); "
            "rescale them, or enable float64 (the jax_enable_x64 option)"
        )


def device_memory_bytes() -> int:
    """Memory of the default device: its allocator limit, or the host's physical memory on CPU."""
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except (RuntimeError, NotImplementedError):
        stats = {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(what: str, nbytes: float, reduce: str, *, fraction: float = 0.5) -> None:
    """Raise before allocating if ``what`` needs more than ``fraction`` of the device's memory.

    Args:
        what: what would be allocated, e.g. ``"the traces"``.
        nbytes: its size in bytes.
        reduce: the arguments that shrink it, named in the message.
        fraction: share of :func:`device_memory_bytes` allowed for it.

    Example:
        >>> check_memory("a small buffer", 1024, "n")
    """
    limit = fraction * device_memory_bytes()
    if nbytes > limit:
        raise ValueError(
            f"{what} would need about {nbytes / 2**30:.3g} GiB, more than {fraction:.0%} of the "
            f"{device_memory_bytes() / 2**30:.3g} GiB of device memory; reduce {reduce}"
        )


def check_ndim(name: str, x: ArrayLike, ndim: int | Sequence[int]) -> None:
    """Raise unless ``x.ndim`` equals ``ndim`` (or is one of them)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if jnp.ndim(x) not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must have {want} dimension(s), got shape {jnp.shape(x)}")


def check_shape(name: str, x: ArrayLike, shape: Sequence[int | None]) -> None:
    """Raise unless ``x`` has ``shape``; ``None`` entries match any size."""
    got = jnp.shape(x)
    if len(got) != len(shape) or any(
        s is not None and s != g for s, g in zip(shape, got, strict=True)
    ):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {got}")


def constant_columns(x: ArrayLike) -> int:
    """How many columns of a concrete ``(n, k)`` array hold a single value (0 for a tracer).

    Computed in NumPy on the concrete values, so that it also works on a concrete array closed
    over inside ``jit`` (where ``jnp`` reductions would return tracers). Exact: a column counts
    only when all its entries are equal, whatever their rounding.
    """
    if not is_concrete(x):
        return 0
    arr = np.asarray(x)
    return int(np.sum(np.all(arr == arr[:1], axis=0)))


def check_finite(name: str, x: ArrayLike) -> None:
    """Raise if a concrete ``x`` has NaN or infinite entries, saying how many and where."""
    if not is_concrete(x):
        return
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.inexact):
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[:5].tolist()
        raise ValueError(
            f"{name} must be finite, found {int(bad.sum())} NaN/inf entries "
            f"(first at indices {where})"
        )


def check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` as a Python int, raising unless it is an integer within bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
    strict_maximum: bool = False,
) -> float | jax.Array:
    """Check that a scalar is a finite real within bounds; tracers pass through unchecked.

    Returns the value unchanged (a float when concrete), so it can be used inline.
    """
    if not is_concrete(value):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a real number, got {value!r}") from err
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if minimum is not None and (v <= minimum if strict_minimum else v < minimum):
        op = ">" if strict_minimum else ">="
        raise ValueError(f"{name} must be {op} {minimum}, got {v}")
    if maximum is not None and (v >= maximum if strict_maximum else v > maximum):
        op = "<" if strict_maximum else "<="
        raise ValueError(f"{name} must be {op} {maximum}, got {v}")
    return v


def check_probability(name: str, value: object, *, open_interval: bool = True) -> float | jax.Array:
    """Check ``0 < value < 1`` (or ``0 <= value <= 1`` with ``open_interval=False``)."""
    return check_real(
        name,
        value,
        minimum=0.0,
        maximum=1.0,
        strict_minimum=open_interval,
        strict_maximum=open_interval,
    )


def check_even(name: str, value: int) -> int:
    """Raise unless ``value`` is an even integer."""
    value = check_int(name, value)
    if value % 2:
        raise ValueError(f"{name} must be even, got {value}")
    return value


def check_choice(name: str, value: object, choices: Sequence[object]) -> object:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_same_length(names: Sequence[str], *arrays: ArrayLike) -> int:
    """Raise unless all arrays share the same leading dimension; return it."""
    lengths = [jnp.shape(a)[0] if jnp.ndim(a) else None for a in arrays]
    if len(set(lengths)) != 1 or lengths[0] is None:
        desc = ", ".join(f"{n}: {ln}" for n, ln in zip(names, lengths, strict=True))
        raise ValueError(f"{' and '.join(names)} must have the same length, got {desc}")
    return int(lengths[0])


MAX_SEED = 2**63 - 2
"""Largest PRNG seed accepted: ``jax.random.key`` takes a signed 64-bit integer, and a run
may derive a second stream from ``seed + 1``."""


def check_seed(name: str, value: object) -> int:
    """Return ``value`` as a Python int, raising unless it is an integer in ``[0, MAX_SEED]``.

    Example:
        >>> check_seed("seed", 7)
        7
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if not 0 <= value <= MAX_SEED:
        shown = str(value) if abs(value) < 10**30 else f"an integer of {value.bit_length()} bits"
        raise ValueError(f"{name} must be an integer in [0, 2**63 - 2], got {shown}")
    return value
