"""Predictive-spread indicators built from trained surrogates: a deep ensemble's epistemic
variance and a Bayesian last layer's epistemic part, on a 1-D regression (train on [-1, 1])."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.reliability import calibrate, predictive_spread_indicator, spearman_correlation
from edtjax.surrogates import (
    ensemble_predictive,
    fit_ensemble,
    mlp,
    nig_posterior,
    nig_predictive,
)

ALPHA = 0.1
N_CAL = 199
N_IN = 1000
N_GRID = 601


def _target(x):
    return jnp.sin(3.0 * x)


@pytest.fixture(scope="module")
def problem():
    """A 4-member ensemble of one-hidden-layer tanh networks (60 epochs, MSE) on 128 points."""
    k = jax.random.split(jax.random.key(7), 8)
    x = jax.random.uniform(k[0], (128, 1), minval=-1.0, maxval=1.0)
    y = _target(x) + 0.05 * jax.random.normal(k[1], x.shape)
    net = mlp((32,), 1)
    res = fit_ensemble(k[2], net, x, y, members=4, loss="mse", epochs=60, learning_rate=1e-2)
    x_cal = jax.random.uniform(k[3], (N_CAL, 1), minval=-1.0, maxval=1.0)
    x_in = jax.random.uniform(k[4], (N_IN, 1), minval=-1.0, maxval=1.0)
    sign = jnp.where(jax.random.bernoulli(k[5], 0.5, (500, 1)), 1.0, -1.0)
    x_far = sign * jax.random.uniform(k[6], (500, 1), minval=3.0, maxval=5.0)
    grid = jnp.linspace(-3.0, 3.0, N_GRID)[:, None]
    return dict(
        net=net,
        params=res.params,
        x=x,
        y=y,
        x_cal=x_cal,
        x_in=x_in,
        x_far=x_far,
        grid=grid,
        key=k[7],
    )


def _ensemble_epistemic(net, params):
    # the member means are ensemble_predictive(...).samples, shape (M, m, 1)
    return lambda q: jnp.var(ensemble_predictive(net, params, q).samples, axis=0)


def _bll_epistemic(net, params, x, y):
    member = jax.tree_util.tree_map(lambda a: a[0], params)
    phi = net.features(member, x)
    post = nig_posterior(phi, y[:, 0], prior_cov=10.0 * jnp.eye(phi.shape[1]))

    def variance(q):
        pred = nig_predictive(post, net.features(member, q))
        return pred.variance - pred.aleatoric

    def mean(q):
        return nig_predictive(post, net.features(member, q)).mean

    return variance, mean, member, post


def _evaluate(name, problem, variance_fn, mean_fn):
    """Calibrated false-alarm and detection rates and the score-error rank correlation.

    Tolerances (false-failure rate below 1e-6 each, normal approximation):
    * the flag rate of one calibration is Beta(n + 1 - k, k) with mean <= alpha and variance
      ~ alpha(1 - alpha)/(n + 2), estimated on N_IN queries: rate <= alpha + 5 se,
      se = sqrt(alpha(1 - alpha)(1/(n + 2) + 1/N_IN)) ~ 0.023;
    * under no association Spearman's rho has standard deviation 1/sqrt(m - 1) ~ 0.041 for
      m = N_GRID queries, so rho > 5/sqrt(m - 1) is a significant positive association.
    """
    ind = predictive_spread_indicator(variance_fn)
    state = ind.fit(None, problem["x"])
    cal = calibrate(problem["key"], ind, state, problem["x_cal"], ALPHA)
    false_alarm = float(jnp.mean(ind.score(state, problem["x_in"]) > cal.threshold))
    detection = float(jnp.mean(ind.score(state, problem["x_far"]) > cal.threshold))
    grid = problem["grid"]
    error = jnp.abs(mean_fn(grid) - _target(grid))[:, 0]
    rho = float(spearman_correlation(ind.score(state, grid), error))
    print(
        f"{name}: false-alarm {false_alarm:.3f} (alpha {ALPHA}), detection |x| in [3, 5] "
        f"{detection:.3f}, Spearman(score, |error|) on [-3, 3] {rho:.3f}"
    )
    se = np.sqrt(ALPHA * (1 - ALPHA) * (1 / (N_CAL + 2) + 1 / N_IN))
    assert false_alarm <= ALPHA + 5 * se
    assert detection >= 0.9
    assert rho > 5 / np.sqrt(N_GRID - 1)


def test_ensemble_epistemic_variance_is_member_disagreement(problem):
    """Exact small case: the spread is (1/M) sum_m (mu_m - mean)^2 from the members' outputs."""
    net, params = problem["net"], problem["params"]
    q = problem["grid"][::50]
    members = [jax.tree_util.tree_map(lambda a, i=i: a[i], params) for i in range(4)]
    means = np.stack([np.asarray(net.apply(member, q).mean) for member in members])
    expected = np.mean((means - means.mean(axis=0)) ** 2, axis=0)
    np.testing.assert_allclose(_ensemble_epistemic(net, params)(q), expected, rtol=1e-4, atol=1e-9)


def test_ensemble_spread_detects_extrapolation(problem):
    net, params = problem["net"], problem["params"]

    def mean(q):
        return ensemble_predictive(net, params, q).mean

    _evaluate("deep ensemble (M = 4)", problem, _ensemble_epistemic(net, params), mean)


def test_bayesian_last_layer_epistemic_part(problem):
    variance, mean, member, post = _bll_epistemic(
        problem["net"], problem["params"], problem["x"], problem["y"]
    )
    # closed form: b_n/(a_n - 1) phi^T V_n phi with V_n = (V_0^-1 + Phi^T Phi)^-1 (float64)
    phi = np.asarray(problem["net"].features(member, problem["x"]), np.float64)
    v_n = np.linalg.inv(np.eye(phi.shape[1]) / 10.0 + phi.T @ phi)
    q = problem["grid"][::50]
    phi_q = np.asarray(problem["net"].features(member, q), np.float64)
    lever = np.einsum("mp,pq,mq->m", phi_q, v_n, phi_q)
    expected = float(post.b) / (float(post.a) - 1.0) * lever
    np.testing.assert_allclose(np.asarray(variance(q))[:, 0], expected, rtol=1e-3)
    _evaluate("Bayesian last layer (NIG)", problem, variance, mean)


def test_spread_score_gradient(problem, x64):
    """jax.grad of the ensemble-spread score against central differences (float64 copy)."""
    net = problem["net"]
    params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), problem["params"])
    ind = predictive_spread_indicator(_ensemble_epistemic(net, params))
    state = ind.fit(None, problem["x"].astype(jnp.float64))

    def f(v):
        return ind.score(state, v[None, :])[0]

    h = 1e-6
    for z in (jnp.array([0.4]), jnp.array([2.5]), jnp.array([-4.0])):
        fd = (f(z + h) - f(z - h)) / (2 * h)
        np.testing.assert_allclose(jax.grad(f)(z), jnp.atleast_1d(fd), rtol=1e-5, atol=1e-10)
