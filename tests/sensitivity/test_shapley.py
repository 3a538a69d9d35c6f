"""Shapley effects of Gaussian inputs: subset weights against the average over all orders,
linear Gaussian closed form with correlation, an interaction, coverage, bad input."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.sensitivity import shapley_effects
from edtjax.sensitivity.shapley import _subset_weights

BETA = np.array([1.0, 2.0, 1.5])
SIGMA = np.array([1.0, 1.0, 2.0])
RHO = 0.6


def _cov():
    corr = np.eye(3)
    corr[1, 2] = corr[2, 1] = RHO
    return corr * np.outer(SIGMA, SIGMA)


def _exact_cost(beta, cov, subset):
    """``E[Var(Y | X_-J)] = beta_J' (S_JJ - S_J,-J S_-J^-1 S_-J,J) beta_J`` for ``Y = beta . X``."""
    j = list(subset)
    rest = [k for k in range(len(beta)) if k not in subset]
    s = cov[np.ix_(j, j)]
    if rest:
        s = s - cov[np.ix_(j, rest)] @ np.linalg.solve(
            cov[np.ix_(rest, rest)], cov[np.ix_(rest, j)]
        )
    return float(beta[j] @ s @ beta[j]) if j else 0.0


def _shapley_by_orders(cost, d):
    """Owen's definition: the marginal cost of each input averaged over all d! orders."""
    sh = np.zeros(d)
    for order in itertools.permutations(range(d)):
        for pos, i in enumerate(order):
            before = frozenset(order[:pos])
            sh[i] += cost(before | {i}) - cost(before)
    return sh / math.factorial(d)


def _closed_form():
    """Iooss and Prieur (2019): X1 independent, corr(X2, X3) = rho."""
    b, s = BETA, SIGMA
    cross = RHO * b[1] * b[2] * s[1] * s[2]
    sh2 = b[1] ** 2 * s[1] ** 2 * (1 - RHO**2 / 2) + b[2] ** 2 * s[2] ** 2 * RHO**2 / 2 + cross
    sh3 = b[2] ** 2 * s[2] ** 2 * (1 - RHO**2 / 2) + b[1] ** 2 * s[1] ** 2 * RHO**2 / 2 + cross
    return np.array([b[0] ** 2 * s[0] ** 2, sh2, sh3])


def _linear(x):
    return x @ jnp.asarray(BETA, x.dtype)


def test_subset_weights_reproduce_all_orders_and_closed_form():
    cov = _cov()
    cost = lambda subset: _exact_cost(BETA, cov, sorted(subset))  # noqa: E731
    by_orders = _shapley_by_orders(cost, 3)
    np.testing.assert_allclose(by_orders, _closed_form(), rtol=1e-12)
    for d in (3, 4):
        masks, coef = _subset_weights(d)
        beta = np.arange(1.0, d + 1)
        cov_d = 0.3 * np.ones((d, d)) + 0.7 * np.eye(d)
        costs = np.array([_exact_cost(beta, cov_d, np.flatnonzero(m)) for m in masks])
        total = _exact_cost(beta, cov_d, range(d))
        from_weights = coef @ costs + total / d
        cost_d = lambda subset: _exact_cost(beta, cov_d, sorted(subset))  # noqa: B023, E731
        np.testing.assert_allclose(from_weights, _shapley_by_orders(cost_d, d), rtol=1e-12)
        np.testing.assert_allclose(coef.sum(axis=0), 0.0, atol=1e-12)


def test_linear_gaussian_with_correlation():
    # Each estimate is within 5 standard errors of the closed form (normal tail 6e-7); the
    # effects sum to 1 by construction.
    exact = _closed_form() / float(BETA @ _cov() @ BETA)
    r = shapley_effects(jax.random.key(0), _linear, jnp.zeros(3), jnp.asarray(_cov(), jnp.float32))
    assert float(r.shapley.sum()) == pytest.approx(1.0, abs=1e-5)
    se = np.asarray(r.stderr)
    assert np.all((se > 0) & (se < 0.02))
    assert np.all(np.abs(np.asarray(r.shapley) - exact) < 5 * se), (r.shapley, exact)
    lo, hi = (np.asarray(v) for v in r.interval)
    np.testing.assert_allclose(hi - lo, 2 * 1.959964 * se, rtol=1e-4)


def test_interaction_and_inert_inputs():
    # Y = X1 X2 (+ 0 X3 + 0 X4), independent standard normals: Var(Y) = 1 is all interaction,
    # shared equally: Sh = (1/2, 1/2, 0, 0); each estimate within 5 standard errors.
    r = shapley_effects(
        jax.random.key(1),
        lambda x: x[..., 0] * x[..., 1],
        jnp.zeros(4),
        jnp.eye(4),
        num_outer=1000,
    )
    exact = np.array([0.5, 0.5, 0.0, 0.0])
    assert np.all(np.abs(np.asarray(r.shapley) - exact) < 5 * np.asarray(r.stderr) + 1e-6)


def test_bad_input(key):
    with pytest.raises(ValueError, match="mean must have 2 to 12"):
        shapley_effects(key, _linear, jnp.zeros(1), jnp.eye(1))
    with pytest.raises(ValueError, match=r"cov must have shape \(3, 3\)"):
        shapley_effects(key, _linear, jnp.zeros(3), jnp.eye(2))
    with pytest.raises(ValueError, match="symmetric"):
        shapley_effects(key, _linear, jnp.zeros(3), jnp.eye(3).at[0, 1].set(0.5))
    with pytest.raises(ValueError, match="positive definite"):
        shapley_effects(key, _linear, jnp.zeros(3), jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="num_inner"):
        shapley_effects(key, _linear, jnp.zeros(3), jnp.eye(3), num_inner=1)
    with pytest.raises(ValueError, match="confidence"):
        shapley_effects(key, _linear, jnp.zeros(3), jnp.eye(3), confidence=1.5)


@pytest.mark.slow
def test_no_retrace_and_grad_in_the_correlation(x64):
    from edtjax.sensitivity.shapley import _shapley_core

    def effects(rho, seed=2):
        key = jax.random.key(seed)
        cov = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, rho], [0.0, rho, 1.0]])
        return shapley_effects(key, _linear, jnp.zeros(3), cov, num_outer=200).shapley[1]

    effects(0.3)
    before = _shapley_core._cache_size()
    effects(0.5, 3)
    assert _shapley_core._cache_size() == before
    # common random numbers: the estimate is a smooth function of rho
    h = 1e-6
    fd = (effects(0.4 + h) - effects(0.4 - h)) / (2 * h)
    assert float(jax.grad(effects)(0.4)) == pytest.approx(float(fd), rel=1e-5)


@pytest.mark.slow
def test_interval_coverage():
    # 200 replications with num_outer = 500: the 95% intervals cover each closed-form effect at
    # a rate within 5 binomial sd of 0.95 (> 0.873).
    exact = _closed_form() / float(BETA @ _cov() @ BETA)
    cov = jnp.asarray(_cov(), jnp.float32)
    reps, hits = 200, []
    for i in range(reps):
        r = shapley_effects(
            jax.random.key(100 + i), _linear, jnp.zeros(3), cov, num_outer=500, num_variance=2000
        )
        lo, hi = (np.asarray(v) for v in r.interval)
        hits.append((lo <= exact) & (exact <= hi))
    coverage = np.mean(hits, axis=0)
    assert np.all(coverage > 0.95 - 5 * np.sqrt(0.95 * 0.05 / reps)), coverage
