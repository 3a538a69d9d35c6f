"""HSIC: detects a dependence first-order Sobol' misses; closed-form small case; bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.sensitivity import given_data_first_order, hsic_indices


def _hsic_numpy(x, y):
    """Direct O(n^2) formula tr(K H L H) / n^2 in float64."""
    n = len(x)
    h = np.eye(n) - 1.0 / n

    def gram(v):
        v = v / v.std(ddof=1)
        return np.exp(-0.5 * (v[:, None] - v[None, :]) ** 2)

    return np.trace(gram(x) @ h @ gram(y) @ h) / n**2


@pytest.mark.slow
def test_matches_direct_formula(x64):
    x = jax.random.normal(jax.random.key(0), (50, 2))
    y = jnp.sin(3 * x[:, 0]) + 0.1 * x[:, 1]
    r = hsic_indices(jax.random.key(1), x, y, num_permutations=19)
    for i in range(2):
        assert float(r.hsic[i]) == pytest.approx(_hsic_numpy(np.asarray(x[:, i]), np.asarray(y)))


@pytest.mark.slow
def test_detects_dependence_first_order_sobol_misses():
    # y = x1 x2, x ~ U(-1, 1)^3: E[y | x1] = 0, so S_1 = 0, yet y depends on x1 (its spread).
    # With 199 permutations the smallest p-value is 0.005; an inert x3 gets p > 0.005 except
    # with probability 0.005 under independence.
    x = jax.random.uniform(jax.random.key(2), (400, 3), minval=-1.0, maxval=1.0)
    y = x[:, 0] * x[:, 1]
    r = hsic_indices(jax.random.key(3), x, y)
    assert float(r.p_value[0]) <= 0.005 and float(r.p_value[1]) <= 0.005
    assert float(r.p_value[2]) > 0.005
    assert float(r.r2[0]) > float(r.r2[2])
    # ...while the first-order Sobol' index of x1 is ~0: the rank estimator on a plain sample of
    # 2^14 points has sd <= 0.012 (see test_sensitivity_given_data), so 5 sd = 0.06.
    xb = jax.random.uniform(jax.random.key(4), (2**14, 3), minval=-1.0, maxval=1.0)
    s1 = given_data_first_order(xb, xb[:, 0] * xb[:, 1]).first_order
    assert abs(float(s1[0])) < 0.06 and abs(float(s1[1])) < 0.06


def test_bad_input(key):
    with pytest.raises(ValueError, match="y must have"):
        hsic_indices(key, jnp.ones((5, 2)), jnp.ones(4))
    with pytest.raises(ValueError, match="zero variance"):
        hsic_indices(key, jnp.arange(10.0)[:, None], jnp.ones(10))
    with pytest.raises(ValueError, match="x must"):
        hsic_indices(key, jnp.ones(5), jnp.ones(5))


@pytest.mark.slow
def test_no_retrace_on_new_data():
    from edtjax.sensitivity.hsic import _hsic_core

    x = jax.random.normal(jax.random.key(5), (30, 2))
    hsic_indices(jax.random.key(0), x, x[:, 0] ** 2, num_permutations=9)
    before = _hsic_core._cache_size()
    hsic_indices(jax.random.key(1), x + 1.0, jnp.cos(x[:, 1]), num_permutations=9)
    assert _hsic_core._cache_size() == before
