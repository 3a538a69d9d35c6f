"""Analytic test functions for sensitivity analysis, with their reference Sobol' indices.

All functions act on the last axis of ``x`` and broadcast over leading axes, so they can be
called on a single point or a batch, and are differentiable.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from edtjax._checks import as_array, check_ndim, check_real
from edtjax._typing import ArrayLike

__all__ = [
    "ReferenceIndices",
    "borehole",
    "borehole_factors",
    "friedman1",
    "friedman1_indices",
    "ishigami",
    "ishigami_indices",
    "sobol_g",
    "sobol_g_indices",
]


class ReferenceIndices(NamedTuple):
    """Exact Sobol' indices: ``first_order`` ``(d,)``, ``total_order`` ``(d,)``,
    ``second_order`` ``(d, d)`` symmetric with zero diagonal, and the output ``variance``."""

    first_order: np.ndarray
    total_order: np.ndarray
    second_order: np.ndarray
    variance: float


def _last_axis(name, x, size):
    x = as_array(name, x, finite=False)
    if x.ndim < 1 or (size is not None and x.shape[-1] != size):
        raise ValueError(f"{name} must have shape (..., {size}), got {x.shape}")
    return x


def ishigami(x: ArrayLike, a: float = 7.0, b: float = 0.1) -> jax.Array:
    """Ishigami function ``f = sin x1 + a sin^2 x2 + b x3^4 sin x1``, ``x_i ~ U(-pi, pi)``.

    Args:
        x: ``(..., 3)`` inputs.
        a, b: coefficients (``a = 7``, ``b = 0.1`` is the usual choice).

    Returns:
        ``(...)`` outputs. Cost ``O(size)``.

    Example:
        >>> float(ishigami(jnp.zeros(3)))
        0.0

    References:
        Ishigami, T., Homma, T. (1990). An importance quantification technique in uncertainty
        analysis for computer models. Proc. ISUMA '90, 398-403.
    """
    x = _last_axis("x", x, 3)
    s1 = jnp.sin(x[..., 0])
    return s1 + a * jnp.sin(x[..., 1]) ** 2 + b * x[..., 2] ** 4 * s1


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> ReferenceIndices:
    """Exact indices of :func:`ishigami` for uniform inputs on ``(-pi, pi)``.

    ``V1 = (1 + b pi^4 / 5)^2 / 2``, ``V2 = a^2 / 8``, ``V3 = 0``,
    ``V13 = b^2 pi^8 (1/18 - 1/50)``, ``V = V1 + V2 + V13``. For ``a = 7``, ``b = 0.1``:
    ``S = (0.3139, 0.4424, 0)``, ``T = (0.5576, 0.4424, 0.2437)``, ``S13 = 0.2437``.

    Example:
        >>> round(float(ishigami_indices().first_order[1]), 4)
        0.4424

    References:
        Sobol', I. M., Levitan, Y. L. (1999). On the use of variance reducing multipliers in
        Monte Carlo computations of a global sensitivity index. Comput. Phys. Commun. 117, 52-61.
    """
    a = check_real("a", a)
    b = check_real("b", b)
    pi = math.pi
    v1 = 0.5 * (1.0 + b * pi**4 / 5.0) ** 2
    v2 = a**2 / 8.0
    v13 = b**2 * pi**8 * (1.0 / 18.0 - 1.0 / 50.0)
    v = v1 + v2 + v13
    second = np.zeros((3, 3))
    second[0, 2] = second[2, 0] = v13 / v
    return ReferenceIndices(
        first_order=np.array([v1, v2, 0.0]) / v,
        total_order=np.array([v1 + v13, v2, v13]) / v,
        second_order=second,
        variance=v,
    )


def sobol_g(x: ArrayLike, a: ArrayLike) -> jax.Array:
    """Sobol' G function ``f = prod_i (|4 x_i - 2| + a_i) / (1 + a_i)``, ``x_i ~ U(0, 1)``.

    Args:
        x: ``(..., d)`` inputs.
        a: ``(d,)`` non-negative coefficients (small ``a_i``: important factor).

    Returns:
        ``(...)`` outputs. Cost ``O(size)``.

    Example:
        >>> float(sobol_g(jnp.zeros(2), jnp.array([0.0, 1.0])))
        3.0

    References:
        Saltelli, A., Sobol', I. M. (1995). About the use of rank transformation in sensitivity
        analysis of model output. Reliab. Eng. Syst. Saf. 50, 225-239.
    """
    a = as_array("a", a, ndim=1)
    x = _last_axis("x", x, a.shape[0])
    return jnp.prod((jnp.abs(4.0 * x - 2.0) + a) / (1.0 + a), axis=-1)


def sobol_g_indices(a: ArrayLike) -> ReferenceIndices:
    """Exact indices of :func:`sobol_g`.

    ``V_i = 1 / (3 (1 + a_i)^2)``, ``V = prod_i (1 + V_i) - 1``, ``S_i = V_i / V``,
    ``T_i = V_i prod_{j != i} (1 + V_j) / V``, ``S_ij = V_i V_j / V``.

    Example:
        >>> round(float(sobol_g_indices([0.0]).first_order[0]), 6)
        1.0

    References:
        Saltelli, A. et al. (2010). Comput. Phys. Commun. 181, 259-270.
    """
    a = np.asarray(a, dtype=np.float64)
    check_ndim("a", a, 1)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError("a must hold finite non-negative coefficients")
    vi = 1.0 / (3.0 * (1.0 + a) ** 2)
    v = np.prod(1.0 + vi) - 1.0
    total = vi * np.prod(1.0 + vi) / (1.0 + vi) / v
    second = np.outer(vi, vi) / v
    np.fill_diagonal(second, 0.0)
    return ReferenceIndices(vi / v, total, second, float(v))


def borehole(x: ArrayLike) -> jax.Array:
    """Borehole water-flow model (m^3/yr) of eight inputs.

    ``f = 2 pi Tu (Hu - Hl) / (ln(r/rw) (1 + 2 L Tu / (ln(r/rw) rw^2 Kw) + Tu / Tl))`` with
    ``x = (rw, r, Tu, Hu, Tl, Hl, L, Kw)``; :func:`borehole_factors` gives the usual input law.
    It has no closed-form Sobol' indices (``rw`` dominates with ``S ~ 0.83``); it serves for
    ranking and timing.

    Example:
        >>> x = jnp.array([0.1, 1000.0, 90000.0, 1050.0, 90.0, 760.0, 1400.0, 11000.0])
        >>> round(float(borehole(x)), 1)
        71.3

    References:
        Harper, W. V., Gupta, S. K. (1983). Sensitivity/uncertainty analysis of a borehole
        scenario comparing Latin hypercube sampling and deterministic sensitivity approaches.
        Office of Nuclear Waste Isolation, BMI/ONWI-516.
    """
    x = _last_axis("x", x, 8)
    rw, r, tu, hu, tl, hl, length, kw = (x[..., i] for i in range(8))
    log_ratio = jnp.log(r / rw)
    return (2.0 * jnp.pi * tu * (hu - hl)) / (
        log_ratio * (1.0 + 2.0 * length * tu / (log_ratio * rw**2 * kw) + tu / tl)
    )


def borehole_factors() -> list:
    """Input distributions of :func:`borehole` in the order of its last axis.

    ``rw ~ N(0.10, 0.0161812)``, ``r ~ LogNormal(7.71, 1.0056)``, ``Tu ~ U(63070, 115600)``,
    ``Hu ~ U(990, 1110)``, ``Tl ~ U(63.1, 116)``, ``Hl ~ U(700, 820)``, ``L ~ U(1120, 1680)``,
    ``Kw ~ U(9855, 12045)``.

    Example:
        >>> len(borehole_factors())
        8

    References:
        Morris, M. D., Mitchell, T. J., Ylvisaker, D. (1993). Bayesian design and analysis of
        computer experiments: use of derivatives in surface prediction. Technometrics 35, 243-255.
    """
    return [
        dist.Normal(0.10, 0.0161812),
        dist.LogNormal(7.71, 1.0056),
        dist.Uniform(63070.0, 115600.0),
        dist.Uniform(990.0, 1110.0),
        dist.Uniform(63.1, 116.0),
        dist.Uniform(700.0, 820.0),
        dist.Uniform(1120.0, 1680.0),
        dist.Uniform(9855.0, 12045.0),
    ]


def friedman1(x: ArrayLike) -> jax.Array:
    """Friedman #1 function ``f = 10 sin(pi x1 x2) + 20 (x3 - 1/2)^2 + 10 x4 + 5 x5``.

    Inputs ``x_i ~ U(0, 1)``, ``d >= 5``; coordinates beyond the fifth are inert.

    Example:
        >>> float(friedman1(jnp.zeros(5)))
        5.0

    References:
        Friedman, J. H. (1991). Multivariate adaptive regression splines. Ann. Statist. 19, 1-67.
    """
    x = _last_axis("x", x, None)
    if x.shape[-1] < 5:
        raise ValueError(f"x must have at least 5 columns, got {x.shape[-1]}")
    return (
        10.0 * jnp.sin(jnp.pi * x[..., 0] * x[..., 1])
        + 20.0 * (x[..., 2] - 0.5) ** 2
        + 10.0 * x[..., 3]
        + 5.0 * x[..., 4]
    )


def friedman1_indices(num_dims: int = 5) -> ReferenceIndices:
    """Indices of :func:`friedman1` (closed form except two 1-d integrals, by Gauss-Legendre).

    With ``h = 10 sin(pi x1 x2)`` and ``E[h | x1] = 10 (1 - cos(pi x1)) / (pi x1)``:
    ``V1 = V2 = Var E[h | x1]``, ``V12 = Var h - V1 - V2``, ``V3 = 400/180``, ``V4 = 100/12``,
    ``V5 = 25/12``. Approximately ``S = (0.197, 0.197, 0.093, 0.350, 0.087)``,
    ``T1 = T2 = 0.272``, ``S12 = 0.075``.

    Example:
        >>> round(float(friedman1_indices().first_order[3]), 3)
        0.35

    References:
        Friedman, J. H. (1991). Ann. Statist. 19, 1-67.
    """
    if int(num_dims) < 5:
        raise ValueError(f"num_dims must be >= 5, got {num_dims}")
    nodes, weights = np.polynomial.legendre.leggauss(200)
    t, w = 0.5 * (nodes + 1.0), 0.5 * weights  # rule on (0, 1)
    cond = 10.0 * (1.0 - np.cos(np.pi * t)) / (np.pi * t)  # E[h | x1 = t]
    mean_h = np.sum(w * cond)
    v1 = np.sum(w * cond**2) - mean_h**2
    # E[h^2] = 100 E[sin^2(pi x1 x2)] = 50 (1 - E[sin(2 pi x1) / (2 pi x1)])
    e_h2 = 50.0 * (1.0 - np.sum(w * np.sin(2.0 * np.pi * t) / (2.0 * np.pi * t)))
    var_h = e_h2 - mean_h**2
    v12 = var_h - 2.0 * v1
    parts = np.zeros(num_dims)
    parts[:5] = [v1, v1, 400.0 / 180.0, 100.0 / 12.0, 25.0 / 12.0]
    v = var_h + parts[2:].sum()
    total = parts.copy()
    total[:2] += v12
    second = np.zeros((num_dims, num_dims))
    second[0, 1] = second[1, 0] = v12 / v
    return ReferenceIndices(parts / v, total / v, second, float(v))
