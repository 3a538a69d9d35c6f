"""Tests for edtjax.reliability.transport_indicators: false alarms, detection, gradients."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.reliability import (
    Indicator,
    calibrate,
    monge_kantorovich_indicator,
    spearman_correlation,
    validity_report,
    walk_back,
)
from edtjax.simulators import (
    DEFAULT_INPUT_BOX,
    SolverConfig,
    build_pellet_dataset,
    shifted_design,
)
from edtjax.surrogates import nig_posterior, nig_predictive
from edtjax.transport import center_outward_fit, monge_kantorovich_depth


@pytest.fixture(scope="module")
def gaussian_fit():
    """Indicator fitted on 300 standard-normal training inputs in d = 2."""
    ind = monge_kantorovich_indicator()
    x_train = jax.random.normal(jax.random.key(11), (300, 2))
    return ind, ind.fit(jax.random.key(12), x_train)


def test_score_is_one_minus_mk_depth(gaussian_fit):
    ind, state = gaussian_fit
    assert isinstance(ind, Indicator)
    x_train = state.transport.x
    peer = center_outward_fit(x_train)
    q = jax.random.normal(jax.random.key(1), (50, 2)) * 2.0
    np.testing.assert_allclose(
        ind.score(state, q), 1.0 - monge_kantorovich_depth(peer, q), rtol=0, atol=1e-6
    )
    # rank norms live in [0, 1); the median scores near 0, a far query near the outer shell
    s = ind.score(state, jnp.array([[0.0, 0.0], [10.0, 10.0]]))
    assert 0.0 <= float(s[0]) < 0.2 < 0.85 < float(s[1]) < 1.0


@pytest.mark.slow
def test_false_alarm_rate_over_repeated_calibrations(gaussian_fit):
    """P(flag | in-domain) <= alpha, over R = 40 independent calibration sets of n = 99.

    With continuous scores the flag rate of one calibration is Beta(n + 1 - k, k) distributed,
    k = ceil((n + 1)(1 - alpha)), with mean in [alpha - 1/(n + 1), alpha] and variance
    ~ alpha(1 - alpha)/(n + 2); each is then estimated from m = 250 fresh queries (binomial
    variance alpha(1 - alpha)/m). The average over R calibrations therefore has standard error
    sqrt(alpha(1 - alpha)(1/(n + 2) + 1/m) / R) ~ 0.0056; the bounds are 5 standard errors
    (false-failure rate below 1e-6 under the normal approximation).
    """
    ind, state = gaussian_fit
    alpha, n, m, repeats = 0.1, 99, 250, 40
    score = jax.jit(ind.score)
    keys = jax.random.split(jax.random.key(21), repeats)
    rates = []
    for k in keys:
        kc, kq, kk = jax.random.split(k, 3)
        cal = calibrate(kk, ind, state, jax.random.normal(kc, (n, 2)), alpha)
        queries = jax.random.normal(kq, (m, 2))
        rates.append(float(jnp.mean(score(state, queries) > cal.threshold)))
        chex.assert_shape(cal.scores, (n,))
    mean_rate = float(np.mean(rates))
    se = np.sqrt(alpha * (1 - alpha) * (1 / (n + 2) + 1 / m) / repeats)
    print(f"MK indicator: mean false-alarm rate {mean_rate:.4f} (alpha = {alpha}, se {se:.4f})")
    assert mean_rate <= alpha + 5 * se
    assert mean_rate >= alpha - 1 / (n + 1) - 5 * se


def test_detects_far_extrapolation(gaussian_fit):
    """Queries centred 6 standard deviations away are flagged at rate >= 0.9 (alpha = 0.1)."""
    ind, state = gaussian_fit
    cal = calibrate(
        jax.random.key(3), ind, state, jax.random.normal(jax.random.key(4), (199, 2)), 0.1
    )
    far = jax.random.normal(jax.random.key(5), (500, 2)) + jnp.array([6.0, 0.0])
    rate = float(jnp.mean(ind.score(state, far) > cal.threshold))
    print(f"MK indicator: detection rate at distance 6 = {rate:.3f}")
    assert rate >= 0.9


def test_non_gaussian_shape_is_calibrated():
    """Ranks are distribution-free: on a banana-shaped law the points inside the bend score
    higher than the training points, and in-domain queries still score like uniforms."""
    ind = monge_kantorovich_indicator()
    k1, k2, k3 = jax.random.split(jax.random.key(31), 3)

    def banana(k, size):
        z = jax.random.normal(k, (size, 2))
        return jnp.stack([z[:, 0], z[:, 1] * 0.3 + 0.5 * z[:, 0] ** 2], axis=1)

    state = ind.fit(k1, banana(k2, 300))
    s = ind.score(state, banana(k3, 2000))
    # mean of a uniform on [0, 1] is 1/2; the entropic blur shrinks ranks, so only the
    # bounds: any in-domain rank norm in [0, 1) and the sample mean well inside (0.3, 0.7)
    assert 0.3 < float(jnp.mean(s)) < 0.7
    assert float(jnp.max(s)) < 1.0


def test_gradient_matches_finite_differences(x64):
    ind = monge_kantorovich_indicator()
    x_train = jax.random.normal(jax.random.key(41), (150, 2), dtype=jnp.float64)
    state = ind.fit(None, x_train)
    chex.assert_type(state.transport.x, jnp.float64)

    @jax.jit
    def f(v):
        return ind.score(state, v[None, :])[0]

    grad = jax.jit(jax.grad(f))
    h = 1e-6
    for z in (jnp.array([0.3, -0.2]), jnp.array([1.5, 1.0]), jnp.array([-2.5, 0.4])):
        fd = jnp.stack([(f(z + h * e) - f(z - h * e)) / (2 * h) for e in jnp.eye(2)])
        np.testing.assert_allclose(grad(z), fd, rtol=1e-5, atol=1e-8)
    # the gradient points outwards: following it increases the rank norm
    z = jnp.array([1.0, 0.5])
    assert float(f(z + 0.1 * grad(z))) > float(f(z))
    # finite at the median, where the rank norm is 0 only at one point
    assert bool(jnp.all(jnp.isfinite(grad(jnp.zeros(2)))))


@pytest.mark.slow
def test_walk_back_lands_inside(x64):
    """Outlying queries at radius 3.5 and 4.5 (8 directions) walk back below the calibrated
    threshold along the score gradient, towards the bulk of the data."""
    ind = monge_kantorovich_indicator()
    state = ind.fit(None, jax.random.normal(jax.random.key(11), (300, 2), jnp.float64))
    x_cal = jax.random.normal(jax.random.key(4), (199, 2), jnp.float64)
    cal = calibrate(jax.random.key(3), ind, state, x_cal, 0.1)
    angles = jnp.linspace(0.0, 2.0 * jnp.pi, 8, endpoint=False)
    directions = jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
    queries = jnp.concatenate([3.5 * directions, 4.5 * directions])
    assert bool(jnp.all(ind.score(state, queries) > cal.threshold))
    res = walk_back(ind, state, cal.threshold, queries, step_size=0.02, max_steps=400)
    assert bool(jnp.all(res.inside))
    assert bool(jnp.all(res.score <= cal.threshold))
    assert bool(jnp.all(jnp.linalg.norm(res.x, axis=1) < jnp.linalg.norm(queries, axis=1)))


def test_jit_and_vmap(gaussian_fit):
    ind, state = gaussian_fit
    q = jax.random.normal(jax.random.key(2), (7, 2))
    eager = ind.score(state, q)
    np.testing.assert_allclose(jax.jit(ind.score)(state, q), eager, rtol=1e-5, atol=1e-6)
    per_row = jax.vmap(lambda z: ind.score(state, z[None])[0])(q)
    np.testing.assert_allclose(per_row, eager, rtol=1e-5, atol=1e-6)


def test_respects_float32(gaussian_fit):
    ind, state = gaussian_fit
    chex.assert_type(ind.score(state, jnp.zeros((2, 2), jnp.float32)), jnp.float32)


def test_bad_input(gaussian_fit):
    ind, state = gaussian_fit
    with pytest.raises(ValueError, match="epsilon"):
        monge_kantorovich_indicator(epsilon=0.0)
    with pytest.raises(ValueError, match="n_radii"):
        monge_kantorovich_indicator(n_radii=0)
    with pytest.raises(ValueError, match="max_iterations"):
        monge_kantorovich_indicator(max_iterations=0)
    with pytest.raises(ValueError, match="x"):
        ind.fit(None, jnp.array([[0.0, jnp.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="columns"):
        ind.score(state, jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="y"):
        ind.score(state, jnp.array([[jnp.nan, 0.0]]))
    with pytest.raises(ValueError, match="at least 9"):
        calibrate(jax.random.key(0), ind, state, jnp.zeros((5, 2)), 0.1)
    with pytest.raises(ValueError, match="alpha"):
        calibrate(jax.random.key(0), ind, state, jnp.zeros((50, 2)), 1.5)


_NAMES = tuple(DEFAULT_INPUT_BOX)
_LOW = np.array([DEFAULT_INPUT_BOX[k][0] for k in _NAMES])
_HIGH = np.array([DEFAULT_INPUT_BOX[k][1] for k in _NAMES])
_NEAR_SHIFT = {"heat_source": (3.5e8, 4.0e8)}
_FAR_SHIFT = {"heat_source": (5.0e8, 6.0e8), "surface_temperature": (850.0, 950.0)}


def _unit(x):
    return jnp.asarray((np.asarray(x) - _LOW) / (_HIGH - _LOW))


@pytest.mark.slow
def test_thermodiffusion_shifts(x64):
    """Pellet data (6 inputs scaled to the unit box, 128 coarse training simulations).

    False alarms: mean over 6 calibrations on fresh iid in-box sets (n = 199, 512 queries each),
    tolerance 5 standard errors of that mean, s.e. = sqrt(Var Beta(20, 180) + 0.09/512)/sqrt(6)
    (continuous scores). Far shift detection >= 0.9; near-shift AUROC reported. The rank
    correlation between the score and the actual error of a Bayesian linear surrogate on 200
    random Fourier features must be positive beyond 5/sqrt(m - 1) (5 s.e. under independence).
    """
    config = SolverConfig(n_cells=8, n_steps=40)
    k = jax.random.split(jax.random.key(5), 9)
    train = build_pellet_dataset(k[0], 128, config=config)
    assert train.converged.all()
    u_train = _unit(train.inputs)
    t = jnp.asarray(train.outputs[:, 0])
    mu, sd = t.mean(), t.std()
    kw, kb = jax.random.split(k[1])
    w = jax.random.normal(kw, (6, 200), jnp.float64) / 0.5
    b = jax.random.uniform(kb, (200,), jnp.float64, 0.0, 2.0 * jnp.pi)

    def features(v):
        return jnp.sqrt(2.0 / 200) * jnp.cos(v @ w + b)

    posterior = nig_posterior(features(u_train), (t - mu) / sd, noise_scale=jnp.full(128, 0.03))

    ind = monge_kantorovich_indicator()
    state = ind.fit(None, u_train)
    rates = []
    for rep in range(6):
        kr, kq = jax.random.split(jax.random.fold_in(k[2], rep))
        cal = calibrate(kr, ind, state, jax.random.uniform(kr, (199, 6), jnp.float64), 0.1)
        scores = ind.score(state, jax.random.uniform(kq, (512, 6), jnp.float64))
        rates.append(float(jnp.mean(scores > cal.threshold)))
    se = math.sqrt(20 * 180 / (200**2 * 201) + 0.09 / 512) / math.sqrt(6)
    assert float(np.mean(rates)) <= 0.1 + 5 * se

    u_in = jax.random.uniform(k[3], (512, 6), jnp.float64)
    labels = jnp.arange(1024) < 512
    reports = {}
    for name, shift, kk in (("near", _NEAR_SHIFT, k[4]), ("far", _FAR_SHIFT, k[5])):
        u_shift = _unit(shifted_design(kk, DEFAULT_INPUT_BOX, shift, 512)[0])
        reports[name] = validity_report(
            ind, state, cal, jnp.concatenate([u_in, u_shift]), in_domain=labels
        )
    assert reports["far"].detection_rate >= 0.9

    queries, errors = [], []
    for shift, kk in ((None, k[6]), (_NEAR_SHIFT, k[7]), (_FAR_SHIFT, k[8])):
        ds = build_pellet_dataset(kk, 128, shift=shift, config=config)
        u = _unit(ds.inputs[ds.converged])
        pred = nig_predictive(posterior, features(u)).mean[:, 0] * sd + mu
        queries.append(u)
        errors.append(jnp.abs(pred - ds.outputs[ds.converged, 0]))
    errors = jnp.concatenate(errors)
    rho = float(spearman_correlation(ind.score(state, jnp.concatenate(queries)), errors))
    print(
        f"MK on thermodiffusion: false alarm {np.mean(rates):.3f} (se {se:.3f}), "
        f"near AUROC {float(reports['near'].auroc):.3f}, far detection "
        f"{float(reports['far'].detection_rate):.3f}, far AUROC {float(reports['far'].auroc):.3f}, "
        f"Spearman(score, |error|) {rho:.3f} over {errors.shape[0]} simulations"
    )
    assert rho > 5 / math.sqrt(errors.shape[0] - 1)
