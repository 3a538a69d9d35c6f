"""sobol_indices_from_outputs: exact agreement with SALib on its own design, grad, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.sensitivity import saltelli_design, sobol_indices_from_outputs
from edtjax.simulators.test_functions import ishigami


def test_estimators_agree_with_salib_on_its_design(x64):
    # Same design and outputs: point estimates equal SALib's to rounding; SALib's bootstrap
    # half-width (normal, 1000 resamples) matches the delta-method one within 15% (the
    # relative sd of a 1000-replicate bootstrap sd is ~2.2%, 15% is ~7 sd).
    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[-np.pi, np.pi]] * 3}
    x = salib_sample.sample(problem, 1024, calc_second_order=True, seed=1)
    y = np.asarray(ishigami(jnp.asarray(x)))
    s = salib_analyze.analyze(problem, y, calc_second_order=True, num_resamples=1000, seed=2)
    yn = ((y - y.mean()) / y.std()).reshape(1024, 8)
    r = sobol_indices_from_outputs(
        jax.random.key(0),
        yn[:, 0],
        yn[:, -1],
        yn[:, 1:4].T,
        yn[:, 4:7].T,
        estimator="saltelli2010",
    )
    np.testing.assert_allclose(r.first_order, s["S1"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r.total_order, s["ST"], rtol=1e-10, atol=1e-12)
    upper = np.triu_indices(3, 1)
    np.testing.assert_allclose(r.second_order[upper], s["S2"][upper], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(1.96 * r.first_order_stderr, s["S1_conf"], rtol=0.15)
    np.testing.assert_allclose(1.96 * r.total_order_stderr, s["ST_conf"], rtol=0.15)


def test_salib_layout_with_factor_axis_one_agrees_with_salib(x64):
    # SALib's own Y, reshaped to (n, 2g + 2) as SALib reads it, passed in its layout
    # (factor_axis=1): first, total and second order equal sobol.analyze's to rounding.
    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[-np.pi, np.pi]] * 3}
    x = salib_sample.sample(problem, 1024, calc_second_order=True, seed=3)
    y = np.asarray(ishigami(jnp.asarray(x)))
    s = salib_analyze.analyze(problem, y, calc_second_order=True, num_resamples=10, seed=4)
    yn = (y - y.mean()) / y.std()  # SALib standardises Y before estimating
    y2 = yn.reshape(1024, 8)
    r = sobol_indices_from_outputs(
        None, y2[:, 0], y2[:, -1], y2[:, 1:4], y2[:, 4:7], factor_axis=1, estimator="saltelli2010"
    )
    np.testing.assert_allclose(r.first_order, s["S1"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r.total_order, s["ST"], rtol=1e-10, atol=1e-12)
    upper = np.triu_indices(3, 1)
    np.testing.assert_allclose(r.second_order[upper], s["S2"][upper], rtol=1e-10, atol=1e-12)
    # vector outputs: (n, g, p) in SALib's layout equals (g, n, p) in the design layout
    yv = jnp.stack([jnp.asarray(y2), jnp.asarray(y2) ** 2], axis=-1)  # (n, 8, 2)
    r1 = sobol_indices_from_outputs(None, yv[:, 0], yv[:, -1], yv[:, 1:4], factor_axis=1)
    r0 = sobol_indices_from_outputs(None, yv[:, 0], yv[:, -1], jnp.swapaxes(yv[:, 1:4], 0, 1))
    np.testing.assert_allclose(r1.first_order, r0.first_order, rtol=1e-12)
    np.testing.assert_allclose(r1.total_order, r0.total_order, rtol=1e-12)


def test_wrong_layout_raises_with_a_hint():
    y = jnp.arange(8.0)
    y_ab = jnp.stack([y, y**2, y**3])  # (g, n) = (3, 8)
    with pytest.raises(ValueError, match=r"y_ab must have shape \(8, g.*fits factor_axis=0"):
        sobol_indices_from_outputs(None, y, y, y_ab, factor_axis=1)
    with pytest.raises(ValueError, match=r"y_ab must have shape \(g, 8.*SALib"):
        sobol_indices_from_outputs(None, y, y, y_ab.T)
    with pytest.raises(ValueError, match="y_ba"):
        sobol_indices_from_outputs(None, y, y, y_ab.T, y_ab, factor_axis=1)
    with pytest.raises(ValueError, match="factor_axis"):
        sobol_indices_from_outputs(None, y, y, y_ab, factor_axis=2)
    with pytest.raises(ValueError, match="factor_axis"):
        sobol_indices_from_outputs(None, y, y, y_ab, factor_axis=True)
    # n = g: both layouts fit the shape, the keyword decides (no guessing)
    sq = jnp.stack([y, y**2, y**3, jnp.sin(y), jnp.cos(y), y + 1, y - 2, 2 * y])  # (8, 8)
    a = sobol_indices_from_outputs(None, y, jnp.cos(y), sq)
    b = sobol_indices_from_outputs(None, y, jnp.cos(y), sq.T, factor_axis=1)
    np.testing.assert_allclose(a.first_order, b.first_order, rtol=1e-6)


@pytest.mark.slow
def test_grad_wrt_outputs_matches_finite_differences(x64):
    d = saltelli_design(jax.random.key(0), 256, 2, sampler="mc")

    def s1(c):
        f = lambda x: x[..., 0] + c * jnp.sin(3 * x[..., 1])  # noqa: E731
        return sobol_indices_from_outputs(None, f(d.a), f(d.b), f(d.ab)).first_order[0]

    h = 1e-6
    value = jax.jit(s1)
    fd = (value(0.5 + h) - value(0.5 - h)) / (2 * h)
    assert float(jax.jit(jax.grad(s1))(0.5)) == pytest.approx(float(fd), rel=1e-5)


def test_bad_input():
    y = jnp.arange(8.0)
    with pytest.raises(ValueError, match="y_b"):
        sobol_indices_from_outputs(None, y, y[:4], jnp.stack([y]))
    with pytest.raises(ValueError, match="y_ab"):
        sobol_indices_from_outputs(None, y, y, y)
    with pytest.raises(ValueError, match="y_a"):
        sobol_indices_from_outputs(None, y[:1], y[:1], y[None, :1])
    with pytest.raises(ValueError, match="num_bootstrap"):
        sobol_indices_from_outputs(None, y, y, y[None], num_bootstrap=1)
    with pytest.raises(ValueError, match="confidence"):
        sobol_indices_from_outputs(None, y, y, y[None], confidence=1.5)
    with pytest.raises(ValueError, match="finite"):
        sobol_indices_from_outputs(None, y.at[2].set(jnp.nan), y, y[None])


def test_nested_views_group_each_kind_of_index():
    y = jax.random.normal(jax.random.key(0), (3, 256))
    y_ab = jnp.stack([y[2], 0.5 * y[0] + y[2]])
    est = sobol_indices_from_outputs(jax.random.key(1), y[0], y[1], y_ab, num_bootstrap=20)
    for kind, prefix in ((est.first, "first_order"), (est.total, "total_order")):
        assert kind.value is getattr(est, prefix)
        assert kind.stderr is getattr(est, f"{prefix}_stderr")
        assert kind.interval is getattr(est, f"{prefix}_interval")
        assert kind.bootstrap is getattr(est, f"{prefix}_bootstrap")
    assert est.second is None
    with_second = sobol_indices_from_outputs(jax.random.key(1), y[0], y[1], y_ab, y_ab[::-1])
    np.testing.assert_array_equal(with_second.second.value, with_second.second_order)
    assert with_second.second.bootstrap is None


@pytest.mark.parametrize("estimator", ["janon2014", "saltelli2010"])
def test_standard_errors_equal_the_autodiff_delta_method(estimator, x64):
    # The hand-written influence values (ratio rule on the numerators and denominators) against
    # the delta method by automatic differentiation of the indices in the means, row by row:
    # the same linear algebra, so equal to float64 rounding (all indices, second order and
    # aggregated ones included). The variance gets no standard error (none is reported).
    from edtjax.sensitivity.estimators import (
        _delta_stderr,
        _indices_from_means,
        _row_statistics,
    )

    k = jax.random.split(jax.random.key(0), 4)
    n, g, p = 96, 3, 2
    y_a = jax.random.normal(k[0], (n, p))
    y_b = jax.random.normal(k[1], (n, p)) + 0.3 * y_a
    y_ab = jax.random.normal(k[2], (n, g, p)) + 0.5 * y_a[:, None]
    y_ba = jax.random.normal(k[3], (n, g, p)) + 0.5 * y_b[:, None]
    weights = jnp.asarray([1.0, 0.25])
    z = jax.jit(_row_statistics, static_argnums=4)(y_a, y_b, y_ab, y_ba, estimator)
    values, stderr = jax.jit(_delta_stderr, static_argnums=1)(z, estimator, weights)

    @jax.jit
    def autodiff(z):
        means = jax.tree.map(lambda v: v.mean(0), z)
        ref, linear = jax.linearize(lambda m: _indices_from_means(m, estimator, weights), means)
        influence = jax.vmap(linear)(jax.tree.map(lambda v, m: v - m, z, means))
        return ref, jax.tree.map(lambda v: jnp.std(v, axis=0, ddof=1) / np.sqrt(n), influence)

    ref, ref_se = autodiff(z)
    assert sorted(values) == sorted(ref) and sorted(stderr) == sorted(set(ref_se) - {"variance"})
    for name in ref:
        np.testing.assert_allclose(values[name], ref[name], rtol=1e-12, atol=1e-14)
    for name in stderr:
        np.testing.assert_allclose(stderr[name], ref_se[name], rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("n", [1024, 65536, 1000])
def test_bootstrap_rows_are_uniform_and_independent(n):
    # Bootstrap rows: packed bit fields of threefry words for n = 2^b, jax.random.randint
    # otherwise. Over 64 replicates, the chi-square statistic of the row counts (n - 1
    # degrees of freedom) is within 5 sd of its mean, and neighbouring draws (which share a
    # 32-bit word for n = 1024) are uncorrelated within 5 sd (false-failure rate < 1e-6 each).
    from edtjax.sensitivity.estimators import _resampled_rows

    keys = jax.random.split(jax.random.key(7), 64)
    rows = np.asarray(jax.vmap(lambda k: _resampled_rows(k, n))(keys))
    assert rows.shape == (64, n) and rows.min() >= 0 and rows.max() < n
    counts = np.bincount(rows.ravel(), minlength=n)
    expected = rows.size / n
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert abs(chi2 - (n - 1)) < 5 * np.sqrt(2 * (n - 1)), chi2
    pairs = rows[:, : n - n % 2].reshape(-1, 2).astype(float)
    corr = np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]
    assert abs(corr) < 5 / np.sqrt(len(pairs)), corr


@pytest.mark.parametrize("num", [2, 7, 100, 1000])
def test_bootstrap_percentiles_equal_jnp_quantile(num):
    # The percentile bounds come from order statistics taken out from either end (or from
    # jnp.quantile when that would take many passes): equal to jnp.quantile's linear
    # interpolation bit for bit, with ties, and NaN wherever a replicate is NaN.
    from edtjax.sensitivity.estimators import _percentiles

    r = jax.random.normal(jax.random.key(num), (3, 4, num))
    r = r.at[0, 0, 1].set(jnp.nan).at[1, 1].set(0.5).at[2, 2, : num // 2].set(-1.0)
    for confidence in (0.01, 0.5, 0.9, 0.95, 0.999):
        low, high = jax.jit(_percentiles, static_argnums=1)(r, confidence)
        alpha = 0.5 * (1.0 - confidence)
        levels = jnp.asarray([alpha, 1.0 - alpha])
        ref = jax.jit(lambda r, q: jnp.quantile(r, q, axis=-1))(r, levels)
        np.testing.assert_array_equal(low, ref[0])
        np.testing.assert_array_equal(high, ref[1])
