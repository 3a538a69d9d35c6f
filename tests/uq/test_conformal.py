"""Tests for edtjax.uq.conformal."""

import math
from fractions import Fraction

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax._conformal import conformal_rank
from edtjax.uq import (
    conformal_quantile,
    conformalized_quantile_regression,
    normalized_conformal,
    split_conformal,
)


def test_quantile_rank_exact():
    scores = jnp.arange(1.0, 20.0)  # n = 19
    assert float(conformal_quantile(scores, 0.1)) == 18.0  # ceil(20 * 0.9) = 18
    assert float(conformal_quantile(scores, 0.5)) == 10.0
    assert float(conformal_quantile(scores, 0.01)) == np.inf  # ceil(19.8) = 20 > n
    cols = conformal_quantile(jnp.stack([scores, 2 * scores], axis=1), 0.1)
    np.testing.assert_allclose(cols, [18.0, 36.0])


def test_quantile_rank_is_not_moved_by_rounding():
    # 1 - 0.7 = 0.30000000000000004: a float ceil gives the 4th score, the exact rank is 3
    assert float(conformal_quantile(jnp.arange(1.0, 10.0), 0.7)) == 3.0
    # 0.1 and 1 - 0.9 = 0.09999999999999998 are the same level: k = ceil(100 * 0.9) = 90
    assert float(conformal_quantile(jnp.arange(1.0, 100.0), 1 - 0.9)) == 90.0
    # 1 - 0.41 = 0.5900000000000001: a float ceil gives 60, the exact rank is 59
    assert float(conformal_quantile(jnp.arange(1.0, 100.0), 0.41)) == 59.0


def _alpha_grid(n, boundaries=None):
    """(float alpha as a user writes or computes it, the exact level it stands for): every
    j/100 and every boundary j/(n + 1) (or those in ``boundaries``), each written directly
    and as computed by 1 - (1 - alpha) or j * 0.01."""
    out = []
    for j in range(1, 100):
        exact = Fraction(j, 100)
        out += [(j / 100, exact), (1 - (100 - j) / 100, exact), (j * 0.01, exact)]
    for j in range(1, n + 1) if boundaries is None else boundaries:
        exact = Fraction(j, n + 1)
        out += [(j / (n + 1), exact), (1 - (n + 1 - j) / (n + 1), exact)]
    return out


_NS = [*range(1, 60), 99, 100, 199, 999, 1000, 4999, 10**6 - 1, 10**6, 10**9 - 1, 10**9 + 6]


