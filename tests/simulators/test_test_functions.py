"""Analytic test functions: values and reference indices checked by brute-force integration."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.simulators.test_functions import (
    borehole,
    borehole_factors,
    friedman1,
    friedman1_indices,
    ishigami,
    ishigami_indices,
    sobol_g,
    sobol_g_indices,
)


def _conditional_variance(f, dims, which, grid=400):
    """Var E[f | x_which] on a tensor midpoint grid of the unit cube (d <= 3 here)."""
    t = (np.arange(grid) + 0.5) / grid
    mesh = np.stack(np.meshgrid(*([t] * dims), indexing="ij"), axis=-1)
    y = np.asarray(f(jnp.asarray(mesh)), dtype=np.float64)
    axes = tuple(i for i in range(dims) if i not in which)
    return np.var(y.mean(axis=axes)), np.var(y)


def test_ishigami_indices_by_quadrature(x64):
    ref = ishigami_indices(7.0, 0.1)

    def f(u):
        return ishigami(np.pi * (2 * u - 1))

    for i in range(3):
        vi, v = _conditional_variance(f, 3, (i,), grid=100)
        assert abs(vi / v - ref.first_order[i]) < 1e-3
    v13, v = _conditional_variance(f, 3, (0, 2), grid=100)
    assert abs(v13 / v - ref.first_order[0] - ref.second_order[0, 2]) < 1e-3
    np.testing.assert_allclose(ref.first_order, [0.3139, 0.4424, 0.0], atol=1e-4)
    np.testing.assert_allclose(ref.total_order, [0.5576, 0.4424, 0.2437], atol=1e-4)


def test_sobol_g_indices_by_quadrature(x64):
    a = np.array([0.0, 1.0, 4.5])
    ref = sobol_g_indices(a)
    for i in range(3):
        vi, v = _conditional_variance(lambda u: sobol_g(u, a), 3, (i,), grid=100)
        assert abs(vi / v - ref.first_order[i]) < 1e-3
    v01, v = _conditional_variance(lambda u: sobol_g(u, a), 3, (0, 1), grid=100)
    assert abs(v01 / v - ref.first_order[0] - ref.first_order[1] - ref.second_order[0, 1]) < 1e-3
    # total index of x0: 1 - first-order of the complement (x1, x2)
    v12, v = _conditional_variance(lambda u: sobol_g(u, a), 3, (1, 2), grid=100)
    assert abs(1 - v12 / v - ref.total_order[0]) < 1e-3


@pytest.mark.slow
def test_friedman1_indices_by_quadrature(x64):
    ref = friedman1_indices(6)
    assert ref.first_order[5] == 0.0 and ref.total_order[5] == 0.0
    h = lambda u: 10 * jnp.sin(jnp.pi * u[..., 0] * u[..., 1])  # noqa: E731
    v1, vh = _conditional_variance(h, 2, (0,), grid=1000)
    np.testing.assert_allclose(ref.first_order[0] * ref.variance, v1, rtol=1e-4)
    np.testing.assert_allclose(
        (ref.total_order[0] - ref.first_order[0]) * ref.variance, vh - 2 * v1, rtol=1e-3
    )
    x = jax.random.uniform(jax.random.key(1), (400_000, 5), dtype=jnp.float64)
    y = np.asarray(friedman1(x))
    # sample variance within 5 standard errors (se of a variance ~ sd(y^2-ish)/sqrt(n))
    se = np.std((y - y.mean()) ** 2) / np.sqrt(len(y))
    assert abs(y.var() - ref.variance) < 5 * se


@pytest.mark.slow
def test_borehole_value_and_gradient(x64):
    x = jnp.array([0.1, 1000.0, 90000.0, 1050.0, 90.0, 760.0, 1400.0, 11000.0])
    assert float(borehole(x)) == pytest.approx(71.2965, rel=1e-5)
    g = jax.grad(borehole)(x)
    eps = 1e-6 * x[0]
    fd = (borehole(x.at[0].add(eps)) - borehole(x.at[0].add(-eps))) / (2 * eps)
    assert float(g[0]) == pytest.approx(float(fd), rel=1e-6)
    assert len(borehole_factors()) == 8


def test_bad_input():
    with pytest.raises(ValueError, match="x"):
        ishigami(jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="a"):
        sobol_g_indices([-1.0])
    with pytest.raises(ValueError, match="num_dims"):
        friedman1_indices(3)
    with pytest.raises(ValueError, match="x"):
        friedman1(jnp.zeros(4))
