"""Tests for edtjax.surrogates.subsampling: the penalty method on mini-batches (PBNN)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.mcmc import derived_error, gamma_method, run_chains
from edtjax.surrogates import (
    PenaltyInfo,
    PenaltyState,
    PosteriorSamples,
    Predictive,
    Surrogate,
    bnn_log_density,
    mlp,
    pbnn_sample,
    penalty_kernel,
    subsampling,
)
from edtjax.surrogates._bnn_model import gaussian_log_likelihood_terms, gaussian_log_prior

TAU, S2 = 1.0, 0.25


def _linear(p):
    return Surrogate(
        lambda key, x: {"w": jnp.zeros((p, 1))},
        lambda params, x, key=None: Predictive(mean=x @ params["w"]),
    )


def _regression(n, p=2, seed=11):
    """Conjugate Bayesian linear regression: exact Gaussian posterior mean and covariance."""
    k1, k2 = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(k1, (n, p))
    w = jnp.array([1.0, -0.5])[:p]
    y = (x @ w)[:, None] + jnp.sqrt(S2) * jax.random.normal(k2, (n, 1))
    cov = jnp.linalg.inv(x.T @ x / S2 + jnp.eye(p) / TAU**2)
    return x, y, cov @ x.T @ y[:, 0] / S2, cov


def _mean_and_variance_errors(w, mean, var):
    """Deviations of the chain mean and variance from the exact values, in Gamma-method SEs."""
    g = gamma_method(w)
    v = derived_error(lambda m: m["m2"] - m["m1"] ** 2, {"m1": w, "m2": w**2})
    return float((g.mean - mean) / g.error), float((v.mean - var) / v.error), float(v.mean / var)


@pytest.mark.slow
def test_pbnn_recovers_conjugate_posterior():
    """N = 400, mini-batches of 100, step size adapted to a mean acceptance of 0.6 (noise
    variance of the energy estimate of order 1, where the Gaussian-noise assumption behind the
    penalty is accurate): posterior means and variances within 5 Gamma-method standard errors
    (false-failure rate below 1e-5 per check for Gaussian estimators)."""
    x, y, mean, cov = _regression(400)
    init = {"w": jnp.broadcast_to(mean[:, None], (8, 2, 1))}
    out = pbnn_sample(
        jax.random.key(1), _linear(2), x, y, init, batch_size=100, prior_scale=TAU,
        noise_variance=S2, step_size=0.01, num_warmup=1000, num_samples=10000,
    )  # fmt: skip
    assert isinstance(out, PosteriorSamples)
    chex.assert_shape(out.samples["w"], (8, 10000, 2, 1))
    assert out.divergences.shape == (8,) and int(jnp.sum(out.divergences)) == 0
    # dual averaging reaches its target to within its O(1 / sqrt(num_warmup)) fluctuation
    assert np.all(np.abs(np.asarray(out.acceptance_rate) - 0.6) < 0.1), out.acceptance_rate
    assert int(out.gradient_evaluations) == 8 * 10000 * 2
    w = np.asarray(out.samples["w"][..., 0])
    for i in range(2):
        dmean, dvar, ratio = _mean_and_variance_errors(w[..., i], mean[i], cov[i, i])
        assert abs(dmean) < 5 and abs(dvar) < 5, (i, dmean, dvar, ratio)


def _symmetric_location_problem(n=400):
    """Gaussian mean with data symmetric about 1: the per-example log-likelihood differences
    are linear in y, so the mini-batch energy estimate is Gaussian up to its fourth cumulant
    (no skewness), the regime where the penalty method is exact."""
    z = jax.random.normal(jax.random.key(3), (n // 2, 1))
    y = 1.0 + jnp.sqrt(S2) * jnp.concatenate([z, -z])
    x = jnp.ones((n, 1))
    var = 1 / (n / S2 + 1 / TAU**2)
    return x, y, var * float(jnp.sum(y)) / S2, var


@pytest.mark.slow
def test_penalty_removes_the_bias_of_naive_subsampling():
    """Same proposals (fixed step, energy noise variance about 3), with and without the penalty.
    With it, mean and variance are within 5 Gamma-method SEs of the exact posterior; without
    it, the variance is inflated by more than 5 SEs (one-sided: noisy uphill moves are accepted
    too often), so the penalty is what makes the sampler correct."""
    x, y, mean, var = _symmetric_location_problem()
    init = {"w": jnp.full((8, 1, 1), mean)}
    results = {}
    for penalty in (True, False):
        out = pbnn_sample(
            jax.random.key(5), _linear(1), x, y, init, batch_size=100, prior_scale=TAU,
            noise_variance=S2, step_size=0.025, num_warmup=0, num_samples=20000,
            penalty=penalty,
        )  # fmt: skip
        w = np.asarray(out.samples["w"][..., 0, 0])
        results[penalty] = (_mean_and_variance_errors(w, mean, var), out.acceptance_rate)
    (dmean, dvar, _), acc_pen = results[True]
    assert abs(dmean) < 5 and abs(dvar) < 5, results
    (_, dvar_naive, ratio_naive), acc_naive = results[False]
    assert dvar_naive > 5, results
    assert ratio_naive > 1
    # the penalty only lowers the acceptance, by about exp(-sigma^2 / 2)
    assert np.all(np.asarray(acc_pen) < np.asarray(acc_naive))


def test_kernel_drives_run_chains(key, tmp_path):
    x, y, mean, _ = _regression(200)

    def log_prior(params):
        return gaussian_log_prior(params, TAU**2)

    def log_likelihood(params, batch):
        return gaussian_log_likelihood_terms(_linear(2), params, *batch, S2)

    kernel = penalty_kernel(
        log_prior, log_likelihood, (x, y), batch_size=50, step_size=0.005,
        num_integration_steps=3,
    )  # fmt: skip
    state = jax.vmap(kernel.init)({"w": jnp.broadcast_to(mean[:, None], (3, 2, 1))})
    assert isinstance(state, PenaltyState)
    res = run_chains(key, kernel, state, 200, num_chains=3, burn_in=50)
    chex.assert_shape(res.traces["w"], (3, 150, 2, 1))
    assert isinstance(res.info, PenaltyInfo)
    acc = np.asarray(res.info.acceptance_rate)
    assert acc.shape == (3,) and np.all((acc > 0) & (acc <= 1))
    assert np.all(np.asarray(res.info.energy_variance) > 0)
    assert np.all(np.asarray(res.info.is_divergent) == 0)
    # checkpointed in two segments, then resumed from the file: bitwise the uninterrupted run
    path = tmp_path / "pbnn.npz"
    kw = dict(num_chains=3, burn_in=50, checkpoint_path=path)
    run_chains(key, kernel, state, 200, checkpoint_every=100, **kw)
    resumed = run_chains(key, kernel, state, 200, resume=True, **kw)
    np.testing.assert_array_equal(resumed.traces["w"], res.traces["w"])


def test_log_likelihood_terms_sum_to_log_density(key):
    net = mlp((4,), 1)
    x = jax.random.normal(key, (7, 1))
    y = jnp.sin(x)
    params = net.init(key, x)
    full = bnn_log_density(net, x, y, prior_scale=0.7, noise_variance=0.2)(params)
    terms = gaussian_log_likelihood_terms(net, params, x, y, 0.2)
    chex.assert_shape(terms, (7,))
    np.testing.assert_allclose(gaussian_log_prior(params, 0.49) + terms.sum(), full, rtol=1e-5)


def test_second_call_with_new_data_does_not_retrace(key):
    net = mlp((4,), 1)
    x = jnp.linspace(-1, 1, 40)[:, None]
    init = jax.vmap(lambda k: net.init(k, x))(jax.random.split(key, 2))
    kwargs = dict(batch_size=10, num_warmup=5, num_samples=5)
    pbnn_sample(key, net, x, jnp.sin(x), init, **kwargs)
    before = subsampling._pbnn._cache_size()
    out = pbnn_sample(
        jax.random.key(1), net, x + 0.1, jnp.cos(x), init, step_size=2e-3, prior_scale=0.5,
        **kwargs,
    )  # fmt: skip
    assert subsampling._pbnn._cache_size() == before
    assert jax.tree.leaves(out.samples)[0].shape[:2] == (2, 5)
    assert bool(jnp.all(jnp.isfinite(out.acceptance_rate)))


def test_bad_input(key):
    net = mlp((4,), 1)
    x = np.zeros((20, 1))
    init = jax.vmap(lambda k: net.init(k, x))(jax.random.split(key, 2))
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        pbnn_sample(key, net, x, x, init, batch_size=1)
    with pytest.raises(ValueError, match="batch_size must be <= 20"):
        pbnn_sample(key, net, x, x, init, batch_size=21)
    with pytest.raises(ValueError, match="same length"):
        pbnn_sample(key, net, x, np.zeros((19, 1)), init, batch_size=5)
    with pytest.raises(ValueError, match="y must be finite"):
        pbnn_sample(key, net, x, np.full((20, 1), np.nan), init, batch_size=5)
    with pytest.raises(ValueError, match="step_size"):
        pbnn_sample(key, net, x, x, init, batch_size=5, step_size=0.0)
    with pytest.raises(ValueError, match="target_acceptance"):
        pbnn_sample(key, net, x, x, init, batch_size=5, target_acceptance=1.0)
    with pytest.raises(ValueError, match="noise_variance"):
        pbnn_sample(key, net, x, x, init, batch_size=5, noise_variance=-1.0)
    with pytest.raises(ValueError, match="num_samples"):
        pbnn_sample(key, net, x, x, init, batch_size=5, num_samples=0)
    with pytest.raises(ValueError, match="leading chain axis"):
        pbnn_sample(key, net, x, x, {"w": jnp.zeros(())}, batch_size=5)
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        penalty_kernel(lambda p: 0.0, lambda p, b: b, jnp.zeros(10), batch_size=1, step_size=0.1)
    with pytest.raises(ValueError, match="same length"):
        penalty_kernel(
            lambda p: 0.0, lambda p, b: b[0], (jnp.zeros(10), jnp.zeros(9)), batch_size=2,
            step_size=0.1,
        )  # fmt: skip
    with pytest.raises(ValueError, match="num_integration_steps"):
        penalty_kernel(
            lambda p: 0.0, lambda p, b: b, jnp.zeros(10), batch_size=2, step_size=0.1,
            num_integration_steps=0,
        )  # fmt: skip
