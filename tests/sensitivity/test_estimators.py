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
