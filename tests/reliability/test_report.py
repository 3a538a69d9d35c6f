"""Tests for edtjax.reliability.report: metrics on exact cases, scipy peer, score vs error."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from edtjax.depth import auroc
from edtjax.reliability import (
    Indicator,
    calibrate,
    knn_indicator,
    lens_fermat_indicator,
    mahalanobis_indicator,
    predictive_spread_indicator,
    spearman_correlation,
    validity_report,
)
from tests.reliability.test_indicator import _blr_variance_fn


def _identity_indicator():
    return Indicator(lambda key, x: (), lambda state, x: x[:, 0])


def test_spearman_matches_scipy_with_ties(key):
    a = jnp.round(jax.random.normal(key, (200,)) * 3)  # many ties
    b = a + jax.random.normal(jax.random.key(1), (200,)) * 4
    expected = scipy.stats.spearmanr(np.asarray(a), np.asarray(b)).statistic
    np.testing.assert_allclose(float(spearman_correlation(a, b)), expected, rtol=1e-5)


def test_report_exact_small_case(key):
    ind = _identity_indicator()
    cal = calibrate(key, ind, (), jnp.arange(1.0, 20.0)[:, None], 0.1)  # n=19, k=18, t=18
    x = jnp.array([[0.5], [18.0], [18.5], [30.0], [5.0], [40.0]])
    in_domain = jnp.array([True, True, True, False, False, False])
    intervals = jnp.stack([x[:, 0] - 1, x[:, 0] + 1], axis=1)
    errors = jnp.array([0.1, 0.3, 0.2, 2.0, 0.5, 3.0])
    rep = validity_report(ind, (), cal, x, in_domain=in_domain, intervals=intervals, errors=errors)
    np.testing.assert_array_equal(rep.outside, [False, False, True, True, False, True])
    np.testing.assert_allclose(rep.p_values, [1.0, 0.15, 0.1, 0.05, 0.8, 0.05], rtol=1e-6)
    np.testing.assert_array_equal(rep.p_values <= 0.1, rep.outside)
    assert rep.false_alarm_rate == pytest.approx(1 / 3)
    assert rep.detection_rate == pytest.approx(2 / 3)
    assert rep.auroc == pytest.approx(float(auroc(x[:3, 0], x[3:, 0])))
    expected_rho = scipy.stats.spearmanr(np.asarray(x[:, 0]), np.asarray(errors)).statistic
    assert rep.error_spearman == pytest.approx(expected_rho, rel=1e-5)
    np.testing.assert_array_equal(rep.intervals, intervals)


def test_report_without_labels_has_nan_metrics(key):
    ind = _identity_indicator()
    cal = calibrate(key, ind, (), jnp.arange(1.0, 20.0)[:, None], 0.1)
    rep = validity_report(ind, (), cal, jnp.zeros((3, 1)))
    assert all(math.isnan(v) for v in rep[5:])
    assert rep.intervals is None and rep.errors is None


def test_bad_report_arguments_raise(key):
    ind = mahalanobis_indicator()
    state = ind.fit(key, jax.random.normal(key, (50, 2)))
    cal = calibrate(key, ind, state, jax.random.normal(jax.random.key(1), (20, 2)), 0.1)
    x = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match="x_query"):
        validity_report(ind, state, cal, jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="finite"):
        validity_report(ind, state, cal, x.at[1, 1].set(jnp.nan))
    with pytest.raises(ValueError, match="in_domain"):
        validity_report(ind, state, cal, x, in_domain=jnp.ones(3, bool))
    with pytest.raises(ValueError, match="errors"):
        validity_report(ind, state, cal, x, errors=jnp.ones(5))
    with pytest.raises(ValueError, match="intervals"):
        validity_report(ind, state, cal, x, intervals=jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="calibration"):
        validity_report(ind, state, None, x)
    with pytest.raises(ValueError, match="same length"):
        spearman_correlation(jnp.ones(3), jnp.ones(4))


@pytest.mark.slow
def test_scores_track_the_surrogate_error(key):
    """Rank correlation of each score with the actual error of a Bayesian RFF regression."""
    k = jax.random.split(key, 4)

    def f(x):
        return jnp.sin(3 * x[:, 0]) + x[:, 1] ** 2

    x_train = jax.random.uniform(k[0], (200, 2), minval=-1.0, maxval=1.0)
    predict, _, _ = _blr_variance_fn(k[1], x_train, f(x_train), n_features=100)
    queries = jax.random.uniform(k[2], (400, 2), minval=-2.5, maxval=2.5)
    errors = jnp.abs(predict(queries)[0] - f(queries))
    indicators = {
        "spread": predictive_spread_indicator(lambda x: predict(x)[1]),
        "knn": knn_indicator(n_neighbors=5),
        "mahalanobis": mahalanobis_indicator(),
        "ld_fermat": lens_fermat_indicator(),
    }
    rho = {}
    for name, ind in indicators.items():
        state = ind.fit(k[3], x_train)
        rho[name] = float(spearman_correlation(ind.score(state, queries), errors))
    # Measured: spread 0.79, knn 0.80, mahalanobis 0.76, ld_fermat 0.71. Under independence
    # rho has s.e. 1/sqrt(m - 1) = 0.05: each must be positive by more than 5 s.e.
    assert all(r > 5 / math.sqrt(399) for r in rho.values()), rho
