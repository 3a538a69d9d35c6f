r"""The calibrated center-outward quantile function, shared by the center-outward functions and
the OT conformal regions: the knots of the radial calibration :math:`G` and the damped Newton
inverse of the entropic map (see :mod:`edtjax.transport.center_outward`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from edtjax import _checks
from edtjax._typing import PyTree
from edtjax.transport.sinkhorn import EntropicMap


def knots(levels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Knots of the radial calibration ``G`` of a fit with sorted ``levels``: raw levels and
    their probabilities."""
    n = levels.shape[0]
    dtype = levels.dtype
    raw = jnp.concatenate([jnp.zeros((1,), dtype), levels, jnp.ones((1,), dtype)])
    prob = jnp.arange(n + 2, dtype=dtype) / (n + 1)
    return raw, prob


def _safe_norm(v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Norm along the last axis, and the same with zeros replaced by one (safe to divide)."""
    sq = jnp.sum(v * v, axis=-1)
    positive = sq > 0
    norm = jnp.sqrt(jnp.where(positive, sq, 1.0))
    return jnp.where(positive, norm, 0.0), norm


def rescale(v: jax.Array, xp: jax.Array, fp: jax.Array) -> jax.Array:
    """``v`` with its norm ``r`` replaced by the piecewise-linear ``interp(r, xp, fp)``.

    Near the origin the interpolant is linear, so the factor ``interp(r)/r`` tends to the
    first slope ``fp[1] / xp[1]``, used at ``r = 0``.
    """
    r, r_safe = _safe_norm(v)
    slope0 = fp[1] / xp[1]
    factor = jnp.where(r > 0, jnp.interp(r, xp, fp) / r_safe, slope0)
    return v * factor[..., None]


_NEWTON_STEPS = 100
_LINE_SEARCH = 2.0 ** -np.arange(0, 31)


def _objective(grid: jax.Array, tmap: EntropicMap, y: jax.Array, v: jax.Array):
    r"""The convex :math:`\psi(y) = \varphi(y) - \langle v, y\rangle` (up to a constant) and the
    softmax weights, for points ``y`` of shape ``(..., d)``; ``grid``, ``y`` and ``v`` are in
    the centred coordinates of the fit (see :func:`quantile`)."""
    logits = (tmap.g + 2.0 * y @ grid.T - jnp.sum(grid * grid, axis=1)) / tmap.epsilon
    psi = 0.5 * tmap.epsilon * jax.nn.logsumexp(logits, axis=-1) - y @ v
    return psi, jax.nn.softmax(logits, axis=-1)


def _newton_direction(grid: jax.Array, tmap: EntropicMap, y: jax.Array, v: jax.Array):
    r"""Residual :math:`\mathbf{T}_\varepsilon(y) - v = \nabla\psi(y)` and the Newton step."""
    _, w = _objective(grid, tmap, y, v)
    mean = w @ grid
    centred = grid - mean
    hess = (2.0 / tmap.epsilon) * (centred.T * w) @ centred
    # a ridge at the dtype's resolution keeps the solve finite where the weights degenerate
    ridge = jnp.finfo(y.dtype).eps * jnp.trace(hess) * jnp.eye(y.shape[0], dtype=y.dtype)
    r = mean - v
    return r, -jnp.linalg.solve(hess + ridge, r)


@jax.jit
def quantile(tmap: EntropicMap, levels: jax.Array, u: jax.Array) -> jax.Array:
    r"""Inverse of the calibrated distribution function, by damped Newton on a convex potential.

    ``tmap`` and ``levels`` are the entropic map and the sorted levels of a center-outward fit.
    :math:`\hat{\mathbf{Q}}_\pm(u)` solves :math:`\mathbf{T}_\varepsilon(y) = v` with
    :math:`v = G^{-1}(\|u\|)\, u / \|u\|`. :math:`\mathbf{T}_\varepsilon = \nabla\varphi` with
    :math:`\varphi(y) = \frac\varepsilon2 \log\sum_j \exp((g_j + 2\langle y, u_j\rangle
    - \|u_j\|^2)/\varepsilon)` strictly convex (its Hessian is :math:`\frac2\varepsilon` times
    the covariance of the grid under the softmax weights), so the solution is the minimiser of
    the convex :math:`\psi(y) = \varphi(y) - \langle v, y\rangle`. Newton starts from the
    entropic reverse map; each step takes the longest length in 1, 1/2, ..., 2^-30 that passes
    Armijo's test on :math:`\psi` or, once :math:`\psi` no longer resolves the decrease (near
    the solution), the length that most reduces the residual; it stops at the dtype's
    resolution. The derivative is that of one more Newton step from the (gradient-stopped)
    solution, which is exactly the implicit-function derivative of the fixed point. Rows with
    no solution are NaN. Newton runs in the centred coordinates of the fitted map (sample
    minus ``x_center``, grid minus ``y_center``), so its accuracy does not depend on where
    the sample lies; the solution is translated back at the end.
    """
    raw, prob = knots(levels)
    grid = tmap.y - tmap.y_center
    target = rescale(u, prob, raw)  # G^{-1}(|u|) u/|u|
    tol = 64 * jnp.finfo(u.dtype).eps
    steps = jnp.asarray(_LINE_SEARCH, dtype=u.dtype)

    def solve(v: jax.Array, y0: jax.Array) -> jax.Array:
        def cond(state: PyTree) -> jax.Array:
            _, k, done = state
            return (k < _NEWTON_STEPS) & ~done

        def body(state: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
            y, k, _ = state
            r, direction = _newton_direction(grid, tmap, y, v)
            psi0, _ = _objective(grid, tmap, y, v)
            trials = y + steps[:, None] * direction
            psi, w = _objective(grid, tmap, trials, v)
            norms = jnp.linalg.norm(w @ grid - v, axis=-1)
            armijo = psi <= psi0 + 1e-4 * steps * (r @ direction)
            first = jnp.argmax(armijo)
            closest = jnp.argmin(norms)
            best = jnp.where(jnp.any(armijo), first, closest)
            moved = jnp.any(armijo) | (norms[closest] < jnp.linalg.norm(r))
            y_new = jnp.where(moved, trials[best], y)
            return y_new, k + 1, ~moved | (norms[best] <= tol)

        y, _, _ = jax.lax.while_loop(cond, body, (y0, 0, False))
        y = jax.lax.stop_gradient(y)
        r, direction = _newton_direction(grid, tmap, y, v)
        # the last step carries the derivative. A target outside the range of the raw map (the
        # open convex hull of the grid, numerically shrunk where the weights saturate) has no
        # preimage: psi is unbounded below and Newton runs away; that point is NaN.
        return jnp.where(jnp.linalg.norm(r) <= jnp.sqrt(tol), y + direction, jnp.nan)

    start = jax.lax.stop_gradient(tmap.apply(target, forward=False) - tmap.x_center)
    return jax.vmap(solve)(target - tmap.y_center, start) + tmap.x_center


def check_num_points(num_points: int, d: int) -> int:
    """``num_points`` of a contour in dimension ``d``: at least 1, exactly 2 when ``d = 1``."""
    num_points = _checks.check_int("num_points", num_points, minimum=1)
    if d == 1 and num_points != 2:
        raise ValueError(
            f"num_points must be 2 in dimension 1 (the two quantiles), got {num_points}"
        )
    return num_points
