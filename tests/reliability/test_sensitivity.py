"""Tests for edtjax.reliability.sensitivity: DGSM of an indicator score."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

from edtjax.reliability import feature_space_indicator, mahalanobis_indicator, score_dgsm


def test_dgsm_of_mahalanobis_score_against_direct_monte_carlo(key, x64):
    x = jax.random.normal(key, (500, 2), jnp.float64) * jnp.array([1.0, 4.0])
    ind = mahalanobis_indicator()
    state = ind.fit(key, x)
    factors = [dist.Uniform(-3.0, 3.0), dist.Uniform(-3.0, 3.0)]
    res = score_dgsm(jax.random.key(1), ind, state, factors, 4096)
    # reference: nu_i = E[(2 (P (z - mu))_i / (1 + r^2))^2], z ~ U[-3, 3]^2, independent sample
    z = np.random.default_rng(0).uniform(-3.0, 3.0, (200_000, 2))
    diff = z - np.asarray(state.location)
    p = np.asarray(state.precision)
    g = 2 * diff @ p / (1 + np.einsum("mi,ij,mj->m", diff, p, diff))[:, None]
    for i in range(2):
        ref = np.mean(g[:, i] ** 2)
        ref_se = np.std(g[:, i] ** 2) / np.sqrt(z.shape[0])
        # 5 combined standard errors
        assert abs(float(res.nu[i]) - ref) <= 5 * np.hypot(float(res.nu_stderr[i]), ref_se)
    # the wide (scale 4) input moves a query out far less than the narrow one
    assert float(res.nu[0]) > 4 * float(res.nu[1])


def test_ignored_input_has_zero_sensitivity(key):
    ind = feature_space_indicator(mahalanobis_indicator(), lambda v: v[:, :2])
    state = ind.fit(key, jax.random.normal(key, (200, 3)))
    factors = dist.Uniform(-jnp.ones(3), jnp.ones(3))
    res = score_dgsm(jax.random.key(1), ind, state, factors, 256)
    assert float(res.nu[2]) == 0.0 and float(res.nu[0]) > 0.0


def test_wrong_number_of_factors_raises(key):
    ind = mahalanobis_indicator()
    state = ind.fit(key, jax.random.normal(key, (100, 2)))
    with pytest.raises(ValueError, match="factors"):
        score_dgsm(key, ind, state, [dist.Uniform(0.0, 1.0)] * 3, 64)
