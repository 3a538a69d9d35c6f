"""Permutation shift tests: validity (size), power, retracing, bad input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.transport import shift
from edtjax.transport.shift import rank_energy_shift_test, sinkhorn_shift_test

TESTS = [sinkhorn_shift_test, rank_energy_shift_test]


@pytest.mark.parametrize(
    "test", [pytest.param(sinkhorn_shift_test, marks=pytest.mark.slow), rank_energy_shift_test]
)
def test_detects_a_mean_shift(key, test):
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (40, 2))
    y = jax.random.normal(k2, (40, 2)) + jnp.array([1.5, 0.0])
    res = test(k3, x, y, num_permutations=49)
    # a 1.5 sd shift with 40 + 40 points: no relabelling reaches the observed statistic
    assert float(res.p_value) == pytest.approx(1 / 50)
    chex.assert_shape(res.null_statistics, (49,))
    assert float(res.statistic) > float(res.null_statistics.max())


def test_rank_statistic_is_invariant_under_monotone_maps(key):
    # ranks only depend on the assignment, which is invariant under scaling of the data
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (15, 2))
    y = jax.random.normal(k2, (15, 2)) + 0.3
    a = rank_energy_shift_test(k3, x, y, num_permutations=20)
    b = rank_energy_shift_test(k3, 3.0 * x + 2.0, 3.0 * y + 2.0, num_permutations=20)
    np.testing.assert_allclose(float(a.statistic), float(b.statistic), rtol=1e-6)
    np.testing.assert_allclose(float(a.p_value), float(b.p_value))


def test_no_retrace_on_new_data(key):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (10, 2))
    rank_energy_shift_test(k2, x, x + 1, num_permutations=10)
    before = shift._rank_energy_test._cache_size()
    rank_energy_shift_test(k1, 2 * x, x - 1, num_permutations=10)
    assert shift._rank_energy_test._cache_size() == before


def _size_and_power(test, key, reps, n, num_permutations, alpha, delta):
    rejections = []
    for k in jax.random.split(key, reps):
        k1, k2, k3 = jax.random.split(k, 3)
        x = jax.random.t(k1, 3.0, (n, 2))  # heavy tails: no moment assumption needed
        y = jax.random.t(k2, 3.0, (n, 2)) + delta
        rejections.append(float(test(k3, x, y, num_permutations=num_permutations).p_value))
    return float(np.mean(np.asarray(rejections) <= alpha))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("test", "reps", "n", "num_permutations"),
    [(rank_energy_shift_test, 400, 20, 99), (sinkhorn_shift_test, 100, 15, 39)],
)
def test_size_and_power(key, test, reps, n, num_permutations):
    # Under H0 the permutation p-value is exactly valid: P(p <= 0.1) = 0.1 (B + 1 a multiple
    # of 10, no ties). Tolerance: 5 binomial standard errors over `reps` independent runs.
    alpha = 0.1
    se = np.sqrt(alpha * (1 - alpha) / reps)
    size = _size_and_power(test, key, reps, n, num_permutations, alpha, 0.0)
    assert abs(size - alpha) < 5 * se
    # Under a one-unit mean shift the rejection rate must be far above the size.
    power = _size_and_power(test, jax.random.fold_in(key, 1), 50, n, num_permutations, alpha, 1.0)
    assert power > alpha + 5 * np.sqrt(alpha * (1 - alpha) / 50)


@pytest.mark.parametrize("test", TESTS)
@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        (np.zeros((5, 2)), np.zeros((5, 3)), {}, "same number of columns"),
        (np.zeros((1, 2)), np.zeros((5, 2)), {}, "at least 2"),
        (np.array([[np.nan, 0.0], [1.0, 1.0]]), np.zeros((5, 2)), {}, "finite"),
        (np.zeros((5, 2)), np.zeros((5, 2)), {"num_permutations": 0}, "num_permutations"),
    ],
)
def test_bad_input(key, test, x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        test(key, x, y, **kwargs)


def test_bad_epsilon(key):
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_shift_test(key, np.eye(3, 2), np.eye(3, 2), epsilon=-1.0)


def test_rank_test_keeps_float64_numpy_precision_without_x64(key):
    # x64 off: the exact assignment must see the float64 inputs, not their float32 copy. The
    # statistic is invariant under a common translation and positive scaling of both samples.
    assert not jax.config.read("jax_enable_x64")
    k1, k2, k3 = jax.random.split(key, 3)
    x = np.asarray(jax.random.normal(k1, (30, 2)), dtype=np.float64)
    y = np.asarray(jax.random.normal(k2, (30, 2)), dtype=np.float64) + 0.5
    plain = rank_energy_shift_test(k3, x, y, num_permutations=19)
    far = rank_energy_shift_test(k3, 1e4 + 1e-3 * x, 1e4 + 1e-3 * y, num_permutations=19)
    assert float(far.statistic) == float(plain.statistic)
    assert float(far.p_value) == float(plain.p_value)