def test_rank_equals_exact_rational_ceiling_on_alpha_grid():
    """k = ceil((n + 1)(1 - alpha)) in exact rationals on the alpha grid, for small and huge n.

    The float formula math.ceil((n + 1) * (1 - alpha)) misses 4% of these; a fixed 1e-9 slack
    on (n + 1)(1 - alpha) misses them for n >= 1e8. For n >= 5000 the boundaries j/(n + 1) are
    tried at j = 1, n and next to each j/100 (the fractions in between behave alike).
    """
    misses = []
    for n in _NS:
        sampled = None if n < 5000 else {1, n, *((j * (n + 1)) // 100 for j in range(1, 100))}
        for alpha, exact in _alpha_grid(n, sampled):
            k = math.ceil((n + 1) * (1 - exact))
            if conformal_rank(n, alpha) != k:
                misses.append((n, alpha, k, conformal_rank(n, alpha)))
    assert not misses, misses[:10]


def test_rank_uses_the_float_off_the_grid():
    # a level not within rounding of any j/(n + 1) is taken as the exact value of the float
    n = 9
    for j in range(1, n + 1):
        for delta in (1e-9, -1e-9, 1e-13, -1e-13):
            alpha = j / (n + 1) + delta
            assert conformal_rank(n, alpha) == math.ceil((n + 1) * (1 - Fraction(alpha)))
    assert conformal_rank(9, 0.05) == 10  # more than n: no finite threshold


@pytest.mark.parametrize("n", [9, 19, pytest.param(40, marks=pytest.mark.slow)])
def test_exact_coverage_bounds_on_alpha_grid(n):
    """1 - alpha <= coverage < 1 - alpha + 1/(n + 1), exactly, at every grid alpha.

    For n + 1 exchangeable continuous scores the test score's rank among them is uniform on
    1..n + 1, so the exact coverage is the fraction of the n + 1 choices of which score is the
    test one for which it is at most the threshold. Column r of the (n, n + 1) score matrix holds
    the ranks other than r; conformal_quantile calibrates every column in one call.
    """
    ranks = jnp.arange(1.0, n + 2.0)
    others = jnp.stack([jnp.delete(ranks, r) for r in range(n + 1)], axis=1)  # (n, n + 1)
    failures = []
    for alpha, exact in _alpha_grid(n):
        covered = int(jnp.sum(ranks <= conformal_quantile(others, alpha)))
        coverage = Fraction(covered, n + 1)
        if not (1 - exact <= coverage < 1 - exact + Fraction(1, n + 1)):
            failures.append((alpha, float(coverage)))
    assert not failures, failures[:10]


def test_no_retrace_for_levels_with_the_same_rank(key):
    """0.7 and 70 * 0.01 = 0.7000000000000001 (different floats, one level) and 1 - 0.3 reuse
    one compiled program: the static rank is 3 for all (the float formula gave 4 and 3)."""
    from edtjax.uq.conformal import _order_statistic

    scores = jax.random.normal(key, (9,))
    conformal_quantile(scores, 0.7)
    size = _order_statistic._cache_size()
    conformal_quantile(scores + 1.0, 70 * 0.01)
    conformal_quantile(2.0 * scores, 1 - 0.3)
    assert _order_statistic._cache_size() == size


def _heteroscedastic(key, n):
    kx, ke = jax.random.split(key)
    x = jax.random.uniform(kx, (n,), minval=-2, maxval=2)
    scale = 0.1 + jnp.abs(x)
    return x, jnp.sin(x) + scale * jax.random.normal(ke, (n,)), scale


@pytest.mark.parametrize("method", ["split", "normalized", "cqr"])
def test_finite_sample_coverage_over_random_splits(key, method):
    """Marginal coverage over 400 random splits of n_cal = 19, 50 test points each.

    Exact expected coverage is ceil(20 * 0.9) / 20 = 0.9 for continuous scores. The mean over
    splits has standard error <= sqrt(0.9 * 0.1 / 19 / 400) + test noise ~ 0.004 (the
    calibration-set draw dominates: Beta(18, 2) coverage, sd 0.065 per split); test at 5 SE.
    A deliberately biased mean (sin x + 0.3) keeps the model wrong: the guarantee still holds.
    """
    alpha, n_cal, n_test, reps = 0.1, 19, 50, 400

    def one(k):
        x, y, scale = _heteroscedastic(k, n_cal + n_test)
        mean = jnp.sin(x) + 0.3
        cal, test = slice(0, n_cal), slice(n_cal, None)
        if method == "split":
            lo, hi = split_conformal(y[cal], mean[cal], mean[test], alpha)
        elif method == "normalized":
            lo, hi = normalized_conformal(
                y[cal], mean[cal], scale[cal], mean[test], scale[test], alpha
            )
        else:
            lo, hi = conformalized_quantile_regression(
                y[cal], mean[cal] - scale[cal], mean[cal] + scale[cal], mean[test] - scale[test],
                mean[test] + scale[test], alpha,
            )  # fmt: skip
        return jnp.mean((y[test] >= lo) & (y[test] <= hi))

    keys = jax.random.split(key, reps)
    cover = np.asarray(jax.vmap(one)(keys))
    se = np.sqrt(0.9 * 0.1 / (n_cal + 2) / reps + 0.09 / (n_test * reps))
    assert abs(cover.mean() - 0.9) < 5 * se, (cover.mean(), se)


def test_normalized_is_adaptive(key):
    """With a correct scale, normalised intervals are narrower where the noise is small."""
    x, y, scale = _heteroscedastic(key, 2000)
    mean = jnp.sin(x)
    lo, hi = normalized_conformal(
        y[:1000], mean[:1000], scale[:1000], mean[1000:], scale[1000:], 0.1
    )
    width = hi - lo
    small = jnp.abs(x[1000:]) < 0.5
    assert float(jnp.mean(width[small])) < 0.5 * float(jnp.mean(width[~small]))


def test_no_retrace_on_new_scores(key):
    from edtjax.uq.conformal import _order_statistic

    conformal_quantile(jax.random.normal(key, (30,)), 0.2)
    size = _order_statistic._cache_size()
    conformal_quantile(jax.random.normal(jax.random.key(3), (30,)), 0.2)
    assert _order_statistic._cache_size() == size


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5])
def test_alpha_outside_unit_interval(alpha):
    with pytest.raises(ValueError, match="alpha"):
        split_conformal(jnp.zeros(5), jnp.zeros(5), jnp.zeros(2), alpha)


