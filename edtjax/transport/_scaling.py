r"""Kernel-domain Sinkhorn on a fixed kernel: the iterations in one lean loop, the gradient by
ott-jax's implicit differentiation of the same fixed point.

The loop alternates :math:`v = b / (K^\top u)` and :math:`u = a / (K v)` from :math:`u = 1`, as
ott-jax's kernel-domain Sinkhorn does. After each :math:`u` update the row marginal
:math:`u \odot Kv` equals :math:`a` (up to rounding), so the 1-norm marginal error is that of
the column marginal, :math:`\|v \odot K^\top u - b\|_1`, ott-jax's error; the product
:math:`K^\top u` it needs is the one the next :math:`v` update uses, so the error is checked
after every iteration at no extra product (ott-jax checks every ``inner_iterations`` = 10 and
computes :math:`K^\top u` again to do so). :math:`K^\top u` is formed as the vector-matrix
product :math:`u^\top K`, which XLA's CPU backend runs several times faster than the product
with the transposed matrix. A product that is zero or infinite makes the update NaN (every row
and column of the callers' kernels holds an entry 1, so it means that a scaling has left the
dtype's range), and the NaN error stops the loop. Cost per iteration: two products with the
:math:`n \times m` kernel, :math:`O(nm)`; memory: the kernel.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from ott.problems.linear import linear_problem


def _in_range(product: jax.Array) -> jax.Array:
    """``product`` where it is positive and finite, NaN elsewhere."""
    return jnp.where((product > 0) & (product < jnp.inf), product, jnp.nan)


def iterate(
    kernel: jax.Array, a: jax.Array, b: jax.Array, threshold: float, max_iterations: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    r"""Sinkhorn iterations on scalings until the 1-norm marginal error is below ``threshold``,
    it is NaN, or ``max_iterations`` iterations have run (at least one always runs).

    Returns:
        ``(iterations, u, v, error)``: the number of iterations run, the scalings (the plan is
        :math:`\mathrm{diag}(u) K \mathrm{diag}(v)`) and their marginal error.
    """

    def body(state):
        i, u, v, ktu, _ = state
        v = b / _in_range(ktu)
        u = a / _in_range(kernel @ v)
        ktu = u @ kernel
        return i + 1, u, v, ktu, jnp.sum(jnp.abs(v * ktu - b))

    def running(state):
        i, *_, error = state
        return (error >= threshold) & (i < max_iterations)

    u, v = jnp.ones_like(a), jnp.ones_like(b)
    start = (jnp.asarray(0), u, v, u @ kernel, jnp.asarray(jnp.inf, a.dtype))
    i, u, v, _, error = jax.lax.while_loop(running, body, start)
    return i, u, v, error


@partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def solve(
    prob: linear_problem.LinearProblem, threshold: float, max_iterations: int, implicit: Any
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r"""Potentials of the kernel-domain Sinkhorn solve of ``prob`` (balanced, its geometry
    holding a fixed kernel), as ott-jax's ``linear.solve(..., lse_mode=False)`` returns them.

    Args:
        prob: the problem; ``prob.geom.kernel_matrix`` is the kernel :math:`K` and
            ``prob.geom.epsilon`` the regularisation.
        threshold: the 1-norm marginal error at which the iterations stop.
        max_iterations: the iteration cap.
        implicit: ott-jax's ``ImplicitDiff``, which differentiates the fixed point in reverse
            mode (the cotangent of ``error`` is ignored, as in ott-jax).

    Returns:
        ``(f, g, error)``: :math:`f = \varepsilon \log u`, :math:`g = \varepsilon \log v` and the
        final marginal error (NaN if a scaling left the dtype's range).
    """
    _, u, v, error = iterate(prob.geom.kernel_matrix, prob.a, prob.b, threshold, max_iterations)
    eps = prob.geom.epsilon
    return eps * jnp.log(u), eps * jnp.log(v), error


def _solve_fwd(prob, threshold, max_iterations, implicit):
    f, g, error = solve(prob, threshold, max_iterations, implicit)
    return (f, g, error), (prob, f, g)


def _solve_bwd(threshold, max_iterations, implicit, residuals, cotangents):
    prob, f, g = residuals
    df, dg, _ = cotangents
    return implicit.gradient(prob, f, g, False, (df, dg))  # a 1-tuple: the cotangent of prob


solve.defvjp(_solve_fwd, _solve_bwd)
