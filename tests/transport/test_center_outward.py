"""Smooth center-outward functions: spherical closed forms, inversion, gradients, bad input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from edtjax.transport import (
    center_outward_distribution,
    center_outward_fit,
    center_outward_quantile,
    monge_kantorovich_depth,
    quantile_contour,
    quantile_region,
)
from edtjax.transport import sinkhorn as sk


@pytest.fixture(scope="module")
def small_fit():
    return center_outward_fit(jax.random.normal(jax.random.key(0), (20, 2)))


def _error_budget(fit, n, d, mean_radius):
    """Tolerance for the mean error of F+- against its closed form.

    Sum of (i) half the radial grid spacing, (ii) half the angular spacing of the directions
    times the mean radius, (iii) 5 standard errors of an empirical CDF, 5 * 0.5 / sqrt(n).
    """
    n_r = max(round(n ** (1 / d)), 1)
    n_s = n // n_r
    angular = 2 * np.pi / n_s if d == 2 else np.sqrt(4 * np.pi / n_s)
    return 0.5 / (n_r + 1) + 0.5 * angular * mean_radius + 5 * 0.5 / np.sqrt(n)


@pytest.mark.parametrize("d", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_gaussian_matches_chi_closed_form(key, d):
    # Spherical law: F+-(y) = F_R(|y|) y/|y| with F_R the chi(d) CDF.
    n = 1000
    k1, k2 = jax.random.split(key)
    fit = center_outward_fit(jax.random.normal(k1, (n, d)))
    q = np.asarray(jax.random.normal(k2, (400, d)), dtype=np.float64)
    r = np.linalg.norm(q, axis=1)
    q, r = q[r < stats.chi.ppf(0.95, d)], r[r < stats.chi.ppf(0.95, d)]
    truth = stats.chi.cdf(r, d)[:, None] * q / r[:, None]
    err = np.linalg.norm(np.asarray(center_outward_distribution(fit, q)) - truth, axis=1)
    assert err.mean() < _error_budget(fit, n, d, np.linalg.norm(truth, axis=1).mean())
    depth = np.asarray(monge_kantorovich_depth(fit, q))
    np.testing.assert_allclose(depth, 1 - np.linalg.norm(truth, axis=1), atol=3 * err.max())


@pytest.mark.slow
def test_uniform_ball_gives_identity(key):
    n, d = 1000, 2
    k1, k2, k3, k4 = jax.random.split(key, 4)
    directions = jax.random.normal(k1, (n, d))
    directions = directions / jnp.linalg.norm(directions, axis=1, keepdims=True)
    x = jax.random.uniform(k2, (n, 1)) * directions  # |x| ~ U[0,1]: spherical uniform
    fit = center_outward_fit(x)
    u = jax.random.normal(k3, (300, d))
    u = u / jnp.linalg.norm(u, axis=1, keepdims=True) * jax.random.uniform(k4, (300, 1)) * 0.9
    err = np.linalg.norm(np.asarray(center_outward_distribution(fit, u) - u), axis=1)
    assert err.mean() < _error_budget(fit, n, d, 0.45)


def test_one_dimensional_is_two_f_minus_one(key):
    n = 400
    fit = center_outward_fit(jax.random.normal(key, (n, 1)))
    y = np.linspace(-1.5, 1.5, 31)[:, None]
    f = np.asarray(center_outward_distribution(fit, y))[:, 0]
    # 5 standard errors of the empirical CDF (sd <= 0.5/sqrt(n)) on 2F - 1 plus the grid step
    tol = 2 * 5 * 0.5 / np.sqrt(n) + 1 / (n // 2 + 1)
    np.testing.assert_allclose(f, 2 * stats.norm.cdf(y[:, 0]) - 1, atol=tol)


@pytest.mark.slow
@pytest.mark.parametrize("eps", [0.1, 0.03])
def test_quantile_inverts_distribution(key, x64, eps):
    # Q is computed as the inverse of the calibrated F, at every epsilon: Q(F(x)) = x on the
    # sample and F(Q(u)) = u inside the ball, to the Newton tolerance (float64).
    x = jax.random.normal(key, (200, 2)) * jnp.array([1.0, 0.5])
    fit = center_outward_fit(x, epsilon=eps, threshold=1e-6, max_iterations=20_000)
    back = center_outward_quantile(fit, center_outward_distribution(fit, x))
    np.testing.assert_allclose(np.asarray(back), np.asarray(x), atol=1e-6)
    u = 0.9 * jax.random.uniform(jax.random.key(5), (50, 1)) * jnp.array([[0.6, 0.8]])
    np.testing.assert_allclose(
        np.asarray(center_outward_distribution(fit, center_outward_quantile(fit, u))),
        np.asarray(u),
        atol=1e-9,
    )


@pytest.mark.parametrize("d", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_contour_lies_on_the_region_boundary(key, d):
    # Consistency of contour and region (float32): points of the tau contour have |F| = tau,
    # so a step towards the median is inside the region and a step out is not.
    fit = center_outward_fit(jax.random.normal(key, (300, d)))
    median = center_outward_quantile(fit, jnp.zeros((40, d)))
    for tau in (0.5, 0.8, 0.9):
        contour = quantile_contour(fit, tau, 40)  # same shape as the median call: one compile
        norms = jnp.linalg.norm(center_outward_distribution(fit, contour), axis=1)
        np.testing.assert_allclose(np.asarray(norms), tau, atol=1e-4)
        assert bool(quantile_region(fit, median + 0.98 * (contour - median), tau).all())
        assert not bool(quantile_region(fit, median + 1.02 * (contour - median), tau).any())


def test_sample_levels_are_centred_ranks(key, x64):
    # The radial calibration makes |F(x_i)| the centred ranks k/(n+1) of the sample (float64:
    # in float32 two nearly tied raw levels amplify rounding by the slope of G).
    n = 150
    fit = center_outward_fit(jax.random.normal(key, (n, 2)) * jnp.array([2.0, 0.5]))
    norms = np.sort(np.linalg.norm(center_outward_distribution(fit, fit.transport.x), axis=1))
    np.testing.assert_allclose(norms, np.arange(1, n + 1) / (n + 1), atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("d", [2, 3])
def test_quantile_regions_have_content_tau(key, d):
    # Hallin property: the region of order tau holds tau of the fitted law. n = 1000 fit to
    # N(0, I_d), content measured on m = 20000 fresh points. Two errors: Monte Carlo, sd
    # sqrt(tau(1-tau)/m), and the finite-n error of the calibration (an empirical quantile of
    # n scores), sd sqrt(tau(1-tau)/(n+2)); tolerance 5 sd of their sum, a false-failure rate
    # below 1e-5 per check. Before the calibration, d = 3 gave 0.578, 0.944, 1.000.
    n, m = 1000, 20_000
    k1, k2 = jax.random.split(jax.random.fold_in(key, d))
    fit = center_outward_fit(jax.random.normal(k1, (n, d)))
    fresh = jax.random.normal(k2, (m, d))
    norms = np.linalg.norm(np.asarray(center_outward_distribution(fit, fresh)), axis=1)
    for tau in (0.5, 0.8, 0.9):
        sd = np.sqrt(tau * (1 - tau) * (1 / m + 1 / (n + 2)))
        assert abs(np.mean(norms <= tau) - tau) < 5 * sd, (tau, np.mean(norms <= tau))
        contour = quantile_contour(fit, tau, 64)
        on = np.linalg.norm(np.asarray(center_outward_distribution(fit, contour)), axis=1)
        np.testing.assert_allclose(on, tau, atol=1e-4)


def test_contour_beyond_the_outermost_level_is_refused(small_fit):
    with pytest.raises(ValueError, match="tau"):
        quantile_contour(small_fit, 0.97, 8)  # n = 20: outermost level 20/21 = 0.952
    with pytest.raises(ValueError, match="u must lie"):
        center_outward_quantile(small_fit, jnp.array([[0.97, 0.0]]))


@pytest.mark.slow
def test_contour_and_region_of_gaussian(key):
    n, tau = 1000, 0.5
    k1, k2 = jax.random.split(key)
    fit = center_outward_fit(jax.random.normal(k1, (n, 2)))
    contour = np.asarray(quantile_contour(fit, tau, 64))
    radius = stats.chi.ppf(tau, 2)
    np.testing.assert_allclose(
        np.linalg.norm(contour, axis=1).mean(), radius, atol=_error_budget(fit, n, 2, 1) * 2
    )
    fresh = jax.random.normal(k2, (2000, 2))
    inside = np.asarray(quantile_region(fit, fresh, tau))
    # content tau: 5 binomial standard errors plus the mean error budget of F+-
    se = np.sqrt(tau * (1 - tau) / len(fresh))
    assert abs(inside.mean() - tau) < 5 * se + _error_budget(fit, n, 2, tau)
    chex.assert_shape(quantile_contour(fit, 0.0, 3), (3, 2))


@pytest.mark.slow
def test_gradients_match_finite_differences(key, x64):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (40, 2))
    y = jax.random.normal(k2, (3, 2))
    kw = dict(epsilon=0.2, threshold=1e-12, max_iterations=50_000)
    fit = center_outward_fit(x, **kw)
    h = 1e-5  # central differences: truncation O(h^2), solver error 1e-12 / h ~ 1e-7

    def check(fn, z):
        direction = jax.random.normal(jax.random.key(3), z.shape, dtype=z.dtype)
        g = jax.grad(fn)(z)
        fd = (fn(z + h * direction) - fn(z - h * direction)) / (2 * h)
        np.testing.assert_allclose(float(jnp.sum(g * direction)), float(fd), rtol=1e-5)

    check(lambda z: jnp.sum(center_outward_distribution(fit, z) ** 2), y)
    check(lambda z: jnp.sum(monge_kantorovich_depth(fit, z)), y)
    u = 0.5 * y / (1.0 + jnp.linalg.norm(y, axis=1, keepdims=True))  # inside the ball
    check(lambda z: jnp.sum(center_outward_quantile(fit, z)), u)
    check(lambda data: jnp.sum(center_outward_distribution(center_outward_fit(data, **kw), y)), x)


def test_fit_does_not_retrace_and_respects_dtype(key):
    x = jax.random.normal(key, (50, 2))
    fit = center_outward_fit(x)
    before = sk._fit_map_jit._cache_size()
    fit2 = center_outward_fit(2.0 * x + 1.0)
    assert sk._fit_map_jit._cache_size() == before
    chex.assert_type(fit2.transport.f, jnp.float32)
    out = jax.jit(center_outward_distribution)(fit, x[:4])
    chex.assert_type(out, jnp.float32)
    chex.assert_shape(out, (4, 2))


@pytest.mark.parametrize(
    "fn",
    [
        center_outward_distribution,
        # the quantile function's inversion is the costliest compile: slow selection
        pytest.param(center_outward_quantile, marks=pytest.mark.slow),
        monge_kantorovich_depth,
    ],
    ids=lambda fn: fn.__name__,
)
def test_fit_crosses_jit_and_results_agree(small_fit, fn):
    # The fit is a pytree that passes through jit: the functions of it give the same numbers
    # with the fit traced. XLA may fuse and reorder float32 arithmetic by a few ulps: relative
    # 1e-5 (~80 ulps) and absolute 1e-6 near 0. Points inside the unit ball serve as ranks for
    # the quantile function and as data points for the others.
    y = jax.random.normal(jax.random.key(3), (7, 2))
    z = 0.9 * y / (1.0 + jnp.linalg.norm(y, axis=1, keepdims=True))
    eager = fn(small_fit, z)
    jitted = jax.jit(fn)(small_fit, z)
    chex.assert_trees_all_equal_shapes_and_dtypes(jitted, eager)
    chex.assert_tree_all_finite(eager)
    chex.assert_trees_all_close(jitted, eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda fit: quantile_contour(fit, 1.0, 8), "tau"),
        (lambda fit: quantile_contour(fit, -0.1, 8), "tau"),
        (lambda fit: quantile_region(fit, np.zeros((2, 2)), 1.5), "tau"),
        (lambda fit: quantile_contour(fit, 0.5, 0), "num_points"),
        (lambda fit: center_outward_distribution(fit, np.zeros((2, 3))), "columns"),
        (lambda fit: center_outward_distribution(fit, np.array([[np.nan, 0.0]])), "finite"),
        (lambda fit: center_outward_quantile(fit, np.zeros((2, 1))), "columns"),
        (lambda fit: center_outward_fit(np.zeros((1, 2))), "at least 2"),
        (lambda fit: center_outward_fit(np.full((5, 2), np.inf)), "finite"),
        (lambda fit: center_outward_fit(np.eye(5, 2), epsilon=0.0), "epsilon"),
        (lambda fit: center_outward_fit(np.ones((5, 2))), "zero spread"),
    ],
)
def test_bad_input(small_fit, call, match):
    with pytest.raises(ValueError, match=match):
        call(small_fit)
