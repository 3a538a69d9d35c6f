"""Tests for edtjax.hybrid.guard: exact decisions, exact fallback outputs, the conformal bound on
the in-domain fallback rate, the host path and tracing."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.hybrid import GuardCalibration, calibrate_guard, guarded
from edtjax.hybrid.guard import _guarded
from edtjax.reliability import Indicator, mahalanobis_indicator
from edtjax.surrogates import Predictive


def _simulator(x):
    return jnp.stack([jnp.sin(x[:, 0]) * jnp.exp(x[:, 1]), x[:, 0] * x[:, 1] ** 3], axis=1)


def _same_surrogate(x):
    return Predictive(mean=_simulator(x))


def _numpy_simulator(x):
    x = np.asarray(x)
    return np.stack([np.sin(x[:, 0]) * np.exp(x[:, 1]), x[:, 0] * x[:, 1] ** 3], axis=1)


# score = first coordinate + state: calibrating with state 0 scores the data themselves, and a
# state larger than every gap pushes every query above every calibration score
_SHIFTED = Indicator(lambda key, x: 0.0, lambda state, x: x[:, 0] + state)


def _mixed_batch():
    x = jax.random.normal(jax.random.key(3), (40, 2))
    return x.at[::4].add(6.0)  # a quarter of the rows far outside


_MAHALANOBIS = mahalanobis_indicator()


def _mahalanobis_calibration(key, n_cal=99):
    ind = _MAHALANOBIS
    k_fit, k_cal = jax.random.split(key)
    state = ind.fit(None, jax.random.normal(k_fit, (200, 2)))
    x_cal = jax.random.normal(k_cal, (n_cal, 2))
    return calibrate_guard(_same_surrogate, ind, state, x_cal, _simulator(x_cal))


def test_decisions_follow_the_conformal_p_values_exactly():
    cal = calibrate_guard(
        _same_surrogate, _SHIFTED, 0.0, jnp.arange(1.0, 20.0)[:, None] * jnp.array([1.0, 0.0])
    )
    np.testing.assert_array_equal(cal.scores, np.arange(1.0, 20.0))
    x = jnp.array([[0.5, 0.0], [17.5, 0.0], [18.0, 0.0], [18.5, 0.0], [25.0, 0.0]])
    res = guarded(_same_surrogate, _simulator, cal, alpha=0.1)(x)
    # p = (1 + #{s_i >= s}) / 20; flagged iff p <= 0.1 iff at most one score reaches s, s > 18
    np.testing.assert_allclose(res.p_value, [20 / 20, 3 / 20, 3 / 20, 2 / 20, 1 / 20], rtol=1e-6)
    assert res.indicator_rejected.tolist() == [False, False, False, True, True]
    assert res.used_surrogate.tolist() == [True, True, True, False, False]
    assert not res.interval_too_wide.any() and res.interval_width is None


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_surrogate_equal_to_simulator_is_bitwise_on_fallback_rows(batch, key):
    cal = _mahalanobis_calibration(key)
    x = _mixed_batch()
    res = guarded(_same_surrogate, _simulator, cal, alpha=0.1, fallback_batch=batch)(x)
    fell = ~np.asarray(res.used_surrogate)
    assert fell[::4].all() and fell.sum() < 20  # the far rows and a few in-domain ones
    exact = np.asarray(jax.jit(_simulator)(x))
    np.testing.assert_array_equal(np.asarray(res.output)[fell], exact[fell])
    np.testing.assert_allclose(res.output, exact, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("batch", [1, 7, 40])
def test_indicator_flagging_everything_reproduces_the_simulator_exactly(batch):
    cal = calibrate_guard(
        _same_surrogate, _SHIFTED, 0.0, jnp.arange(19.0)[:, None] * jnp.array([1.0, 0.0])
    )
    cal = cal._replace(state=1e3)
    x = _mixed_batch()
    wrong = lambda z: Predictive(mean=jnp.full((z.shape[0], 2), jnp.nan))  # noqa: E731
    res = guarded(wrong, _simulator, cal, alpha=0.1, fallback_batch=batch)(x)
    assert not res.used_surrogate.any() and res.prediction_not_finite.all()
    np.testing.assert_array_equal(res.output, jax.jit(_simulator)(x))


def test_non_finite_predictions_and_scores_fall_back():
    cal = calibrate_guard(
        _same_surrogate, _SHIFTED, 0.0, jnp.arange(19.0)[:, None] * jnp.array([1.0, 0.0])
    )

    def surrogate(z):  # NaN where the second input is negative
        return Predictive(mean=jnp.where(z[:, 1:] < 0, jnp.nan, _simulator(z)))

    nan_score = cal._replace(state=jnp.nan)
    x = jnp.array([[1.0, 0.5], [1.0, -0.5]])
    res = guarded(surrogate, _simulator, cal, alpha=0.1)(x)
    assert res.used_surrogate.tolist() == [True, False]
    assert res.prediction_not_finite.tolist() == [False, True]
    assert not res.indicator_rejected.any()
    assert bool(jnp.all(jnp.isfinite(res.output)))
    res = guarded(surrogate, _simulator, nan_score, alpha=0.1)(x)
    assert res.indicator_rejected.all() and not res.used_surrogate.any()


def test_host_path_matches_the_jax_path(key):
    cal = _mahalanobis_calibration(key)
    x = _mixed_batch()
    calls = []

    def numpy_sim(z):
        calls.append(z.shape[0])
        return _numpy_simulator(z)

    host = guarded(_same_surrogate, numpy_sim, cal, alpha=0.1, host_simulator=True)(x)
    ours = guarded(_same_surrogate, _simulator, cal, alpha=0.1)(x)
    np.testing.assert_array_equal(host.used_surrogate, ours.used_surrogate)
    fell = ~np.asarray(host.used_surrogate)
    assert calls == [int(fell.sum())]  # one call on exactly the fallback rows
    np.testing.assert_array_equal(np.asarray(host.output)[fell], _numpy_simulator(x)[fell])
    calls.clear()
    accepted = x[np.flatnonzero(~fell)[:3]]
    inside = guarded(_same_surrogate, numpy_sim, cal, alpha=0.1, host_simulator=True)(accepted)
    assert inside.used_surrogate.all() and calls == []  # no fallback: the callback is skipped


def test_interval_rule_exact_widths():
    # residuals |y - 0| / sigma = 1..19 with sigma = 1: q at alpha = 0.1 is the 18th, 18
    x_cal = jnp.zeros((19, 2))
    y_cal = jnp.arange(1.0, 20.0)[:, None]

    def surrogate(z):
        return Predictive(mean=jnp.zeros((z.shape[0], 1)), variance=(1.0 + z[:, 1:]) ** 2)

    cal = calibrate_guard(surrogate, _SHIFTED, 0.0, x_cal, y_cal)
    np.testing.assert_array_equal(cal.residual_scores[:, 0], np.arange(1.0, 20.0))
    sim = lambda z: z[:, :1]  # noqa: E731
    x = jnp.array([[-1.0, 0.0], [-1.0, 1.0], [-1.0, 0.2], [50.0, 0.0]])
    res = guarded(surrogate, sim, cal, alpha=0.1, max_interval_width=40.0)(x)
    np.testing.assert_allclose(res.interval_width[:, 0], [36.0, 72.0, 43.2, 36.0], rtol=1e-6)
    assert res.interval_too_wide.tolist() == [False, True, True, False]
    assert res.indicator_rejected.tolist() == [False, False, False, True]
    np.testing.assert_array_equal(res.output[:, 0], [0.0, -1.0, -1.0, 50.0])


@pytest.mark.slow
def test_in_domain_fallback_rate_is_at_most_alpha_over_repeated_draws():
    # Conditional on the calibration set, the rejection rate of a continuous score is
    # r = 1 - U_(k) ~ Beta(n + 1 - k, k) with k = ceil((n + 1)(1 - alpha)) (n = 99, alpha = 0.1:
    # k = 90, mean 0.1). R draws of m test rows each: Var(mean rate) = (E r(1 - r) / m +
    # Var r) / R. Bounds at 5 standard errors (one-sided normal false-failure rate 3e-7).
    n, alpha, reps, m = 99, 0.1, 150, 200
    k = math.ceil((n + 1) * (1 - alpha))
    a, b = n + 1 - k, k
    mean = a / (a + b)
    var_r = a * b / ((a + b) ** 2 * (a + b + 1))
    se = math.sqrt(((mean * (1 - mean) - var_r) / m + var_r) / reps)
    ind = mahalanobis_indicator()
    rates = []
    for key in jax.random.split(jax.random.key(11), reps):
        k_fit, k_cal, k_test = jax.random.split(key, 3)
        state = ind.fit(None, jax.random.normal(k_fit, (100, 2)))
        cal = calibrate_guard(_same_surrogate, ind, state, jax.random.normal(k_cal, (n, 2)))
        res = guarded(_same_surrogate, _simulator, cal, alpha=alpha)(
            jax.random.normal(k_test, (m, 2))
        )
        rates.append(float(jnp.mean(~res.used_surrogate)))
    rate = float(np.mean(rates))
    assert rate <= alpha + 5 * se
    assert abs(rate - mean) <= 5 * se


def test_does_not_retrace_for_new_inputs_or_new_calibrations(key):
    traces = []

    def surrogate(x):
        traces.append(1)
        return _same_surrogate(x)

    cal = _mahalanobis_calibration(key)
    evaluate = guarded(surrogate, _simulator, cal, alpha=0.1)
    evaluate(_mixed_batch())
    size = _guarded._cache_size()
    n_traces = len(traces)
    evaluate(_mixed_batch() + 0.1)
    cal2 = _mahalanobis_calibration(jax.random.key(5))
    guarded(surrogate, _simulator, cal2, alpha=0.2)(_mixed_batch())
    assert _guarded._cache_size() == size and len(traces) == n_traces


def test_composes_with_scan_and_vmap(key):
    cal = _mahalanobis_calibration(key)
    evaluate = guarded(_same_surrogate, _simulator, cal, alpha=0.1, fallback_batch=2)
    x = _mixed_batch()

    def body(carry, row):
        return carry, evaluate(row[None]).output[0]

    _, out = jax.lax.scan(body, 0.0, x)
    np.testing.assert_allclose(out, _simulator(x), rtol=1e-6, atol=1e-6)
    batched = jax.vmap(lambda z: evaluate(z).output)(x.reshape(4, 10, 2))
    np.testing.assert_allclose(batched.reshape(40, 2), _simulator(x), rtol=1e-6, atol=1e-6)


def test_bad_arguments_raise(key):
    cal = _mahalanobis_calibration(key, n_cal=18)
    with pytest.raises(ValueError, match="alpha"):
        guarded(_same_surrogate, _simulator, cal, alpha=1.5)
    with pytest.raises(ValueError, match=r"at least 19 scores for alpha = 0\.05"):
        guarded(_same_surrogate, _simulator, cal, alpha=0.05)
    with pytest.raises(ValueError, match="fallback_batch"):
        guarded(_same_surrogate, _simulator, cal, alpha=0.1, fallback_batch=0)
    with pytest.raises(ValueError, match="max_interval_width"):
        guarded(_same_surrogate, _simulator, cal, alpha=0.1, max_interval_width=-1.0)
    no_residuals = cal._replace(residual_scores=None)
    with pytest.raises(ValueError, match="needs residual scores"):
        guarded(_same_surrogate, _simulator, no_residuals, alpha=0.1, max_interval_width=1.0)
    with pytest.raises(ValueError, match="calibration must be a GuardCalibration"):
        guarded(_same_surrogate, _simulator, tuple(cal), alpha=0.1)
    evaluate = guarded(_same_surrogate, _simulator, cal, alpha=0.1)
    with pytest.raises(ValueError, match="x must"):
        evaluate(jnp.zeros(3))
    with pytest.raises(ValueError, match="x"):
        evaluate(jnp.full((2, 2), jnp.nan))
    with pytest.raises(ValueError, match="Predictive"):
        guarded(lambda z: z, _simulator, cal, alpha=0.1)(jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="y_calibration"):
        calibrate_guard(
            _same_surrogate, cal.indicator, cal.state, jnp.zeros((5, 2)), jnp.zeros((5, 3))
        )
    with pytest.raises(ValueError, match="indicator"):
        calibrate_guard(_same_surrogate, "mahalanobis", cal.state, jnp.zeros((5, 2)))
    assert isinstance(cal, GuardCalibration)
