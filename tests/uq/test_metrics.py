"""Tests for edtjax.uq.metrics."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import gammaln

from edtjax.uq import (
    crps_gaussian,
    crps_samples,
    energy_score,
    gaussian_interval,
    gaussian_nll,
    interval_coverage,
    interval_score,
    interval_width,
    sample_nll,
    sharpness,
)


def _fd_grad(f, args, argnum, eps=1e-6):
    """Central differences for every entry of args[argnum], all in one vmapped call."""
    x = args[argnum]
    steps = eps * jnp.eye(x.size, dtype=x.dtype).reshape((x.size, *x.shape))

    def at(z):
        return f(*[z if i == argnum else a for i, a in enumerate(args)])

    values = jax.vmap(lambda d: at(x + d) - at(x - d))(steps)
    return np.asarray(values) / (2 * eps)


def test_gaussian_nll_matches_scipy():
    y, mu, var = np.array([0.3, -1.0]), np.array([0.1, 0.5]), np.array([0.4, 2.0])
    expected = -np.mean(stats.norm.logpdf(y, mu, np.sqrt(var)))
    np.testing.assert_allclose(gaussian_nll(y, mu, var), expected, rtol=1e-6)


@pytest.mark.parametrize("y, mu, sigma", [(0.0, 0.0, 1.0), (1.3, -0.2, 0.7), (-2.0, 0.5, 2.5)])
def test_crps_gaussian_equals_integral_definition(y, mu, sigma):
    """CRPS = int (F(x) - 1{x >= y})^2 dx, integrated numerically by scipy."""
    left, _ = integrate.quad(lambda x: stats.norm.cdf(x, mu, sigma) ** 2, -np.inf, y)
    right, _ = integrate.quad(lambda x: stats.norm.sf(x, mu, sigma) ** 2, y, np.inf)
    got = crps_gaussian(jnp.array([y]), jnp.array([mu]), jnp.array([sigma**2]))
    np.testing.assert_allclose(got, left + right, rtol=1e-5)


def test_crps_samples_equals_brute_force_pair_sum(key):
    draws = jax.random.normal(key, (37, 4, 2))
    y = jnp.linspace(-1, 1, 8).reshape(4, 2)
    brute = jnp.mean(jnp.abs(draws - y), axis=0) - 0.5 * jnp.mean(
        jnp.abs(draws[:, None] - draws[None]), axis=(0, 1)
    )
    np.testing.assert_allclose(crps_samples(y, draws), jnp.mean(brute), rtol=1e-5)


def test_crps_samples_converges_to_closed_form(key):
    """With s = 20000 normal draws the Monte Carlo error is ~ 0.003; allow 5 of those."""
    draws = 0.8 * jax.random.normal(key, (20000, 3, 1)) + 0.2
    y = jnp.array([[-1.0], [0.2], [1.5]])
    exact = crps_gaussian(y, jnp.full_like(y, 0.2), jnp.full_like(y, 0.64))
    np.testing.assert_allclose(crps_samples(y, draws), exact, atol=0.015)


def test_fair_crps_and_energy_score_equal_brute_force_off_diagonal_sums(key):
    """Fair: the pair sum over k != l divided by s(s - 1) (Ferro 2014, eq. 4)."""
    draws = jax.random.normal(key, (7, 4, 2))
    y = jnp.linspace(-1, 1, 8).reshape(4, 2)
    pair = jnp.abs(draws[:, None] - draws[None])  # (s, s, n, d), zero diagonal
    brute = jnp.mean(jnp.abs(draws - y), axis=0) - jnp.sum(pair, axis=(0, 1)) / (2 * 7 * 6)
    np.testing.assert_allclose(crps_samples(y, draws, fair=True), jnp.mean(brute), rtol=1e-5)
    np.testing.assert_allclose(
        energy_score(y[:, :1], draws[..., :1], fair=True),
        crps_samples(y[:, :1], draws[..., :1], fair=True),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="samples must hold at least 2"):
        crps_samples(y, draws[:1], fair=True)
    with pytest.raises(ValueError, match="samples must hold at least 2"):
        energy_score(y, draws[:1], fair=True)


def _per_point(score, y, samples, **kw):
    """Score of each of the n forecasts separately: (n,) from y (n, d), samples (s, n, d)."""
    return jax.vmap(lambda yy, xx: score(yy[None], xx[:, None], **kw), in_axes=(0, 1))(y, samples)


@pytest.mark.slow
def test_fair_crps_is_unbiased_for_the_gaussian_closed_form(key):
    """E[fair CRPS of s draws of N(mu, sigma^2)] = CRPS(N(mu, sigma^2), y) (Gneiting & Raftery
    2007, eq. 21), while the plug-in estimate exceeds it by E|X - X'| / (2s) = sigma /
    (sqrt(pi) s) (Ferro 2014; Zamo & Naveau 2018). n = 20000 independent forecasts of s = 5
    draws, each with its own mu, sigma and y; the mean error over forecasts is tested at 5 of
    its standard errors (false-failure rate ~6e-7 per check). The bias (0.14 on average) is
    about 40 standard errors, so the plug-in estimate fails the unbiasedness check.
    """
    n, s = 20000, 5
    k1, k2, k3, k4 = jax.random.split(key, 4)
    mu = jax.random.normal(k1, (n, 1))
    sigma = jax.random.uniform(k2, (n, 1), minval=0.5, maxval=2.0)
    y = mu + 1.3 * sigma * jax.random.normal(k3, (n, 1))
    draws = mu + sigma * jax.random.normal(k4, (s, n, 1))
    z = np.asarray((y - mu) / sigma, np.float64)[:, 0]
    sd = np.asarray(sigma, np.float64)[:, 0]
    exact = sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    bias = sd / (np.sqrt(np.pi) * s)

    fair = np.asarray(_per_point(crps_samples, y, draws, fair=True), np.float64) - exact
    plain = np.asarray(_per_point(crps_samples, y, draws), np.float64) - exact
    assert abs(fair.mean()) < 5 * fair.std() / np.sqrt(n), (fair.mean(), fair.std())
    assert abs((plain - bias).mean()) < 5 * plain.std() / np.sqrt(n)
    assert plain.mean() > 20 * plain.std() / np.sqrt(n)  # the plug-in bias is detected


@pytest.mark.slow
def test_fair_energy_score_is_unbiased_for_the_gaussian_closed_form(key):
    """Isotropic N(0, sigma^2 I_3) forecasts of y = 0: E||X|| = sigma c_d with c_d =
    sqrt(2) Gamma((d+1)/2) / Gamma(d/2) and E||X - X'|| = sqrt(2) sigma c_d, so
    ES = sigma c_d (1 - 1/sqrt 2); the plug-in estimate of s draws exceeds it by
    sqrt(2) sigma c_d / (2s). n = 20000 forecasts of s = 4 draws, 5 standard errors.
    """
    n, s, d = 20000, 4, 3
    k1, k2 = jax.random.split(key)
    sigma = jax.random.uniform(k1, (n, 1), minval=0.5, maxval=2.0)
    draws = sigma * jax.random.normal(k2, (s, n, d))
    y = jnp.zeros((n, d))
    c_d = np.sqrt(2) * np.exp(gammaln((d + 1) / 2) - gammaln(d / 2))
    sd = np.asarray(sigma, np.float64)[:, 0]
    exact = sd * c_d * (1 - 1 / np.sqrt(2))
    bias = np.sqrt(2) * sd * c_d / (2 * s)

    fair = np.asarray(_per_point(energy_score, y, draws, fair=True), np.float64) - exact
    plain = np.asarray(_per_point(energy_score, y, draws), np.float64) - exact
    assert abs(fair.mean()) < 5 * fair.std() / np.sqrt(n), (fair.mean(), fair.std())
    assert abs((plain - bias).mean()) < 5 * plain.std() / np.sqrt(n)
    assert plain.mean() > 20 * plain.std() / np.sqrt(n)


def test_energy_score_reduces_to_crps_in_one_dimension(key):
    draws = jax.random.normal(key, (50, 6, 1))
    y = jnp.linspace(-2, 2, 6)[:, None]
    np.testing.assert_allclose(energy_score(y, draws), crps_samples(y, draws), rtol=1e-5)


@pytest.mark.slow
def test_energy_score_prefers_true_correlation(key):
    """The energy score is proper: the true correlated Gaussian beats an independent one."""
    k1, k2, k3 = jax.random.split(key, 3)
    cov = jnp.array([[1.0, 0.9], [0.9, 1.0]])
    chol = jnp.linalg.cholesky(cov)
    y = jax.random.normal(k1, (200, 2)) @ chol.T
    good = jax.random.normal(k2, (100, 200, 2)) @ chol.T
    bad = jax.random.normal(k3, (100, 200, 2))
    assert float(energy_score(y, good)) < float(energy_score(y, bad))


def test_sample_nll_matches_scipy_kde(key):
    draws = jax.random.normal(key, (500, 3, 1))
    y = jnp.array([[0.0], [1.0], [-2.0]])
    expected = -np.mean(
        [
            stats.gaussian_kde(np.asarray(draws[:, i, 0]), "silverman").logpdf(y[i, 0])
            for i in range(3)
        ]
    )
    np.testing.assert_allclose(sample_nll(y, draws), expected, rtol=1e-4)


def test_interval_metrics_exact():
    y = jnp.array([0.0, 2.0, -3.0])
    lo, hi = -jnp.ones(3), jnp.ones(3)
    assert float(interval_coverage(y, lo, hi)) == pytest.approx(1 / 3)
    assert float(interval_width(lo, hi)) == 2.0
    # widths 2 each; penalties 2/0.1 * 1 and 2/0.1 * 2
    assert float(interval_score(y, lo, hi, 0.1)) == pytest.approx((6 + 20 + 40) / 3)
    assert float(sharpness(jnp.array([1.0, 2.0, 3.0]))) == 2.0
    lo, hi = gaussian_interval(jnp.zeros(1), jnp.full(1, 4.0), 0.05)
    np.testing.assert_allclose(hi, 2 * stats.norm.ppf(0.975), rtol=1e-6)


@pytest.mark.slow
def test_gradients_match_finite_differences(x64):
    y = jnp.array([0.3, -1.0, 2.0])
    mu = jnp.array([0.1, 0.5, 1.0])
    var = jnp.array([0.4, 2.0, 0.3])
    for f in (crps_gaussian, gaussian_nll):
        for argnum in (1, 2):
            g = jax.jit(jax.grad(f, argnums=argnum))(y, mu, var)
            np.testing.assert_allclose(g, _fd_grad(f, [y, mu, var], argnum), rtol=1e-6)
    lo, hi = jnp.array([-1.0, 0.0, 1.5]), jnp.array([1.0, 1.0, 2.5])
    g = jax.jit(jax.grad(interval_score, argnums=(1, 2)))(y, lo, hi, 0.2)
    np.testing.assert_allclose(g[0], _fd_grad(interval_score, [y, lo, hi, 0.2], 1), rtol=1e-6)
    np.testing.assert_allclose(g[1], _fd_grad(interval_score, [y, lo, hi, 0.2], 2), rtol=1e-6)
    draws = jax.random.normal(jax.random.key(1), (6, 2, 2), dtype=jnp.float64)
    y2 = jnp.zeros((2, 2))
    g = jax.jit(jax.grad(energy_score, argnums=1))(y2, draws)
    f = lambda d: energy_score(y2, d.reshape(draws.shape))  # noqa: E731
    fd = _fd_grad(f, [draws.ravel()], 0)
    np.testing.assert_allclose(g.ravel(), fd, rtol=1e-5, atol=1e-9)


def test_jit_and_vmap(key):
    draws = jax.random.normal(key, (10, 4, 1))
    y = jnp.zeros((5, 4, 1))
    out = jax.jit(jax.vmap(crps_samples, in_axes=(0, None)))(y, draws)
    chex.assert_shape(out, (5,))
