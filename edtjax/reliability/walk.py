"""Gradients of an indicator with respect to the query, and the walk back into the domain."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import as_array, check_int, check_real
from edtjax._typing import ArrayLike, PyTree
from edtjax.reliability import _validate
from edtjax.reliability.indicator import Indicator

__all__ = ["WalkBackResult", "score_gradient", "walk_back"]


class WalkBackResult(NamedTuple):
    """Result of :func:`walk_back`.

    Attributes:
        x: ``(m, d)`` final points.
        score: ``(m,)`` their scores.
        inside: ``(m,)`` whether ``score <= threshold`` was reached.
        num_steps: ``(m,)`` gradient steps taken.
        distance: ``(m,)`` Euclidean distance moved from the starting query.
    """

    x: jax.Array
    score: jax.Array
    inside: jax.Array
    num_steps: jax.Array
    distance: jax.Array


def _point_score(indicator: Indicator, state: PyTree, z: jax.Array) -> jax.Array:
    return indicator.score(state, z[None, :])[0]


@functools.partial(jax.jit, static_argnames=("indicator",))
def _gradient(indicator: Indicator, state: PyTree, x: jax.Array) -> jax.Array:
    return jax.vmap(jax.grad(lambda z: _point_score(indicator, state, z)))(x)


def score_gradient(indicator: Indicator, state: PyTree, x: ArrayLike) -> jax.Array:
    """Gradient of the score of each query with respect to that query, ``∇_x score(x)``.

    Evaluated with ``jax.vmap(jax.grad(...))`` over single-row queries; meaningful for the
    differentiable indicators (Mahalanobis, kNN, smooth lens, projection, predictive spread with
    a differentiable surrogate, and feature-space variants of them). It points away from the
    domain of validity; its components say which inputs move a query out.

    Args:
        indicator: the :class:`Indicator` (static under ``jit``: one compilation per indicator).
        state: its fitted state.
        x: ``(m, d)`` queries.

    Returns:
        ``(m, d)`` gradients. Cost about ``m`` times one score and its reverse pass.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.reliability import mahalanobis_indicator
        >>> ind = mahalanobis_indicator()
        >>> state = ind.fit(None, jax.random.normal(jax.random.key(0), (200, 2)))
        >>> score_gradient(ind, state, jnp.ones((3, 2))).shape
        (3, 2)

    References:
        Baydin, A. G., Pearlmutter, B. A., Radul, A. A. & Siskind, J. M. (2018). Automatic
        differentiation in machine learning: a survey. JMLR 18(153), 1-43.
    """
    indicator = _validate.indicator(indicator)
    x = _validate.queries("x", indicator, state, x)
    return _gradient(indicator, state, x)


@functools.partial(jax.jit, static_argnames=("indicator", "max_steps"))
def _walk(indicator, state, threshold, x, step_size, lower, upper, max_steps):
    def one(z0: jax.Array) -> WalkBackResult:
        score_and_grad = jax.value_and_grad(lambda z: _point_score(indicator, state, z))

        def cond(carry: PyTree) -> jax.Array:
            _, s, _, i = carry
            return (s > threshold) & (i < max_steps)

        def body(carry: PyTree) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
            z, _, g, i = carry
            norm = jnp.sqrt(jnp.sum(g**2))
            direction = jnp.where(norm > 0, g / jnp.where(norm > 0, norm, 1.0), 0.0)
            z = jnp.clip(z - step_size * direction, lower, upper)
            s, g = score_and_grad(z)
            return z, s, g, i + 1

        s0, g0 = score_and_grad(z0)
        z, s, _, i = jax.lax.while_loop(cond, body, (z0, s0, g0, jnp.asarray(0)))
        return WalkBackResult(z, s, s <= threshold, i, jnp.sqrt(jnp.sum((z - z0) ** 2)))

    return jax.vmap(one)(x)


def walk_back(
    indicator: Indicator,
    state: PyTree,
    threshold: ArrayLike,
    x: ArrayLike,
    *,
    step_size: float,
    max_steps: int = 1000,
    lower: ArrayLike | None = None,
    upper: ArrayLike | None = None,
) -> WalkBackResult:
    """Walk queries back into the domain of validity by projected normalised gradient steps.

    From each query ``x_0``, ``x_{t+1} = Π_box(x_t - η ∇s(x_t) / ‖∇s(x_t)‖)`` until the score
    ``s(x_t) <= threshold`` (typically :attr:`Calibration.threshold`, i.e. the point is no
    longer flagged) or ``max_steps``; ``Π_box`` clips to ``[lower, upper]`` when given (e.g.
    the physically admissible input box). Queries already inside do not move. The path follows
    steepest descent of the score, so the end point is a nearby point judged inside, the first
    one found along that path (a local, not a global, nearest point); its accuracy is ``η``.
    Requires a differentiable score (see :func:`score_gradient`).

    Args:
        indicator: the :class:`Indicator` (static under ``jit``).
        state: its fitted state.
        threshold: scalar score threshold.
        x: ``(m, d)`` queries.
        step_size: ``η > 0``, step length in input units.
        max_steps: maximum number of steps (static).
        lower: optional ``(d,)`` or scalar lower bounds of the box.
        upper: optional ``(d,)`` or scalar upper bounds.

    Returns:
        :class:`WalkBackResult`. Cost up to ``max_steps`` score-and-gradient evaluations per
        query.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.reliability import mahalanobis_indicator
        >>> ind = mahalanobis_indicator()
        >>> state = ind.fit(None, jax.random.normal(jax.random.key(0), (500, 2)))
        >>> res = walk_back(ind, state, 1.0, jnp.array([[6.0, 0.0]]), step_size=0.05)
        >>> bool(res.inside[0])
        True

    References:
        Bertsekas, D. P. (1976). On the Goldstein-Levitin-Polyak gradient projection method.
        IEEE Trans. Autom. Control 21(2), 174-184.
    """
    indicator = _validate.indicator(indicator)
    x = _validate.queries("x", indicator, state, x)
    d = x.shape[1]
    threshold = check_real("threshold", threshold)
    step_size = check_real("step_size", step_size, minimum=0.0, strict_minimum=True)
    max_steps = check_int("max_steps", max_steps, minimum=1)
    bounds = []
    for name, value, fill in (("lower", lower, -jnp.inf), ("upper", upper, jnp.inf)):
        if value is None:
            value = jnp.full((d,), fill, x.dtype)
        else:
            value = as_array(name, value, ndim=(0, 1)).astype(x.dtype)
            if value.ndim == 1 and value.shape != (d,):
                raise ValueError(f"{name} must be a scalar or have shape ({d},), got {value.shape}")
            value = jnp.broadcast_to(value, (d,))
        bounds.append(value)
    lower, upper = bounds
    if bool(jnp.any(lower > upper)):
        raise ValueError("lower must be <= upper in every coordinate")
    x = jnp.clip(x, lower, upper)
    return _walk(
        indicator,
        state,
        jnp.asarray(threshold, x.dtype),
        x,
        jnp.asarray(step_size, x.dtype),
        lower,
        upper,
        max_steps,
    )
