"""Tests for edtjax.reliability.walk: gradients, walk-back into the domain, box constraints."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.reliability import (
    calibrate,
    mahalanobis_indicator,
    score_gradient,
    smooth_lens_indicator,
    walk_back,
)
from edtjax.reliability.walk import _gradient, _walk
from tests.reliability.test_combine import two_moons


def _gaussian_state(key):
    ind = mahalanobis_indicator()
    return ind, ind.fit(key, jax.random.normal(key, (4000, 2)))


def test_score_gradient_closed_form_and_no_retrace(key):
    ind, state = _gaussian_state(key)
    x = jax.random.normal(jax.random.key(1), (5, 2)) * 3
    diff = x - state.location
    r2 = jnp.einsum("mi,ij,mj->m", diff, state.precision, diff)
    expected = 2 * diff @ state.precision / (1 + r2)[:, None]
    np.testing.assert_allclose(score_gradient(ind, state, x), expected, rtol=1e-4, atol=1e-6)
    size = _gradient._cache_size()
    score_gradient(ind, state, x + 1.0)
    assert _gradient._cache_size() == size


def test_walk_back_lands_on_the_mahalanobis_level_set(key):
    ind, state = _gaussian_state(key)
    threshold, eta = 1.5, 0.01
    x = jnp.array([[6.0, 0.0], [0.0, -5.0], [4.0, 4.0], [0.1, 0.1]])
    res = walk_back(ind, state, threshold, x, step_size=eta)
    assert bool(jnp.all(res.inside)) and bool(jnp.all(res.score <= threshold))
    diff = res.x - state.location
    r = jnp.sqrt(jnp.einsum("mi,ij,mj->m", diff, state.precision, diff))
    r_level = math.sqrt(math.exp(threshold) - 1)  # log(1 + r²) = threshold
    # the walk stops at the first step inside: within one step (in Mahalanobis units,
    # precision ~ I up to sampling error of a 4000-point covariance) of the level set
    moved = r[:3]
    assert bool(jnp.all(moved <= r_level)) and bool(jnp.all(moved >= r_level - 1.2 * eta))
    assert int(res.num_steps[3]) == 0 and float(res.distance[3]) == 0.0
    size = _walk._cache_size()
    walk_back(ind, state, threshold, x * 1.1, step_size=eta)
    assert _walk._cache_size() == size


def test_walk_back_respects_the_box(key):
    ind, state = _gaussian_state(key)
    x = jnp.array([[6.0, 3.0], [-5.0, -5.0]])
    lower, upper = jnp.array([-10.0, 1.0]), jnp.array([10.0, 10.0])
    res = walk_back(ind, state, 1.0, x, step_size=0.02, lower=lower, upper=upper)
    assert bool(jnp.all((res.x >= lower) & (res.x <= upper)))
    assert bool(res.inside[0])
    # the second query starts below the box, is projected onto x2 = 1 and walks inside
    assert bool(res.inside[1]) and float(res.x[1, 1]) >= 1.0


def test_walk_back_into_two_moons_is_judged_inside_by_calibration(key):
    k = jax.random.split(key, 3)
    ind = smooth_lens_indicator(temperature=0.05)
    state = ind.fit(k[0], two_moons(k[0], 150))
    cal = calibrate(k[1], ind, state, two_moons(k[1], 99), 0.1)
    x = jnp.array([[0.5, 2.0], [2.5, -0.5], [-1.5, 1.0]])
    res = walk_back(ind, state, cal.threshold, x, step_size=0.02, max_steps=400)
    assert bool(jnp.all(ind.score(state, x) > cal.threshold))  # the queries start outside
    assert bool(jnp.all(res.inside)) and bool(jnp.all(res.score <= cal.threshold))
    np.testing.assert_allclose(ind.score(state, res.x), res.score, rtol=1e-5)
    # steps of length 0.02: the distance moved is at most 0.02 per step
    assert bool(jnp.all(res.distance <= 0.02 * res.num_steps + 1e-5))


def test_bad_walk_arguments_raise(key):
    ind, state = _gaussian_state(key)
    x = jnp.ones((2, 2))
    with pytest.raises(ValueError, match="step_size"):
        walk_back(ind, state, 1.0, x, step_size=0.0)
    with pytest.raises(ValueError, match="lower"):
        walk_back(ind, state, 1.0, x, step_size=0.1, lower=1.0, upper=0.0)
    with pytest.raises(ValueError, match="upper"):
        walk_back(ind, state, 1.0, x, step_size=0.1, upper=jnp.ones(3))
    with pytest.raises(ValueError, match="x"):
        walk_back(ind, state, 1.0, jnp.ones((2, 3)), step_size=0.1)
    with pytest.raises(ValueError, match="max_steps"):
        walk_back(ind, state, 1.0, x, step_size=0.1, max_steps=0)
    with pytest.raises(ValueError, match="threshold"):
        walk_back(ind, state, float("nan"), x, step_size=0.1)
