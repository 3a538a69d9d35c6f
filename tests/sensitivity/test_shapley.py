"""Shapley effects: subset weights against the average over all orders, linear Gaussian
closed forms with correlation (exact permutations and the nearest-neighbour given-data
estimator, also on a sampled numpyro law and on pytree factors), an interaction, coverage,
bad input."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

from edtjax.sensitivity import (
    given_data_shapley_effects,
    shapley_effects,
    shapley_effects_from_distribution,
)
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


# --- nearest-neighbour estimator from given data (Broto, Bachoc, Depecker 2020) -------------

# Tolerance of the given-data estimates at n = 2000: over 20 replications of the linear
# Gaussian model below the effects had standard deviations <= 0.0075 and mean errors <= 0.002
# (the nearest-neighbour bias); 5 such deviations (0.04) bound a failure rate below 1e-6 for a
# normal estimator.
N_GIVEN = 2000
TOL_GIVEN = 0.04


def _sample(seed, n=N_GIVEN):
    cov = jnp.asarray(_cov(), jnp.float32)
    return jax.random.multivariate_normal(jax.random.key(seed), jnp.zeros(3), cov, (n,))


def _closed_form_2(beta, sigma, rho):
    """d = 2: Sh_1 = b1^2 s1^2 (1 - rho^2/2) + rho b1 b2 s1 s2 + b2^2 s2^2 rho^2/2 (and 1<->2)."""
    (b1, b2), (s1, s2) = beta, sigma
    cross = rho * b1 * b2 * s1 * s2
    sh1 = b1**2 * s1**2 * (1 - rho**2 / 2) + cross + b2**2 * s2**2 * rho**2 / 2
    sh2 = b2**2 * s2**2 * (1 - rho**2 / 2) + cross + b1**2 * s1**2 * rho**2 / 2
    return np.array([sh1, sh2])


def test_given_data_linear_gaussian_against_closed_form_and_exact_permutations():
    exact = _closed_form() / float(BETA @ _cov() @ BETA)
    x = _sample(5)
    r = given_data_shapley_effects(jax.random.key(6), x, _linear(x))
    assert float(r.shapley.sum()) == pytest.approx(1.0, abs=1e-5)  # efficiency
    assert np.all(np.abs(np.asarray(r.shapley) - exact) < TOL_GIVEN), (r.shapley, exact)
    assert float(r.variance) == pytest.approx(float(jnp.var(_linear(x), ddof=1)), rel=1e-5)
    lo, hi = (np.asarray(v) for v in r.interval)
    assert np.all((lo < np.asarray(r.shapley)) & (np.asarray(r.shapley) < hi))
    assert np.all((np.asarray(r.stderr) > 0) & (np.asarray(r.stderr) < 0.02))
    # the peer on the same model: Song-Nelson-Staum with the known Gaussian law (its own
    # 5 standard errors added to the given-data tolerance)
    peer = shapley_effects(jax.random.key(7), _linear, jnp.zeros(3), jnp.asarray(_cov()))
    gap = np.abs(np.asarray(r.shapley) - np.asarray(peer.shapley))
    assert np.all(gap < TOL_GIVEN + 5 * np.asarray(peer.stderr)), (r.shapley, peer.shapley)


def test_closed_form_for_two_inputs_and_sampling_a_numpyro_law():
    beta, sigma, rho = np.array([1.0, -0.5]), np.array([1.0, 2.0]), 0.7
    cov = np.array([[1.0, rho], [rho, 1.0]]) * np.outer(sigma, sigma)
    cost = lambda subset: _exact_cost(beta, cov, sorted(subset))  # noqa: E731
    variance = float(beta @ cov @ beta)
    exact = _closed_form_2(beta, sigma, rho)
    np.testing.assert_allclose(_shapley_by_orders(cost, 2), exact, rtol=1e-12)
    law = dist.MultivariateNormal(jnp.zeros(2), jnp.asarray(cov, jnp.float32))
    model = lambda x: x @ jnp.asarray(beta, x.dtype)  # noqa: E731
    r = shapley_effects_from_distribution(jax.random.key(8), model, law, N_GIVEN)
    assert np.all(np.abs(np.asarray(r.shapley) - exact / variance) < TOL_GIVEN), r.shapley
    # the same draws handed over as data give the same result
    k_sample, k_boot = jax.random.split(jax.random.key(8))
    x = law.sample(k_sample, (N_GIVEN,))
    again = given_data_shapley_effects(k_boot, x, model(x))
    np.testing.assert_allclose(again.shapley, r.shapley, rtol=1e-6)


def test_given_data_pytree_factors_and_vector_outputs():
    x = _sample(9, 600)
    y = _linear(x)
    base = given_data_shapley_effects(jax.random.key(10), x, y)
    # one leaf per column: the same estimate, arranged like x
    tree = given_data_shapley_effects(
        jax.random.key(10), {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]}, y
    )
    for i, name in enumerate("abc"):
        assert float(tree.shapley[name]) == pytest.approx(float(base.shapley[i]), rel=1e-5)
        assert float(tree.interval.high[name]) == pytest.approx(float(base.interval.high[i]))
    # an affine copy of the output as a second component: the same effects per component
    both = given_data_shapley_effects(jax.random.key(10), x, jnp.stack([y, 2 * y + 1], 1))
    assert both.shapley.shape == (3, 2) and both.variance.shape == (2,)
    np.testing.assert_allclose(both.shapley[:, 0], base.shapley, rtol=1e-5)
    np.testing.assert_allclose(both.shapley[:, 1], base.shapley, rtol=1e-4)
    # a two-column factor: (X2, X3) together against the independent X1
    pair = given_data_shapley_effects(jax.random.key(11), {"x1": x[:, 0], "x23": x[:, 1:]}, y)
    share = BETA[0] ** 2 * SIGMA[0] ** 2 / float(BETA @ _cov() @ BETA)
    # at n = 600 (a one-column neighbour search for each cost) the replication sd is <= 0.012
    assert float(pair.shapley["x1"]) == pytest.approx(share, abs=0.06)
    assert float(pair.shapley["x1"] + pair.shapley["x23"]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_given_data_jit_cache_and_gradient_in_y(x64):
    from edtjax.sensitivity.shapley import _given_data_core

    x = np.asarray(_sample(12, 200), np.float64)
    y = _linear(jnp.asarray(x)) + 0.3 * jnp.sin(jnp.asarray(x[:, 0]) * 3.0)

    def first(v):
        return given_data_shapley_effects(jax.random.key(13), x, v, num_batches=4).shapley[0]

    first(y)
    before = _given_data_core._cache_size()
    first(y + 1.0)
    assert _given_data_core._cache_size() == before
    # the neighbours depend on x only: the effects are smooth in y
    direction = jnp.asarray(np.random.default_rng(0).normal(size=200))
    h = 1e-6
    fd = (first(y + h * direction) - first(y - h * direction)) / (2 * h)
    assert float(jax.grad(first)(y) @ direction) == pytest.approx(float(fd), rel=1e-5)


def test_given_data_bad_input(key):
    x = _sample(14, 50)
    y = _linear(x)
    kw = {"num_batches": 2}
    with pytest.raises(ValueError, match="2 to 12 factors"):
        given_data_shapley_effects(key, x[:, :1], y, **kw)
    with pytest.raises(ValueError, match=r"y must have shape \(50, ...\)"):
        given_data_shapley_effects(key, x, y[:10], **kw)
    with pytest.raises(ValueError, match="num_neighbours"):
        given_data_shapley_effects(key, x, y, num_neighbours=1, **kw)
    with pytest.raises(ValueError, match="num_batches must leave at least 26 rows"):
        given_data_shapley_effects(key, x, y, num_neighbours=25, **kw)
    with pytest.raises(ValueError, match="num_batches must leave at least 25 rows"):
        given_data_shapley_effects(key, x, y)
    with pytest.raises(ValueError, match="num_batches"):
        given_data_shapley_effects(key, x, y, num_batches=1)
    with pytest.raises(ValueError, match="constant column"):
        given_data_shapley_effects(key, x.at[:, 1].set(0.0), y, **kw)
    with pytest.raises(ValueError, match="constant component"):
        given_data_shapley_effects(key, x, jnp.zeros(50), **kw)
    with pytest.raises(ValueError, match=r"x\['b'\] must have shape \(n, ...\)"):
        given_data_shapley_effects(key, {"a": x[:, 0], "b": x[:10, 1]}, y, **kw)
    with pytest.raises(ValueError, match="law must be a numpyro distribution"):
        shapley_effects_from_distribution(key, _linear, "normal", 100)
    with pytest.raises(ValueError, match="event_shape"):
        shapley_effects_from_distribution(key, _linear, dist.Normal(jnp.zeros(3), 1.0), 100)
    with pytest.raises(ValueError, match="model must map"):
        law = dist.MultivariateNormal(jnp.zeros(3), jnp.eye(3))
        shapley_effects_from_distribution(key, lambda x: x.sum(), law, 100)


@pytest.mark.slow
def test_given_data_interval_coverage():
    # 200 replications at n = 1000: the 95% batch-means intervals cover each closed-form
    # effect at a rate within 5 binomial sd of 0.95 (> 0.873).
    exact = _closed_form() / float(BETA @ _cov() @ BETA)
    reps, hits = 200, []
    for i in range(reps):
        x = _sample(300 + i, 1000)
        r = given_data_shapley_effects(jax.random.key(600 + i), x, _linear(x))
        lo, hi = (np.asarray(v) for v in r.interval)
        hits.append((lo <= exact) & (exact <= hi))
    coverage = np.mean(hits, axis=0)
    assert np.all(coverage > 0.95 - 5 * np.sqrt(0.95 * 0.05 / reps)), coverage