def test_bad_input():
    with pytest.raises(ValueError, match=r"mean_cal must have the shape of y_cal, \(5,\)"):
        split_conformal(jnp.zeros(5), jnp.zeros(4), jnp.zeros(2), 0.1)
    with pytest.raises(ValueError, match="y_cal must be finite"):
        split_conformal(jnp.array([0.0, jnp.nan]), jnp.zeros(2), jnp.zeros(2), 0.1)
    with pytest.raises(ValueError, match="scale_cal must be positive"):
        normalized_conformal(
            jnp.zeros(3), jnp.zeros(3), -jnp.ones(3), jnp.zeros(2), jnp.ones(2), 0.1
        )


def _z(*shape):
    return jnp.zeros(shape)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # calibration arrays of different output widths: was a raw broadcasting TypeError
        ((_z(5, 2), _z(5, 3), _z(2, 2)), r"mean_cal must have the shape of y_cal, \(5, 2\)"),
        # (n,) against (n, n) used to broadcast silently to an (n, n) score matrix
        ((_z(5), _z(5, 5), _z(2)), r"mean_cal must have the shape of y_cal, \(5,\)"),
        # test predictions with other outputs than the calibration targets
        ((_z(5, 2), _z(5, 2), _z(3, 3)), r"mean_test must have shape \(m, 2\)"),
        # (m, m) test predictions against scalar outputs used to broadcast silently
        ((_z(5), _z(5), _z(5, 5)), r"mean_test must have shape \(m,\)"),
        ((_z(5, 2), _z(5, 2), _z(4)), r"mean_test must have shape \(m, 2\)"),
    ],
)
def test_split_conformal_shape_mismatches_name_the_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        split_conformal(*args, 0.2)


def test_normalized_and_cqr_shape_mismatches_name_the_arguments():
    with pytest.raises(ValueError, match=r"scale_cal must have the shape of y_cal"):
        normalized_conformal(_z(5, 2), _z(5, 2), jnp.ones((5, 1)), _z(2, 2), _z(2, 2), 0.2)
    with pytest.raises(ValueError, match=r"scale_test must have the shape of mean_test"):
        normalized_conformal(_z(5), _z(5), jnp.ones(5), _z(2), jnp.ones(3), 0.2)
    with pytest.raises(ValueError, match=r"upper_cal must have the shape of y_cal"):
        conformalized_quantile_regression(_z(5), _z(5), _z(6), _z(2), _z(2), 0.2)
    with pytest.raises(ValueError, match=r"lower_test must have shape \(m,\)"):
        conformalized_quantile_regression(_z(5), _z(5), _z(5), _z(2, 2), _z(2, 2), 0.2)
    with pytest.raises(ValueError, match=r"upper_test must have the shape of lower_test"):
        conformalized_quantile_regression(_z(5), _z(5), _z(5), _z(2), _z(3), 0.2)


def test_matching_shapes_still_work_per_column():
    y = jnp.stack([jnp.arange(9.0), 2 * jnp.arange(9.0)], axis=1)
    lo, hi = split_conformal(y, jnp.zeros_like(y), jnp.zeros((3, 2)), 0.2)
    chex.assert_shape([lo, hi], (3, 2))
    # n = 9, k = ceil(10 * 0.8) = 8: the 8th smallest of |0..8| and of |0, 2, ..., 16|
    np.testing.assert_allclose(hi[0], [7.0, 14.0])


def test_complex_inputs_are_refused():
    with pytest.raises(ValueError, match=r"y_cal.*complex"):
        split_conformal(jnp.zeros(5) + 1j, jnp.zeros(5), jnp.zeros(2), 0.2)
    with pytest.raises(ValueError, match=r"scores.*complex"):
        conformal_quantile(np.arange(5.0) * 1j, 0.2)
