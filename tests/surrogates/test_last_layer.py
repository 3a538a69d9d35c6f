"""Tests for edtjax.surrogates.last_layer (exact conjugate Bayesian linear regression)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from edtjax.surrogates import (
    mbll_em,
    mbll_posterior,
    mbll_predictive,
    mbll_t_posterior,
    mbll_t_predictive,
    nig_posterior,
    nig_predictive,
)


def _problem(key, n, p, d, noise_cov, scale=None):
    k1, k2, k3 = jax.random.split(key, 3)
    phi = jax.random.normal(k1, (n, p), dtype=jnp.float64)
    w = jax.random.normal(k2, (p, d), dtype=jnp.float64)
    eps = jax.random.normal(k3, (n, d), dtype=jnp.float64) @ jnp.linalg.cholesky(noise_cov).T
    s = jnp.ones(n) if scale is None else scale
    return phi, phi @ w + s[:, None] * eps


def test_nig_matches_joint_gaussian_conditioning_and_sigma_integral(key, x64):
    """Independent route: condition the joint Gaussian of (w, y) and integrate over sigma^2."""
    n, p = 12, 3
    phi, y = _problem(key, n, p, 1, 0.3 * jnp.eye(1))
    y = y[:, 0]
    m0 = jnp.array([0.5, -0.2, 0.1])
    v0 = jnp.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    a0, b0 = 2.0, 0.7
    post = nig_posterior(phi, y, prior_mean=m0, prior_cov=v0, a0=a0, b0=b0)
    phi_n, y_n, m0_n, v0_n = map(np.asarray, (phi, y, m0, v0))
    c = phi_n @ v0_n @ phi_n.T + np.eye(n)
    gain = v0_n @ phi_n.T @ np.linalg.inv(c)
    np.testing.assert_allclose(post.mean, m0_n + gain @ (y_n - phi_n @ m0_n), rtol=1e-10)
    np.testing.assert_allclose(post.cov_factor, v0_n - gain @ phi_n @ v0_n, rtol=1e-9, atol=1e-12)

    # E[sigma^2 | y] by quadrature of p(y | sigma^2) IG(sigma^2; a0, b0)
    def log_joint(t):
        return stats.multivariate_normal.logpdf(y_n, phi_n @ m0_n, t * c) + stats.invgamma.logpdf(
            t, a0, scale=b0
        )

    ref = log_joint(float(post.b / (post.a - 1)))
    z, _ = integrate.quad(lambda t: np.exp(log_joint(t) - ref), 0, np.inf)
    m1, _ = integrate.quad(lambda t: t * np.exp(log_joint(t) - ref), 0, np.inf)
    np.testing.assert_allclose(post.b / (post.a - 1), m1 / z, rtol=1e-7)
    # predictive variance equals that of the t distribution with 2 a_n dof
    x_new = jnp.array([[0.3, -1.0, 2.0]])
    pred = nig_predictive(post, x_new)
    scale2 = post.b / post.a * (1 + x_new[0] @ post.cov_factor @ x_new[0])
    np.testing.assert_allclose(
        pred.variance[0, 0], stats.t(df=float(2 * post.a), scale=np.sqrt(scale2)).var(), rtol=1e-10
    )
    np.testing.assert_allclose(pred.aleatoric[0, 0], post.b / (post.a - 1), rtol=1e-12)


def test_matrix_normal_posterior_matches_kronecker_conditioning(key, x64):
    """vec(W) | Y is Gaussian with covariance K_n kron V: check against brute-force conditioning."""
    n, p, d = 8, 2, 2
    v = jnp.array([[1.0, 0.4], [0.4, 0.6]])
    s = jnp.linspace(0.5, 2.0, n)
    phi, y = _problem(key, n, p, d, v, s)
    k = jnp.array([[1.5, 0.2], [0.2, 0.7]])
    m0 = jnp.array([[0.1, 0.0], [-0.3, 0.2]])
    post = mbll_posterior(phi, y, v, prior_mean=m0, prior_cov=k, noise_scale=s)
    # row-major vec: vec(W)[i*d + j] = W[i, j]; cov(W) = K kron V; Y = Phi W + diag(s) E
    prior_cov = np.kron(np.asarray(k), np.asarray(v))
    design = np.kron(np.asarray(phi), np.eye(d))  # vec(Phi W) = (Phi kron I) vec(W)
    noise = np.kron(np.diag(np.asarray(s) ** 2), np.asarray(v))
    c = design @ prior_cov @ design.T + noise
    gain = prior_cov @ design.T @ np.linalg.inv(c)
    mean = np.asarray(m0).ravel() + gain @ (np.asarray(y).ravel() - design @ np.asarray(m0).ravel())
    cov = prior_cov - gain @ design @ prior_cov
    np.testing.assert_allclose(np.asarray(post.mean).ravel(), mean, rtol=1e-9)
    np.testing.assert_allclose(np.kron(post.col_cov, post.noise_cov), cov, rtol=1e-8, atol=1e-12)
    x_new = jnp.array([[1.0, -0.5]])
    pred, full = mbll_predictive(post, x_new, jnp.array([0.7]), full_cov=True)
    d_new = np.kron(np.asarray(x_new), np.eye(d))
    np.testing.assert_allclose(full[0], d_new @ cov @ d_new.T + 0.49 * np.asarray(v), rtol=1e-9)
    np.testing.assert_allclose(pred.aleatoric[0], 0.49 * jnp.diag(v), rtol=1e-12)


def test_matrix_t_with_one_output_equals_nig(key, x64):
    """IW(nu, psi) in one dimension is IG(nu/2, psi/2): the two posteriors must agree."""
    phi, y = _problem(key, 25, 3, 1, 0.5 * jnp.eye(1))
    mt = mbll_t_posterior(phi, y, dof0=5.0, scale0=jnp.array([[1.4]]))
    nig = nig_posterior(phi, y[:, 0], a0=2.5, b0=0.7)
    x_new = phi[:4] + 0.5
    a, b = mbll_t_predictive(mt, x_new), nig_predictive(nig, x_new)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-10)
    np.testing.assert_allclose(a.variance, b.variance, rtol=1e-10)
    np.testing.assert_allclose(a.aleatoric, b.aleatoric, rtol=1e-10)


@pytest.mark.slow  # n = 4000 with 100 EM iterations in float64: the costliest check here
def test_em_recovers_correlated_noise_covariance(key, x64):
    """n = 4000, p = 5: the ML estimate of V has sd sqrt((V_ii V_jj + V_ij^2) / n); 5 SE."""
    n, p = 4000, 5
    v = jnp.array([[1.0, 0.6, -0.2], [0.6, 0.8, 0.1], [-0.2, 0.1, 0.5]])
    s = 0.5 + jax.random.uniform(jax.random.key(7), (n,), dtype=jnp.float64)
    phi, y = _problem(key, n, p, 3, v, s)
    post, trace = mbll_em(phi, y, iterations=100, noise_scale=s)
    diag = jnp.diag(v)
    se = jnp.sqrt((diag[:, None] * diag[None, :] + v**2) / n)
    assert bool(jnp.all(jnp.abs(post.noise_cov - v) < 5 * se)), (post.noise_cov, v)
    # EM never decreases the evidence (up to round-off)
    assert bool(jnp.all(jnp.diff(trace.log_evidence) > -1e-8 * jnp.abs(trace.log_evidence[1:])))
    # unknown-V conjugate route: posterior mean of V recovers it too
    mt = mbll_t_posterior(phi, y, noise_scale=s)
    ev = mt.scale / (mt.dof - 3 - 1)
    assert bool(jnp.all(jnp.abs(ev - v) < 5 * se))


def test_epistemic_part_shrinks_with_data(key, x64):
    v = jnp.array([[0.5, 0.2], [0.2, 0.4]])
    x_new = jnp.ones((1, 3))
    epistemic = []
    for n in (20, 2000):
        phi, y = _problem(key, n, 3, 2, v)
        pred = mbll_predictive(mbll_posterior(phi, y, v), x_new)
        epistemic.append(float(jnp.sum(pred.variance - pred.aleatoric)))
    # phi^T K_n phi ~ |phi|^2 / n: a 100-fold increase in n shrinks it about 100-fold
    assert epistemic[1] < epistemic[0] / 30


def test_gradients_match_finite_differences(key, x64):
    phi, y = _problem(key, 15, 2, 2, 0.2 * jnp.eye(2))
    x_new = jnp.array([[0.4, -0.3]])

    def f(yy, xx):
        pred = mbll_t_predictive(mbll_t_posterior(phi, yy), xx)
        return jnp.sum(pred.mean) + jnp.sum(jnp.log(pred.variance))

    gy, gx = jax.grad(f, argnums=(0, 1))(y, x_new)
    eps = 1e-6
    for idx in [(0, 0), (3, 1), (9, 0)]:
        fd = (f(y.at[idx].add(eps), x_new) - f(y.at[idx].add(-eps), x_new)) / (2 * eps)
        np.testing.assert_allclose(gy[idx], fd, rtol=1e-5)
    for idx in [(0, 0), (0, 1)]:
        fd = (f(y, x_new.at[idx].add(eps)) - f(y, x_new.at[idx].add(-eps))) / (2 * eps)
        np.testing.assert_allclose(gx[idx], fd, rtol=1e-5)


def test_no_retrace_on_new_data(key):
    from edtjax.surrogates.last_layer import _em, _nig

    phi = jax.random.normal(key, (30, 3))
    y = jax.random.normal(jax.random.key(1), (30, 2))
    nig_posterior(phi, y[:, 0])
    mbll_em(phi, y, iterations=5)
    sizes = (_nig._cache_size(), _em._cache_size())
    nig_posterior(phi + 1, y[:, 1])
    mbll_em(phi - 1, 2 * y, iterations=5)
    assert (_nig._cache_size(), _em._cache_size()) == sizes


def test_bad_input():
    phi = np.ones((5, 2))
    with pytest.raises(ValueError, match="same length"):
        nig_posterior(phi, np.ones(4))
    with pytest.raises(ValueError, match="y must be finite"):
        mbll_em(phi, np.array([[1.0], [np.nan], [0], [0], [0]]))
    with pytest.raises(ValueError, match="noise_cov must be symmetric positive definite"):
        mbll_posterior(phi, np.ones((5, 2)), np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="dof0"):
        mbll_t_posterior(phi, np.ones((5, 2)), dof0=0.5)
    with pytest.raises(ValueError, match="noise_scale must be positive"):
        nig_posterior(phi, np.ones(5), noise_scale=np.zeros(5))
    with pytest.raises(ValueError, match="prior_cov must have shape"):
        nig_posterior(phi, np.ones(5), prior_cov=np.eye(3))
